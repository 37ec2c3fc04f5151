"""Batch compare (backend/compare.py, `canopy compare`) and its HTML report, on the scripted engine."""

from __future__ import annotations

import json
import re

import pytest

from backend import events as ev
from backend.compare import (
    Method,
    MethodResult,
    budget_overrides,
    compare,
    method_spec,
    pairwise,
    parse_budget,
    parse_methods,
)
from backend.engines.scripted import ScriptedEngine
from backend.problems import Problem
from backend.runspec import RunSpec
from backend.solve import EvalReport

PROGRAM = (
    "<code>\n# Step 1: compute\nx = {expr}\n<end_of_step>"
    + "\n\n# Now print the final answer\nprint(x)\n<end_of_code>"
)
FINAL = "\n\n# Now print the final answer\nprint(x)\n<end_of_code>"
HOSTILE_Q = "Add 2 and 3. </script><script>window.pwned=1</script>"
RULES = [(f"x = {e}\n<end_of_step>", [FINAL]) for e in ("2 + 3", "4 + 6")] + [
    ("Question: Add 2 and 3", [PROGRAM.format(expr="2 + 3")]),  # right: 5
    ("Question: Multiply 4 by 6", [PROGRAM.format(expr="4 + 6")]),  # wrong: 10, not 24
]
PROBLEMS = [
    Problem("t/0", "t", HOSTILE_Q, "5"),
    Problem("t/1", "t", "Multiply 4 by 6.", "24"),
]


def _rules_file(folder):
    """RULES as the scripted engine's rules file (what `--model` takes on the command line)."""
    rules = folder / "rules.json"
    rules.write_text(json.dumps({"rules": [{"match": m, "texts": t} for m, t in RULES]}))
    return rules


def base(**kw) -> RunSpec:
    return RunSpec(problem="", engine="scripted", model="rules", ppm="none", seed=7, **kw)


def test_methods_and_budgets_parse_and_refuse_clearly():
    assert parse_methods("greedy, sc:samples=3,rstar:children=2") == [
        Method("greedy", "greedy"),
        Method("sc:samples=3", "sc", {"samples": "3"}),
        Method("rstar:children=2", "rstar", {"children": "2"}),
    ]
    for bad, needle in (("gredy", "unknown algorithm"), ("sc,sc", "twice"), ("sc:samples", "KEY=VALUE")):
        with pytest.raises(ValueError, match=needle):
            parse_methods(bad)
    assert parse_budget("tokens=1500") == ("tokens", 1500) and parse_budget(None) is None
    for bad in ("tokens", "time=3", "tokens=x", "tokens=0"):
        with pytest.raises(ValueError, match="budget"):
            parse_budget(bad)


def test_one_token_budget_is_put_on_each_algorithm_as_it_can_take_it():
    rstar, rule = budget_overrides(base(algorithm="rstar"), ("tokens", 1500))
    assert rstar == {"token_budget": 1500, "rollouts": 10_000} and "1500 tokens" in rule
    sc, rule = budget_overrides(base(algorithm="sc"), ("tokens", 1500))
    assert sc == {"samples": 3} and "≤ 1500" in rule  # 400 tokens each at most
    greedy, _ = budget_overrides(base(algorithm="greedy"), ("tokens", 300))
    assert greedy == {"max_tokens": 300}
    assert budget_overrides(base(algorithm="cpl"), ("iterations", 5))[0] == {"rollouts": 5}
    # the budget is fitted to the method's own settings, which win where both name a field
    spec, _ = method_spec(base(), Method("sc:max_tokens=100", "sc", {"max_tokens": "100"}), ("tokens", 1500))
    assert dict(spec.config) == {"samples": 15, "max_tokens": "100"}
    spec, _ = method_spec(base(), Method("rstar:rollouts=4", "rstar", {"rollouts": "4"}), ("tokens", 900))
    assert dict(spec.config) == {"token_budget": 900, "rollouts": "4"}
    # ppm=... is the run's PPM, not a config field
    spec, _ = method_spec(
        base().fork(ppm="default"), Method("rstar:ppm=none", "rstar", {"ppm": "none"}), None
    )
    assert spec.ppm == "none" and dict(spec.config) == {}


def test_every_method_runs_the_same_problems_seeds_and_engine_graded_after_the_search():
    seen: dict[str, list[tuple[str, int, str, str | None]]] = {}

    def hook(method, i, prob, res):
        started = res.events[0]
        assert isinstance(started, ev.RunStarted)
        seen.setdefault(method.label, []).append(
            (started.problem, started.spec["seed"], started.reward, started.spec["reference"])
        )

    methods = parse_methods("greedy,sc:max_tokens=40,rstar:children=2")
    rep = compare(
        PROBLEMS,
        methods,
        base(),
        engine=ScriptedEngine(RULES),
        budget=("tokens", 120),
        dataset="t",
        on_result=hook,
    )
    runs = list(seen.values())
    assert len(runs) == 3 and all(r == [(p, s, "vote", None) for p, s, _, _ in runs[0]] for r in runs)
    assert [s for _, s, _, _ in runs[0]] == [7, 8]  # seed + i, the same for every method
    data = rep.to_dict()
    assert data["budget"] == {"tokens": 120} and data["seed"] == 7 and data["engine"] == "scripted"
    assert [m["label"] for m in data["methods"]] == ["greedy", "sc:max_tokens=40", "rstar:children=2"]
    assert [m["correct"] for m in data["methods"]] == [1, 1, 1]
    for p, want in zip(data["problems"], (True, False), strict=True):
        assert [r["correct"] for r in p["results"].values()] == [want] * 3
        assert all(r["tokens"] > 0 for r in p["results"].values())
    assert data["methods"][1]["config"]["samples"] == 3  # 120 // 40
    assert all(p["a_won"] == p["b_won"] == 0 and p["both"] == 1 for p in data["pairwise"])


def test_a_truth_reward_is_refused():
    with pytest.raises(ValueError, match="truth"):
        compare(PROBLEMS, parse_methods("greedy"), base(reward="truth"), engine=ScriptedEngine(RULES))


def _result(label: str, right: list[bool]) -> MethodResult:
    rows = [
        {"id": f"t/{k}", "correct": c, "answer": "x", "tokens": 10, "wall_s": 0.1}
        for k, c in enumerate(right)
    ]
    return MethodResult(Method(label, "sc"), "", EvalReport("sc", "t", "vote", {}, rows, 1.0))


def test_pairwise_counts_problems_won_lost_and_tied():
    a = _result("a", [True, True, False, False, True])
    b = _result("b", [True, False, True, False, False])
    c = _result("c", [False, False, False, False, False])
    pairs = {(p["a"], p["b"]): p for p in pairwise([a, b, c])}
    assert pairs[("a", "b")] == {"a": "a", "b": "b", "a_won": 2, "b_won": 1, "both": 1, "neither": 1}
    assert pairs[("a", "c")]["a_won"] == 3 and pairs[("b", "c")]["a_won"] == 2
    assert pairs[("a", "c")]["b_won"] == 0


def test_canopy_compare_writes_json_and_a_self_contained_html_report(tmp_path, capsys, monkeypatch):
    from backend.cli import main

    rules = _rules_file(tmp_path)
    probs = tmp_path / "two.jsonl"
    probs.write_text(
        "".join(json.dumps({"question": p.question, "answer": p.answer}) + "\n" for p in PROBLEMS)
    )
    monkeypatch.chdir(tmp_path)
    args = [
        "compare",
        "--dataset",
        str(probs),
        "--algos",
        "greedy,sc:max_tokens=40",
        "--budget",
        "tokens=120",
    ]
    assert main([*args, "--engine", "scripted", "--model", str(rules), "--ppm", "none"]) == 0
    out = capsys.readouterr().out
    assert "greedy vs sc:max_tokens=40: greedy won 0, sc:max_tokens=40 won 0, both right 1" in " ".join(
        out.split()
    )
    data = json.loads((tmp_path / "compare-two.json").read_text())
    assert data["format"] == "canopy-compare" and len(data["problems"]) == 2
    page = (tmp_path / "compare-two.html").read_text()
    assert HOSTILE_Q not in page and "&lt;/script&gt;&lt;script&gt;window.pwned=1" in page
    chart = json.loads(re.search(r'id="report-chart">(.*?)</script>', page, re.S).group(1))
    names = [t["name"] for t in chart["data"]]
    assert names == [
        f"{m} · {k}" for m in ("greedy", "sc:max_tokens=40") for k in ("per problem", "accuracy")
    ]
    assert chart["data"][1]["y"] == [0.5] and chart["data"][1]["x"] == [data["methods"][0]["mean_tokens"]]
    assert "default-src 'none'" in page
    assert main([*args, "--engine", "scripted", "--model", str(rules), "--reward", "truth"]) == 2
    assert "truth" in capsys.readouterr().err


def test_canopy_eval_reports_gain_the_html_chart(tmp_path, capsys):
    from backend.cli import main

    rules = _rules_file(tmp_path)
    probs = tmp_path / "two.jsonl"
    probs.write_text(
        "".join(json.dumps({"question": p.question, "answer": p.answer}) + "\n" for p in PROBLEMS)
    )
    report = tmp_path / "eval.json"
    args = [
        "eval",
        "--dataset",
        str(probs),
        "--algo",
        "greedy",
        "--engine",
        "scripted",
        "--model",
        str(rules),
    ]
    assert main([*args, "--report", str(report)]) == 0
    assert "eval.html" in capsys.readouterr().out
    page = (tmp_path / "eval.html").read_text()
    chart = json.loads(re.search(r'id="report-chart">(.*?)</script>', page, re.S).group(1))
    assert [t["name"] for t in chart["data"]] == ["greedy · per problem", "greedy · accuracy"]
    assert chart["data"][1]["y"] == [0.5] and HOSTILE_Q not in page
    assert json.loads(report.read_text())["correct"] == 1  # the JSON report is still the JSON report


def test_a_method_whose_search_raises_on_a_problem_keeps_the_others_and_loses_that_one():
    class Refuses(ScriptedEngine):
        def generate(self, prompts, **kw):
            if any("Multiply" in p for p in prompts) and kw.get("temperature", 1) == 0:
                raise ValueError("prompt has 6847 tokens; n_ctx is 4096")
            return super().generate(prompts, **kw)

    heard = []
    rep = compare(
        PROBLEMS,
        parse_methods("greedy,sc"),
        base(),
        engine=Refuses(RULES),
        on_error=lambda m, i, p, why: heard.append((m.label, p.id)),
    )
    greedy, sc = rep.methods
    assert [r["status"] for r in greedy.report.results][1] == "error" and heard == [("greedy", "t/1")]
    assert all(r["status"] != "error" for r in sc.report.results)
    assert greedy.report.correct == 1  # the first problem still counted


def test_canopy_compare_prints_file_text_literally(tmp_path, capsys, monkeypatch):
    """A problem id or reference holding rich markup ("[/x]") crashed the comparison's progress
    line (MarkupError); it is printed as it is."""
    from backend.cli import main

    rules = _rules_file(tmp_path)
    probs = tmp_path / "one.jsonl"
    probs.write_text(json.dumps({"id": "[/boom]", "question": "Add 2 and 3.", "answer": "[a,b]"}) + "\n")
    monkeypatch.chdir(tmp_path)
    args = [
        "compare",
        "--dataset",
        str(probs),
        "--algos",
        "greedy",
        "--engine",
        "scripted",
        "--model",
        str(rules),
    ]
    assert main(args) == 0
    assert "[/boom]: answer 5 · reference [a,b]" in " ".join(capsys.readouterr().out.split())
