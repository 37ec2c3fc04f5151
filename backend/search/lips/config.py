"""The knobs of a LIPS run, with their bounds and help (the registry builds the CLI's and the
web app's options from them) and the named presets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backend.search.config import check_config, knob

#: the LLM entries of RewritingLib.json (``rewriting.load_rewriting_lib``): 17 tactics, of which
#: cancel_power, tangent_line, equal_value and pqr_method are symbolic-only
REWRITE_ENTRIES = 13

#: named settings (``--preset``): ``symbolic`` asks no LLM, ``quick`` is a short budget, ``paper``
#: keeps the defaults
PRESETS: dict[str, dict[str, Any]] = {
    "symbolic": {"llm_rewrite": False, "llm_rank": False},
    "quick": {"max_iterations": 30, "time_limit_s": 60.0, "max_candidates": 24},
    "paper": {},
}


@dataclass(frozen=True)
class LipsConfig:
    max_iterations: int = knob(200, "goals popped from the queue (official: 200)", min=1, max=10000)
    max_depth: int = knob(12, "most tactics on one path", min=1, max=100)
    time_limit_s: float = knob(300.0, "wall-clock limit of the run (0 = none)", min=0.0, max=86400.0)
    max_candidates: int = knob(
        48, "scaling candidates checked per expansion (best symbolic first)", min=1, max=2000
    )
    top_k: int = knob(10, "goals sent to the LLM ranker (ties kept)", min=1, max=100)
    llm_rewrite: bool = knob(True, "ask the LLM for rewrites (needs an engine)")
    llm_rank: bool = knob(True, "ask the LLM to rank the top-k goals (needs an engine)")
    rewrite_prompts: int = knob(
        REWRITE_ENTRIES, "LLM rewrite prompts per expansion (RewritingLib entries in order)", min=1,
        max=REWRITE_ENTRIES,
    )
    rewrite_streak: int = knob(5, "skip LLM rewriting after this many LLM rewrites in a row", min=1, max=100)
    temperature: float = knob(0.1, "LLM sampling temperature (official 0.1)", min=0.0, max=2.0)
    top_p: float = knob(0.95, "LLM nucleus sampling mass (official 0.95)", min=0.01, max=1.0)
    max_tokens: int = knob(512, "most tokens of one LLM answer", min=16, max=8192)
    z3_timeout_s: float = knob(3.0, "z3 budget per check of the proof path's re-check", min=0.1, max=120.0)
    pop_z3_s: float = knob(
        1.0, "z3 budget when closing a popped goal below the root (the root gets the closer's 5 s)",
        min=0.05, max=120.0,
    )
    filter_z3_s: float = knob(
        0.5, "z3 budget of each candidate check in the search (refute the new goal; prove the step sound)",
        min=0.05, max=120.0,
    )
    homogenise: bool = knob(
        True, "first step: make a non-homogeneous goal homogeneous with an equality constraint (z3-checked)"
    )
    symbolic_tactics: bool = knob(True, "tangent line, equal value and pqr on every expansion")
    sos_timeout_s: float = knob(10.0, "SOS closer budget per goal (needs cvxpy; 0 = off)", min=0.0, max=600.0)
    min_proof_depth: int = knob(
        0, "do not close goals shallower than this (demo: forces tactics)", min=0, max=100
    )

    def __post_init__(self) -> None:
        check_config(self)
