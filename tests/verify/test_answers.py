"""Answer extraction, canonical keys and math-verify equivalence (backend/verify/answers.py)."""

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from backend.problems import assets_dir
from backend.verify import answers
from backend.verify.answers import (
    answers_equal,
    extract_answer,
    gold_answer,
    group_answers,
    normalize_answer,
)

pytest.importorskip("math_verify")


def test_importing_loads_no_sympy():
    """math-verify (and sympy under it) costs about a second; it loads on first comparison."""
    code = "import sys, backend.problems, backend.verify.answers; print('sympy' in sys.modules)"
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert out.stdout.strip() == "False"


# -- extract_answer -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # \boxed, last one wins, nested and escaped braces
        (r"so $\boxed{\frac{1}{2}}$", r"\frac{1}{2}"),
        (r"first \boxed{3}, then \boxed{\frac{\sqrt{3}}{2}}.", r"\frac{\sqrt{3}}{2}"),
        (r"\boxed{\left( 3, \frac{\pi}{2} \right)}", r"\left( 3, \frac{\pi}{2} \right)"),
        (r"the set is \boxed{\{1, 2\}}", r"\{1, 2\}"),
        (r"\boxed{\text{(C)}} is correct", r"\text{(C)}"),
        (r"an empty \boxed{} then \boxed{7} is fine", "7"),
        (r"\boxed{5} then a truncated \boxed{\frac{1", "5"),
        (r"hence \boxed 5.", "5"),
        # a box beats a later "answer is"
        (r"\boxed{4}. The answer is 5", "4"),
        # rStar-Math answer blocks
        (r"<answer>Maria gets \boxed{28} dollars.<end_of_answer>", "28"),
        ("<output>28<end_of_output>\n<answer>28<end_of_answer>", "28"),
        ("<answer>$\\frac{1}{2}$</answer>", r"\frac{1}{2}"),
        ("<answer>She gets 30 dollars.<end_of_answer>", "30"),
        ("<answer>The answer is 3, so 4 is wrong.<end_of_answer>", "3"),
        # answer markers
        ("The answer is 18.", "18"),
        ("The answer is $18.00.", "$18.00"),
        (r"The final answer is $\frac{1}{2}$. I hope it is correct.", r"\frac{1}{2}"),
        ("Final Answer: **42**", "42"),
        ("Answer: 0.5", "0.5"),
        ("the answer is: -7\nmore text", "-7"),
        ("work...\n#### 1,000", "1,000"),
        ("The answer is 3 apples. Then we stop.", "3 apples"),
        ("The answer is $5$, since x > 4.", "5"),
        (r"The answer is $\mathbf{v} + 1$ here", r"\mathbf{v} + 1"),
        ("The answer is 18, because she sells 9.", "18"),
        ("The answer is 1, 2, and 3.", "1, 2, and 3"),
        (r"The answer is \(x+1\) here", "x+1"),
        # stdout and prose fallbacks
        ("18\n", "18"),
        ("step 1\nstep 2\n  2.5  \n\n", "2.5"),
        ("x = 5\n", "x = 5"),
        ("sqrt(13)*3\n", "sqrt(13)*3"),
        ("Total: 18\n", "18"),
        ("She makes 1,000 dollars in 3 days, so -4 per day.", "-4"),
        ("The costs were 5 and 7.", "7"),
        # nothing
        ("", None),
        ("   \n ", None),
        ("no numbers at all here", None),
    ],
)
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


# -- normalize_answer -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("18", "18"),
        ("$18.00", "18"),
        (r"\$18", "18"),
        ("18 dollars", "18"),
        ("18 cm", "18"),
        (r"18 \text{ cm}", "18"),
        ("18.", "18"),
        ("+18", "18"),
        ("-0", "0"),
        ("1,000", "1000"),
        (r"10,\!080", "10080"),
        (r"\$32,\!348", "32348"),
        ("1,000.50", "1000.5"),
        ("0.50", "0.5"),
        (".5", "0.5"),
        ("-3", "-3"),
        (r"\frac{1}{2}", "1/2"),
        (r"\dfrac12", "1/2"),
        (r"-\frac{2}{4}", "-2/4"),
        ("1/2", "1/2"),
        (r"50\%", "50%"),
        ("50 percent", "50%"),
        (r"90^\circ", "90"),
        (r"\text{Evelyn}", "Evelyn"),
        (r"\boxed{x + 1}", "x+1"),
        (r"$\left( 3, \frac{\pi}{2} \right)$", r"(3,\frac{\pi}{2})"),
        (r"\cot x", r"\cot x"),
        (r"x \rightarrow y", r"x\rightarrow y"),
        (r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}", r"\begin{pmatrix}1\\2\end{pmatrix}"),
    ],
)
def test_normalize_answer(raw, key):
    assert normalize_answer(raw) == key


# -- answers_equal --------------------------------------------------------------------------

EQUAL = [
    # fractions and decimals
    (r"\frac{1}{2}", "0.5"),
    ("1/2", "0.5"),
    (r"\dfrac{3}{2}", "1.5"),
    (r"\frac{2}{4}", r"\frac12"),
    ("0.333333", r"\frac13"),
    (r"1\frac{4}{5}", "1.8"),
    # LaTeX
    (r"3\sqrt{13}", r"\sqrt{117}"),
    (r"\frac{\sqrt{3}}{3}", r"\frac{1}{\sqrt3}"),
    (r"-\frac{\pi}{6}", r"-\pi/6"),
    ("2^{10}", "1024"),
    ("x^2+2x+1", "(x+1)^2"),
    ("6+9i", "9i+6"),
    (r"\left( 3, \frac{\pi}{2} \right)", r"(3, \frac{\pi}{2})"),
    (r"\begin{pmatrix} -1/3 \\ 2/3 \end{pmatrix}", r"\begin{pmatrix} -\frac13 \\ \frac23 \end{pmatrix}"),
    # units and currency
    ("18 dollars", "$18"),
    ("$18.00", "18"),
    ("18 cm", "18"),
    (r"18 \text{ cm}", "18"),
    (r"90^\circ", "90"),
    ("18.", "18"),
    # percentages: 50% equals 50 (GSM8K) and 0.5
    ("50%", "50"),
    (r"50\%", "0.5"),
    ("50 percent", "50"),
    (r"10\%", "0.1"),
    # thousands separators
    ("1,000", "1000"),
    ("1,000,000", "1000000"),
    (r"\$1,000.50", "1000.5"),
    (r"10,\!080", "10080"),
    # negative numbers
    ("-5", "- 5"),
    ("-0.5", r"-\frac{1}{2}"),
    # sets, tuples, intervals, equations
    (r"\{1,2\}", r"\{2,1\}"),
    ("1,-2", "-2,1"),
    ("(-2,1)", "(-2, 1)"),
    (r"(0,9) \cup (9,36)", r"(9,36)\cup(0,9)"),
    ("x=5", "5"),
    ("y=2x+3", "2x+3"),
    # printed Python / sympy values (program stdout)
    ("sqrt(13)*3", r"3\sqrt{13}"),
    ("pi/2", r"\frac{\pi}{2}"),
    ("2**10", "1024"),
    ("(3, pi/2)", r"\left( 3, \frac{\pi}{2} \right)"),
    ("3 + 2*I", "3+2i"),
    ("oo", r"\infty"),
    ("4.666666666666667", r"\frac{14}{3}"),
    # words
    ("Evelyn", r"\text{Evelyn}"),
    (r"\text{(C)}", "C"),
]

NOT_EQUAL = [
    ("18", "19"),
    ("1/2", "2"),
    (r"\frac{1}{2}", "2"),
    ("x+1", "x-1"),
    ("-3", "3"),
    ("50", "0.5"),  # only a percentage bridges the two
    ("0.33", r"\frac13"),
    ("p - q", "q - p"),
    ("[1,2)", "[1,2]"),
    ("(1,2)", "(2,1)"),
    ("8n^2 + 4n + 1", "8n^2 + 4n + 2"),
    (r"\text{(E)}", "D"),
    ("Evelyn", "Evelny"),  # words are not products of symbols (anagrams would be equal)
    ("1,000", "1001"),
    ("2**10", "1023"),
    ("x**2 - 1", "x^2 + 1"),
    ("3 - 2*I", "3+2i"),
    ("18", ""),
    ("", ""),
]


@pytest.mark.parametrize(("a", "b"), EQUAL)
def test_equivalent_answers_are_equal_both_ways(a, b):
    assert answers_equal(a, b)
    assert answers_equal(b, a)


@pytest.mark.parametrize(("a", "b"), NOT_EQUAL)
def test_wrong_answers_stay_wrong(a, b):
    assert not answers_equal(a, b)
    assert not answers_equal(b, a)


def test_extracted_answers_compare_to_gold():
    assert answers_equal(extract_answer("She makes 9 * 2 = $18 every day.\n#### 18"), "18")
    assert answers_equal(extract_answer(r"so $x = \boxed{\dfrac{1}{2}}$"), "0.5")
    assert not answers_equal(extract_answer(r"so $x = \boxed{\dfrac{1}{3}}$"), "0.5")


def test_answers_equal_is_safe_off_the_main_thread():
    """math-verify's own timeout uses signal.alarm, which raises ValueError off the main
    thread; ours must not (the search calls this from worker threads)."""
    answers._equal_cached.cache_clear()
    results: dict[str, object] = {}

    def worker() -> None:
        try:
            results["eq"] = answers_equal(r"\frac{3}{4}", "0.75")
            results["ne"] = answers_equal("x^2 - 1", "(x-1)(x+2)")
            results["groups"] = group_answers(["0.25", r"\frac14", "4"])
        except Exception as err:  # surfaced by the assertion below
            results["error"] = err

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(60)
    assert not thread.is_alive()
    assert "error" not in results, results.get("error")
    assert results["eq"] is True and results["ne"] is False
    assert results["groups"] == [("0.25", [0, 1]), ("4", [2])]


def test_many_threads_agree_with_a_serial_run():
    pairs = [(f"\\frac{{{n}}}{{{n + 1}}}", f"{n}/{n + 1}") for n in range(1, 13)]
    pairs += [(f"\\frac{{{n}}}{{{n + 1}}}", f"{n + 1}/{n}") for n in range(1, 13)]
    answers._equal_cached.cache_clear()
    out: list[bool | None] = [None] * len(pairs)

    def check(i: int) -> None:
        out[i] = answers_equal(*pairs[i])

    threads = [threading.Thread(target=check, args=(i,)) for i in range(len(pairs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert out == [True] * 12 + [False] * 12


def test_a_comparison_past_the_timeout_counts_as_unequal(monkeypatch):
    def slow(a: str, b: str) -> bool:
        time.sleep(2)
        return True

    monkeypatch.setattr(answers, "_verify_both_ways", slow)
    answers._equal_cached.cache_clear()
    start = time.perf_counter()
    assert answers_equal("7", "8", timeout_s=0.2) is False
    assert time.perf_counter() - start < 1.5
    answers._equal_cached.cache_clear()


def test_results_are_cached():
    answers._equal_cached.cache_clear()
    answers_equal(r"\frac{5}{7}", "10/14")
    answers_equal("10/14", r"\frac{5}{7}")  # same unordered pair
    info = answers._equal_cached.cache_info()
    assert (info.misses, info.hits) == (1, 1)


# -- group_answers --------------------------------------------------------------------------


def test_group_answers_majority_first_then_first_occurrence():
    votes = ["18", "$18.00", "19", "18 dollars", r"\frac12", "0.5", "19.0", "7"]
    assert group_answers(votes) == [("18", [0, 1, 3]), ("19", [2, 6]), ("1/2", [4, 5]), ("7", [7])]


def test_group_answers_is_deterministic_and_covers_every_index():
    votes = ["1,000", "1000", "x+1", "1+x", "2", "", ""]
    first = group_answers(votes)
    assert first == group_answers(list(votes))
    assert sorted(i for _, idx in first for i in idx) == list(range(len(votes)))
    assert first[0] == ("1000", [0, 1])
    assert ("x+1", [2, 3]) in first and ("", [5, 6]) in first


def test_group_answers_percentage_joins_the_first_matching_group():
    # 50% equals both 50 and 0.5; it joins whichever of those groups came first.
    assert group_answers(["50", "50%", "0.5"]) == [("50", [0, 1]), ("0.5", [2])]
    assert group_answers([]) == []


# -- gold_answer ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record_answer", "dataset", "gold"),
    [
        ("Janet sells 9 eggs.\nShe makes $18.\n#### 18", "gsm8k", "18"),
        ("so 1,600 in all.\n#### 1,600", "gsm8k", "1600"),
        ("#### -3", "gsm8k", "-3"),
        (r"\left( 3, \frac{\pi}{2} \right)", "math500", r"\left( 3, \frac{\pi}{2} \right)"),
        (" 5 ", "math500", "5"),
        ("work\n#### 7", "mine", "7"),
    ],
)
def test_gold_answer(record_answer, dataset, gold):
    assert gold_answer(record_answer, dataset) == gold


# -- real MATH-500 answers ------------------------------------------------------------------


def _math500() -> list[dict]:
    path = assets_dir() / "problems" / "math500_test.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_math500_gold_answers_parse_and_equal_themselves():
    """A sample of 100 real golds through math-verify itself (no canonical-key shortcut)."""
    sample = _math500()[::5]
    failures = [r["answer"] for r in sample if not answers._verify_both_ways(r["answer"], r["answer"])]
    assert failures == []


def test_math500_gold_equals_its_boxed_form_and_the_solution_box():
    for record in _math500()[::5]:
        gold = record["answer"]
        assert answers_equal(gold, f"\\boxed{{{gold}}}"), gold
        assert extract_answer(f"Therefore the answer is $\\boxed{{{gold}}}$.") == gold
        assert answers_equal(extract_answer(record["solution"]), gold), record["unique_id"]


def test_math500_different_golds_are_not_equal():
    records = _math500()
    # consecutive records whose golds plainly differ (values, expressions, intervals)
    pairs = [(records[i]["answer"], records[i + 7]["answer"]) for i in range(0, 490, 10)]
    pairs = [(a, b) for a, b in pairs if normalize_answer(a) != normalize_answer(b)]
    assert len(pairs) >= 40
    assert [(a, b) for a, b in pairs if answers_equal(a, b)] == []
