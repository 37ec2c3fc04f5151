"""solve()/evaluate() and the `canopy solve` / `canopy eval` commands, on the scripted engine."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from backend import events as ev
from backend.cli import app
from backend.cli.search import register
from backend.engines.scripted import ScriptedEngine
from backend.solve import solve

register(app)
runner = CliRunner()

PROGRAM = (
    "<code>\n# Step 1: compute\nx = {expr}\n<end_of_step>\n\n"
    "# Now print the final answer\nprint(x)\n<end_of_code>"
)
FINAL = "\n\n# Now print the final answer\nprint(x)\n<end_of_code>"
RULES = {
    "rules": [
        # rstar stops at <end_of_step>: after the first step, the prompt holds it
        {"match": f"x = {expr}\n<end_of_step>", "texts": [FINAL]}
        for expr in ("2 + 3", "4 * 6", "15 - 4")
    ]
    + [
        {"match": "Question: Add 2 and 3", "texts": [PROGRAM.format(expr="2 + 3")]},
        {"match": "Question: Multiply 4 by 6", "texts": [PROGRAM.format(expr="4 * 6")]},
        {"match": "Question: Subtract 5 from 15", "texts": [PROGRAM.format(expr="15 - 4")]},
    ]
}
PROBLEMS = [
    {"question": "Add 2 and 3.", "answer": "5"},
    {"question": "Multiply 4 by 6.", "answer": "#### 24"},
    {"problem": "Subtract 5 from 15.", "answer": "10"},
]


@pytest.fixture
def files(tmp_path):
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(RULES))
    probs = tmp_path / "three.jsonl"
    probs.write_text("\n".join(json.dumps(p) for p in PROBLEMS) + "\n")
    return rules, probs


def _scripted_greedy(rules) -> list[str]:
    """The options of a greedy run on the scripted engine that replays ``rules``."""
    return ["--algo", "greedy", "--engine", "scripted", "--model", str(rules)]


def _greedy_eval(rules, dataset, *extra):
    """`canopy eval` of ``dataset`` with greedy decoding on the scripted engine."""
    return runner.invoke(app, ["eval", "--dataset", str(dataset), *_scripted_greedy(rules), *extra])


@pytest.mark.parametrize("algo", ["rstar", "greedy", "sc"])
def test_eval_on_three_problems_gives_exact_accuracy(files, tmp_path, algo):
    rules, probs = files
    report = tmp_path / "report.json"
    args = [
        "eval",
        "--dataset",
        str(probs),
        "--algo",
        algo,
        "--engine",
        "scripted",
        "--model",
        str(rules),
        "--report",
        str(report),
    ]
    if algo == "rstar":
        args += ["--rollouts", "2", "--children", "2"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "accuracy 66.7% (2/3)" in res.output
    data = json.loads(report.read_text())
    assert data["accuracy"] == pytest.approx(2 / 3, abs=1e-4) and data["correct"] == 2 and data["total"] == 3
    assert [p["correct"] for p in data["problems"]] == [True, True, False]
    assert [p["answer"] for p in data["problems"]] == ["5", "24", "11"]
    assert data["problems"][2]["reference"] == "10" and data["algorithm"] == algo
    # every tree of these scripted runs states one answer: the right one is in it twice of three
    assert [p["in_tree"] for p in data["problems"]] == [True, True, False] and data["in_tree"] == 2
    assert "a right answer somewhere in the tree 2/3" in " ".join(res.output.split())
    assert data["reward"] == "vote"


def test_eval_start_skips_the_first_problems(files, tmp_path):
    rules, probs = files
    report = tmp_path / "report.json"
    res = _greedy_eval(rules, probs, "--start", "1", "--report", str(report))
    assert res.exit_code == 0, res.output
    data = json.loads(report.read_text())
    assert [p["answer"] for p in data["problems"]] == ["24", "11"] and data["total"] == 2
    assert "accuracy 50.0% (1/2)" in res.output


def test_eval_start_keeps_each_problems_seed(files, tmp_path, monkeypatch):
    """Slices of a set run each problem with the seed the whole-set run gives it (seed + file index)."""
    import backend.solve as solve_mod

    rules, probs = files
    seen: list[tuple[str, int]] = []
    real = solve_mod.solve_spec

    def spy(spec, **kw):
        seen.append((spec.problem, spec.seed))
        return real(spec, **kw)

    monkeypatch.setattr(solve_mod, "solve_spec", spy)
    assert _greedy_eval(rules, probs, "--seed", "7").exit_code == 0
    whole, seen[:] = list(seen), []
    assert _greedy_eval(rules, probs, "--seed", "7", "--start", "2").exit_code == 0
    assert seen == whole[2:] and [s for _, s in whole] == [7, 8, 9]


def test_solve_prints_answer_grading_path_and_writes_events(files, tmp_path):
    rules, _ = files
    out = tmp_path / "run.jsonl"
    res = runner.invoke(
        app,
        [
            "solve",
            "Add 2 and 3.",
            "--answer",
            "5",
            "--engine",
            "scripted",
            "--model",
            str(rules),
            "--rollouts",
            "1",
            "--children",
            "2",
            "--events",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "answer: 5" in res.output and "correct" in res.output
    assert "x = 2 + 3" in res.output and "tokens" in res.output
    header, events = ev.read_jsonl(out)
    assert header["format"] == "canopy-events" and isinstance(events[-1], ev.RunFinished)
    assert events[-1].correct is True and events[-1].reference == "5"


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--algo", "rstr"], "did you mean 'rstar'"),
        (["--reward", "ppm"], "needs a process preference model"),
        (["--reward", "ppm", "--ppm", "none"], "needs a process preference model"),
        (["--ppm", "/no/such/ppm"], "is not a Canopy PPM directory"),
        (["--algo", "cpl", "--ppm", "/no/such/ppm"], "is not a Canopy PPM directory"),
        (["--reward", "truth"], "needs the known answer"),
        (["--set", "rollouts"], "--set takes KEY=VALUE"),
        (["--set", "rolouts=3"], "did you mean 'rollouts'"),
        (["--rollouts", "0"], "rollouts must be at least 1"),
        (["--algo", "greedy", "--rollouts", "3"], "--rollouts does not apply to greedy"),
        (["--preset", "gpu"], "unknown preset 'gpu'"),
        (["--engine", "nope"], "unknown engine 'nope'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(files, extra, needle):
    rules, _ = files
    res = runner.invoke(app, ["solve", "Add 2 and 3.", "--engine", "scripted", "--model", str(rules), *extra])
    assert res.exit_code == 2, res.output
    assert needle in res.output and "Traceback" not in res.output


def test_eval_bad_dataset(files):
    res = runner.invoke(app, ["eval", "--dataset", "gsm8", "--engine", "scripted", "--model", str(files[0])])
    assert res.exit_code == 2 and "did you mean 'gsm8k'" in res.output


def test_known_answer_only_grades_unless_truth_is_asked(files):
    rules, _ = files
    eng = ScriptedEngine.from_file(str(rules))
    gold = "9973"  # a reference no event, prompt or config could contain by chance
    res = solve("Subtract 5 from 15.", engine=eng, reference=gold, config={"rollouts": 1, "children": 2})
    started = res.events[0]
    assert started.reward == "vote" and res.answer == "11" and res.correct is False
    for e in res.events[:-1]:  # the reference appears only in run_finished
        assert gold not in e.to_json()
    assert res.events[-1].reference == gold
    assert all(gold not in call["prompts"][0] for call in eng.calls)
    truth = solve(
        "Subtract 5 from 15.",
        engine=eng,
        reference="10",
        reward="truth",
        config={"rollouts": 1, "children": 2},
    )
    assert truth.events[0].reward == "truth"
    scored = [e for e in truth.events if isinstance(e, ev.NodeScored)]
    assert scored and all(e.score == -1.0 and e.source == "truth" for e in scored)


class _Breaks(ScriptedEngine):
    """The scripted rules, but a prompt naming one of ``broken`` raises as a real engine does
    for a prompt it cannot take (llama.cpp: "prompt has N tokens; n_ctx is 4096")."""

    def __init__(self, *broken: str):
        super().__init__([(r["match"], r["texts"]) for r in RULES["rules"]])
        self.broken = broken

    def generate(self, prompts, **kw):
        if any(b in p for p in prompts for b in self.broken):
            raise ValueError("prompt has 6847 tokens; n_ctx is 4096: load with a larger n_ctx")
        return super().generate(prompts, **kw)


def _problems():
    from backend.problems import Problem

    return [
        Problem(
            id=f"t/{i}",
            dataset="t",
            question=p.get("question") or p["problem"],
            answer=p["answer"].replace("#### ", ""),
        )
        for i, p in enumerate(PROBLEMS)
    ]


def test_a_problem_whose_search_raises_is_an_error_line_and_the_eval_goes_on():
    """MO-INT P19's grown goal once ended a 12-minute eval with nothing written."""
    from backend.runspec import RunSpec
    from backend.solve import evaluate_spec

    heard = []
    rep = evaluate_spec(
        _problems(),
        RunSpec(problem="", algorithm="greedy"),
        engine=_Breaks("Multiply"),
        on_error=lambda i, prob, why: heard.append((i, prob.id, why)),
    )
    assert [r["status"] for r in rep.results] == ["solved", "error", "solved"]
    assert rep.results[1]["answer"] is None and rep.results[1]["correct"] is False
    assert "n_ctx is 4096" in rep.results[1]["error"] and heard == [(1, "t/1", rep.results[1]["error"])]
    assert rep.correct == 1 and rep.summary()["errors"] == 1 and rep.stopped is None


def test_an_engine_failing_on_every_problem_stops_the_eval_after_three():
    from backend.runspec import RunSpec
    from backend.solve import MAX_ERRORS_IN_A_ROW, evaluate_spec

    many = _problems() * 3
    rep = evaluate_spec(many, RunSpec(problem="", algorithm="greedy"), engine=_Breaks("Question"))
    assert len(rep.results) == MAX_ERRORS_IN_A_ROW == 3 and rep.stopped
    assert "3 problems in a row" in rep.stopped and "n_ctx" in rep.stopped


def test_eval_cli_writes_the_report_with_the_error_line(files, tmp_path, monkeypatch):
    import backend.cli.search as cli_search

    rules, probs = files
    monkeypatch.setattr(cli_search, "_engine", lambda spec, threads: _Breaks("Subtract"))
    report = tmp_path / "report.json"
    res = _greedy_eval(rules, probs, "--report", str(report))
    assert res.exit_code == 0, res.output
    flat = " ".join(res.output.split())
    assert "error ValueError: prompt has 6847 tokens" in flat and "1 ended in error" in flat
    data = json.loads(report.read_text())
    assert [p["status"] for p in data["problems"]][2] == "error" and data["errors"] == 1


def test_eval_cli_stopped_by_errors_still_writes_its_report_and_exits_2(files, tmp_path, monkeypatch):
    import backend.cli.search as cli_search

    rules, probs = files
    monkeypatch.setattr(cli_search, "_engine", lambda spec, threads: _Breaks("Question"))
    report = tmp_path / "report.json"
    res = _greedy_eval(rules, probs, "--report", str(report))
    assert res.exit_code == 2
    assert "stopped after 3 problems in a row ended in error" in " ".join(res.output.split())
    assert json.loads(report.read_text())["stopped"].startswith("stopped after 3")


def test_eval_prints_file_text_literally_not_as_terminal_markup(files, tmp_path):
    """Problem ids, references and the dataset's path are file text: rich markup in them once
    vanished ("[a,b]") or crashed the eval ("[/x]": MarkupError) instead of being printed."""
    rules, _ = files
    probs = tmp_path / "odd[b].jsonl"
    probs.write_text(json.dumps({"id": "[/boom]", "question": "Add 2 and 3.", "answer": "[a,b]"}) + "\n")
    res = _greedy_eval(rules, probs)
    assert res.exit_code == 0, res.output
    flat = " ".join(res.output.split())
    assert "[/boom]: answer 5 · reference [a,b]" in flat


def test_solve_prints_a_known_answer_with_markup_literally(files):
    rules, _ = files
    res = runner.invoke(app, ["solve", "Add 2 and 3.", *_scripted_greedy(rules), "--answer", "[/boom]"])
    assert res.exit_code == 0, res.output
    assert "wrong (reference [/boom])" in " ".join(res.output.split())


def test_eval_start_past_the_end_says_so(files):
    rules, probs = files
    res = _greedy_eval(rules, probs, "--start", "3")
    assert res.exit_code == 2
    assert "no problems in" in res.output and "after skipping the first 3 (--start)" in res.output
