"""A found proof exported as a NeqLIPS tactic script under its Lean statement (``export.py``)."""

from __future__ import annotations

from backend.engines.scripted import ScriptedEngine
from backend.paths import assets_dir
from backend.search.lips.export import tactic_names, tactic_script
from backend.search.lips.lean import parse_lean_file
from backend.search.lips.replay import replay_script
from backend.search.lips.search import LipsConfig, LipsSearch

AMGM = "a,b > 0; prove a^2+b^2 >= 2*a*b"


def _run(problem: str, engine=None, **cfg) -> LipsSearch:
    cfg = {"time_limit_s": 60.0, "sos_timeout_s": 0.0, **cfg}
    s = LipsSearch(problem, engine=engine, config=LipsConfig(**cfg))
    s.run()
    assert s.state.finished.status == "proved"
    return s


def test_a_found_proof_of_mo_int_p16_exports_the_reference_scripts_tactics():
    # NeqLIPS's reference proof of INT_MO P16 is `sym_tangent_line ...` then `try close`;
    # Canopy's search finds a proof through the same tactic (forced past the root closers)
    lean = assets_dir() / "problems" / "neqlips" / "INT_MO.lean"
    thm = next(t for t in parse_lean_file(lean) if t.name == "P16")
    p = thm.problem
    s = _run(p.to_text(), min_proof_depth=1, max_candidates=1, homogenise=False, llm_rewrite=False,
             llm_rank=False)
    script = tactic_script(p, s.nodes, s.path(s.proved), s.proved_by)
    head, _, body = script.partition(" := by\n")
    assert head == thm.statement  # the benchmark's own Lean statement
    assert tactic_names(body) == tactic_names(thm.proof) == ["sym_tangent_line", "try close"]
    assert body.splitlines()[0].startswith("  sym_tangent_line ") and " ≤ (7/18) - (" in body


def test_scale_and_rewrite_lines_replay_as_neqlips_scripts():
    # a scaling step: the exported line is read back by the reference-script replayer, which
    # re-instantiates the lemma from its arguments and finds it with the matcher
    s = _run(AMGM, min_proof_depth=1, max_candidates=8, llm_rewrite=False, llm_rank=False)
    script = s.tactic_script()
    lines = [ln.strip() for ln in script.splitlines()[1:]]
    assert script.startswith("theorem canopy_proof {a b : ℝ} (h0 : a > 0) (h1 : b > 0) : ")
    assert tactic_names(lines) == ["scale AM_GM_square_left_2vars", "try close"]
    assert lines[0] == ("scale AM_GM_square_left_2vars (u := a) (v := b) (k := 2) (l := 0) "
                        "(right := a^2 + b^2)")
    r = replay_script(s.problem, tuple(lines))
    assert not r.errors and all(st.replays for st in r.steps)
    # an LLM rewrite: its RewritingLib entry's official tactic (factor -> llm_factor), `A = B`;
    # the scripted ranker picks it (2nd by score, after the AM-GM scaling) so it is the proof
    eng = ScriptedEngine([("factor the expression", ["The answer is \\boxed{-(a-b)^2}"]),
                          ("Rank the given", ["\\boxed{(2)}"])], default="no idea")
    t = _run(AMGM, engine=eng, min_proof_depth=1, max_candidates=1, symbolic_tactics=False)
    first, close = (ln.strip() for ln in t.tactic_script().splitlines()[1:])
    assert first == "llm_factor (2*a*b) - (a^2 + b^2) = -(a - b)^2" and close == "try close"
    r = replay_script(t.problem, (first, close))
    assert not r.errors and r.final_goal is not None


def test_the_homogenisation_step_exports_as_make_homogeneous():
    s = _run("a,b,c > 0; a+b+c = 3; prove a^2+b^2+c^2 >= 3", min_proof_depth=1, llm_rewrite=False,
             llm_rank=False)
    lines = [ln.strip() for ln in s.tactic_script().splitlines()[1:]]
    assert tactic_names(lines)[0] == "make_homogeneous" and lines[0].endswith(" ≤ 0")
    r = replay_script(s.problem, tuple(lines))  # the replayer reads the official form back
    assert not r.errors
