"""backend/train/pair_equivalence.py, whose counts (bench/ppm_pair_equivalence.py) docs/PPM.md
quotes: two steps are equivalent when, after the same prefix, they leave the same new values
(names ignored) and print the same thing; the code runs in the sandbox."""

from __future__ import annotations

from backend.train.pair_equivalence import drop_equivalent, effect
from backend.verify.sandbox import run_code

PREFIX = ("Paddington has 40 more goats than Washington...\n<code>\n# Step 1\nwashington = 140\n"
          "<end_of_step> \n\n# Step 2\npaddington = washington + 40\n<end_of_step>")


def step(code: str, end: str = "<end_of_step>") -> str:
    return f" \n\n# Step 3: the total\n{code}\n{end}"


def test_renamed_and_reordered_steps_are_equivalent_and_other_values_are_not():
    total = effect(PREFIX, step("total_goats = washington + paddington"), run_code)
    assert total == ("", '["320"]')
    assert effect(PREFIX, step("goats = paddington + washington"), run_code) == total
    assert effect(PREFIX, step("goats = paddington * 2"), run_code) != total


def test_final_steps_compare_what_they_print_and_a_failing_step_is_none():
    printed = effect(PREFIX, step("print(washington + paddington)", "<end_of_code>"), run_code)
    assert printed == ("320", "[]")
    assert effect(PREFIX, step("print(paddington)", "<end_of_code>"), run_code) != printed
    assert effect(PREFIX, step("total = undefined_name + 1"), run_code) is None


def test_a_first_step_runs_without_a_prefix_program():
    first = effect("A problem?\n", "<code>\n# Step 1\nsales = 36 * 1/3\n<end_of_step>", run_code)
    assert first == ("", '["12"]')


def test_equivalent_needs_both_sides_to_run_and_agree():
    from backend.train.pair_equivalence import equivalent

    total, reordered = step("a = washington + paddington"), step("b = paddington + washington")
    assert equivalent(PREFIX, total, reordered, run_code)
    assert not equivalent(PREFIX, step("a = washington + paddington"), step("b = paddington"), run_code)
    assert not equivalent(PREFIX, step("a = nope"), step("b = nope"), run_code)  # neither runs


def test_dropping_equivalent_pairs_keeps_the_pairs_whose_steps_differ_or_do_not_run():
    from backend.train.ppm_pairs import PPMPair

    def pair(chosen: str, rejected: str) -> PPMPair:
        return PPMPair(PREFIX, step(chosen), step(rejected), margin=2.0, pos_count=1, neg_count=1,
                       chosen_id=1, rejected_id=2)

    pairs = [("a", pair("total_goats = washington + paddington", "goats = paddington + washington")),
             ("a", pair("total_goats = washington + paddington", "goats = paddington * 2")),
             ("b", pair("total_goats = washington + paddington", "total = undefined_name + 1"))]
    kept, dropped = drop_equivalent(pairs, run_code)
    assert dropped == 1 and [p.rejected for _, p in kept] == [pairs[1][1].rejected, pairs[2][1].rejected]
