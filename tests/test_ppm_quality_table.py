"""bench/ppm_quality.py's table over a subset of its methods (a greedy + self-consistency run
alone gets its table; won / lost are against greedy on the problems both did)."""

from __future__ import annotations

from bench.ppm_quality import table


def row(method: str, i: int, correct: bool, tokens: int) -> dict:
    return {"method": method, "id": f"gsm8k/{i}", "correct": correct, "tokens": tokens, "wall_s": 1.0}


def test_a_greedy_and_sc_run_gets_its_table_with_won_and_lost():
    rows = [row("greedy", 100, True, 150), row("sc", 100, False, 1500),
            row("greedy", 101, False, 150), row("sc", 101, True, 1500),
            row("greedy", 102, False, 150), row("sc", 102, True, 1500),
            row("greedy", 103, True, 150)]  # sc has not done 103 yet: left out
    text = table(rows, ("greedy", "sc"))
    assert text.startswith("3 problems done by every method (gsm8k/100 .. gsm8k/102)")
    assert "| sc | 2/3 (66.7%) | 1500 | 1.0, 1.0 |  | 2 / 1 |" in text
    assert "| greedy | 1/3 (33.3%) | 150 |" in text
    assert "rstar-ppm vs rstar-vote" not in text


def test_the_greedy_candidate_search_is_compared_with_the_plain_search():
    outcomes = {100: (True, False, True), 101: (False, True, True), 102: (False, False, False)}
    methods = ("greedy", "rstar-vote", "rstar-greedy")
    rows = [row(m, i, ok, t) for i, oks in outcomes.items()
            for m, ok, t in zip(methods, oks, (150, 1500, 1900), strict=True)]
    text = table(rows, ("greedy", "rstar-vote", "rstar-greedy"))
    assert "| rstar-greedy | 2/3 (66.7%) | 1900 |" in text
    assert "rstar-greedy vs rstar-vote: won 1, lost 0 (two-sided sign test p = 1.00)" in text
    assert "rstar-ppm vs" not in text


def test_the_greedy_candidate_method_runs_the_greedy_baselines_whole_program():
    from backend.search.baselines import GreedyConfig
    from backend.search.registry import make_config
    from bench.ppm_quality import spec_of

    class P:
        question, answer = "1 + 1?", "2"

    spec = spec_of("rstar-greedy", P, 3, 8, "llamacpp")
    cfg = make_config("rstar", **spec.config)
    assert cfg.greedy_program_tokens == GreedyConfig().max_tokens and spec.ppm == "none"
    assert make_config("rstar").greedy_program_tokens == 0  # off in the plain search


def test_the_guidance_only_method_keeps_the_ppm_and_answers_by_vote():
    from backend.search.registry import make_config
    from bench.ppm_quality import spec_of

    class P:
        question, answer = "1 + 1?", "2"

    spec = spec_of("rstar-ppm-vote", P, 3, 8, "llamacpp", ppm="runs/my-ppm")
    assert spec.ppm == "runs/my-ppm"
    assert make_config("rstar", **spec.config).answer_choice == "vote"
    # rstar-ppm is the search as shipped: the preset's own answer rule, whatever it is
    shipped = spec_of("rstar-ppm", P, 3, 8, "llamacpp")
    assert "answer_choice" not in shipped.config and shipped.ppm == "default"


def test_a_token_budget_binds_every_rstar_method_and_no_baseline():
    from backend.search.registry import make_config
    from bench.ppm_quality import BUDGET_ROLLOUTS, spec_of

    class P:
        question, answer = "1 + 1?", "2"

    for method in ("rstar-vote", "rstar-ppm", "rstar-ppm-vote", "rstar-greedy"):
        cfg = make_config("rstar", **spec_of(method, P, 3, 8, "llamacpp", token_budget=2000).config)
        assert (cfg.token_budget, cfg.rollouts) == (2000, BUDGET_ROLLOUTS), method
    assert make_config("rstar", **spec_of("rstar-ppm-vote", P, 3, 8, "llamacpp").config).token_budget == 0
    greedy = spec_of("greedy", P, 3, 8, "llamacpp", token_budget=2000)
    assert "token_budget" not in greedy.config
    assert make_config("rstar", **spec_of("rstar-ppm-vote", P, 3, 8, "llamacpp",
                                          token_budget=2000).config).answer_choice == "vote"


def test_the_guidance_only_search_is_compared_with_the_plain_search():
    outcomes = {100: (True, False, True), 101: (False, True, False), 102: (False, False, True)}
    methods = ("greedy", "rstar-vote", "rstar-ppm-vote")
    rows = [row(m, i, ok, t) for i, oks in outcomes.items()
            for m, ok, t in zip(methods, oks, (150, 2000, 2000), strict=True)]
    text = table(rows, methods)
    assert "rstar-ppm-vote vs rstar-vote: won 2, lost 1" in text
    assert "| rstar-ppm-vote | 2/3 (66.7%) | 2000 |" in text


def test_a_matched_budget_is_the_plain_searchs_tokens_on_that_problem():
    import pytest

    from bench.ppm_quality import matched_budget

    rows = [row("rstar-vote", 100, True, 1496), row("rstar-vote", 101, False, 2210),
            row("greedy", 102, True, 99)]
    assert matched_budget(rows, "gsm8k/100") == 1496
    assert matched_budget(rows, "gsm8k/101") == 2210
    with pytest.raises(ValueError, match="rstar-vote has not run gsm8k/102"):
        matched_budget(rows, "gsm8k/102")


def test_a_bad_budget_request_is_a_usage_error_before_any_run(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "bench" / "ppm_quality.py"

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(script), "--out", str(tmp_path / "r.jsonl"), *args],
                              capture_output=True, text=True, timeout=120)

    negative = run("--token-budget", "-5")
    assert negative.returncode == 2 and "--token-budget: a number of tokens, 0 or more" in negative.stderr
    unordered = run("--match-tokens", "--methods", "greedy,rstar-ppm-vote,rstar-vote")
    assert unordered.returncode == 2 and "rstar-vote listed before" in unordered.stderr
    assert not (tmp_path / "r.jsonl").exists()  # nothing ran


def test_each_row_records_which_ppm_the_run_actually_got():
    """``--ppm default`` meant no PPM before one shipped: a row keeps its root's own PPM note."""
    from backend import events as ev
    from backend.runspec import RunSpec, build_search
    from bench.ppm_quality import ppm_used
    from tests.search.test_rstar import PROBLEM, engine

    spec = RunSpec(PROBLEM, engine="scripted", config={"rollouts": 1})
    plain = build_search(spec, engine(), "p1")  # the shipped PPM is for the embedded model only
    plain.run()
    assert ppm_used(plain.log.events).startswith("no PPM: the shipped PPM values the embedded model")
    valued = [ev.Note(seq=0, level="info", message="x"),
              ev.Note(seq=1, level="info", message="steps valued by Canopy's shipped PPM")]
    assert ppm_used(valued) == "steps valued by Canopy's shipped PPM"
    assert ppm_used([ev.Note(seq=0, level="info", message="something else")]) is None


def test_the_sign_test_gives_the_binomial_two_sided_p_value():
    from bench.ppm_quality import sign_test

    assert sign_test(13, 3) == 2 * sum(__import__("math").comb(16, i) for i in range(4)) / 2**16
    assert round(sign_test(13, 3), 3) == 0.021  # BENCHMARKS: sc against greedy, p ≈ 0.02
    assert sign_test(3, 13) == sign_test(13, 3)
    assert sign_test(0, 0) == 1.0 and sign_test(4, 4) == 1.0


def test_rows_of_another_run_join_the_table_and_the_shipped_search_is_set_against_them():
    """The test report joins an earlier sc run: the shipped search's won / lost against it."""
    from bench.ppm_quality import joined

    mine = [row("greedy", i, i == 100, 150) for i in (100, 101, 102)]
    mine += [row("rstar-ppm", 100, True, 2000), row("rstar-ppm", 101, True, 2000),
             row("rstar-ppm", 102, False, 2000)]
    earlier = [row("greedy", 100, False, 999),  # a clash: --out's own greedy row wins
               row("sc", 100, False, 1400), row("sc", 101, False, 1400), row("sc", 102, True, 1400)]
    rows = joined(mine, earlier)
    assert [r["tokens"] for r in rows if r["method"] == "greedy"] == [150, 150, 150]
    text = table(rows, ("greedy", "sc", "rstar-ppm"))
    assert text.startswith("3 problems done by every method")
    assert "| greedy | 1/3 (33.3%) | 150 |" in text
    assert "| sc | 1/3 (33.3%) | 1400 |" in text
    assert "rstar-ppm vs sc: won 2, lost 1 (two-sided sign test p = 1.00)" in text
    assert "rstar-ppm vs greedy: won 1, lost 0" in text
    assert "vs rstar-vote" not in text  # no plain search in this table


def test_also_without_table_only_or_with_a_missing_file_is_a_usage_error(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "bench" / "ppm_quality.py"
    other = tmp_path / "sc.jsonl"
    other.write_text("")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(script), "--out", str(tmp_path / "r.jsonl"), *args],
                              capture_output=True, text=True, timeout=120)

    running = run("--also", str(other))
    assert running.returncode == 2 and "give --table-only" in running.stderr
    missing = run("--table-only", "--also", str(tmp_path / "nope.jsonl"))
    assert missing.returncode == 2 and "no such file" in missing.stderr
    assert not (tmp_path / "r.jsonl").exists()  # nothing ran
