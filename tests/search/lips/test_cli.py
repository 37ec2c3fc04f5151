"""`canopy solve --algo lips` prints the proof as justified steps."""

import json

from typer.testing import CliRunner

from backend.cli import app
from backend.cli.search import register

register(app)
runner = CliRunner()


def test_solve_prints_the_proof_chain(tmp_path):
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"rules": []}))  # the symbolic preset never asks the engine
    args = ["solve", "a,b > 0; prove a^2+b^2 >= 2*a*b", "--algo", "lips", "--preset", "symbolic",
            "--engine", "scripted", "--model", str(rules), "--set", "min_proof_depth=1",
            "--set", "max_candidates=8"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    out = res.output
    assert "answer: proved" in out and "proof:" in out
    assert "Theorem (a > 0, b > 0): 2*a*b <= a^2 + b^2" in out
    assert "step 1:" in out and "lemma " in out and "instantiation:" in out
    assert "justified by:" in out and "re-checked:" in out and "closed:" in out
    js = runner.invoke(app, [*args, "--json"])
    assert js.exit_code == 0 and "step 1:" in json.loads(js.output)["proof"]


def test_solve_says_how_it_read_implicit_products(tmp_path):
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"rules": []}))
    args = ["solve", "a, b, c > 0; prove a^2 + b^2 + c^2 >= ab + bc + ca", "--algo", "lips",
            "--preset", "symbolic", "--engine", "scripted", "--model", str(rules)]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "note: read the problem as: ab read as a*b; bc read as b*c; ca read as c*a" in res.output
    assert "answer: proved" in res.output


def test_solve_lean_prints_the_tactic_script_and_json_carries_it(tmp_path):
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"rules": []}))
    args = ["solve", "a,b > 0; prove a^2+b^2 >= 2*a*b", "--algo", "lips", "--preset", "symbolic",
            "--engine", "scripted", "--model", str(rules), "--set", "min_proof_depth=1",
            "--set", "max_candidates=8"]
    res = runner.invoke(app, [*args, "--lean"])
    assert res.exit_code == 0, res.output
    script = res.output.split("tactic script (NeqLIPS form, not checked in Lean here):", 1)[1]
    assert "theorem" in script and ":= by" in script
    js = json.loads(runner.invoke(app, [*args, "--json"]).output)
    lines = js["tactic_script"].splitlines()
    assert lines and lines[0] in script and lines[-1].strip() in script


def test_eval_report_rows_carry_each_proofs_tactic_script(tmp_path):
    """Which tactic chain each proof used, straight from `canopy eval --report` (issue 18)."""
    probs = tmp_path / "two.jsonl"
    probs.write_text(
        json.dumps({"problem": "a,b > 0; prove a^2+b^2 >= 2*a*b", "answer": "proved"}) + "\n"
        + json.dumps({"problem": "a,b > 0; prove a^2+b^2 >= 3*a*b", "answer": "refuted"}) + "\n"
    )
    report = tmp_path / "r.json"
    args = ["eval", "--dataset", str(probs), "--algo", "lips", "--preset", "symbolic", "--set",
            "min_proof_depth=1", "--set", "max_candidates=8", "--report", str(report)]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    proved, refuted = json.loads(report.read_text())["problems"]
    assert proved["answer"] == "proved" and proved["tactic_script"].strip().endswith("try close")
    assert refuted["answer"] == "refuted" and "tactic_script" not in refuted
