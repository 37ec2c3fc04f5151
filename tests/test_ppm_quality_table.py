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
    assert "| sc | 2/3 (66.7%) | 1500 | 1.0 |  | 2 / 1 |" in text
    assert "| greedy | 1/3 (33.3%) | 150 |" in text
    assert "rstar-ppm vs rstar-vote" not in text


def test_the_greedy_candidate_search_is_compared_with_the_plain_search():
    outcomes = {100: (True, False, True), 101: (False, True, True), 102: (False, False, False)}
    methods = ("greedy", "rstar-vote", "rstar-greedy")
    rows = [row(m, i, ok, t) for i, oks in outcomes.items()
            for m, ok, t in zip(methods, oks, (150, 1500, 1900), strict=True)]
    text = table(rows, ("greedy", "rstar-vote", "rstar-greedy"))
    assert "| rstar-greedy | 2/3 (66.7%) | 1900 |" in text
    assert "rstar-greedy vs rstar-vote: won 1, lost 0" in text
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
