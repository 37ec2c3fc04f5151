"""The LIPS scaling-lemma library (ScalingLib.json, 164 lemmas) as sympy patterns.

Each entry is `{input, output, type, var, condition}`. Semantics, read from the official
`NeSyCore/scaler.py` (`Scaler.scale`) and the Lean statements in `Neq/math/Math/Scale_*.lean`:

* type "left":  input <= output. It rewrites the goal's LEFT side: a goal `k*in + l <= R` becomes
  `k*out + l <= R`, which is stronger because the left side grew (Lean: `AM_GM_square_left_2vars
  ... (h4 : k * (u^2 + v^2)/2 + l <= right) : k * (u*v) + l <= right`).
* type "right": input >= output. It rewrites the RIGHT side: `L <= k*in + l` becomes
  `L <= k*out + l`, stronger because the right side shrank.

`k` (a factor, needs k >= 0) and `l` (the rest of the side) make the pattern cover the WHOLE
side, exactly like the official e-graph matcher, which matches at the root of the side only.
`condition` is the equality case (e.g. "u = v"); the official code uses it only when
`--scale_equality` is on (off by default), and Canopy records but does not enforce it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import sympy as sp

from backend.paths import assets_dir
from backend.search.lips.expr import ExprParseError, parse_expression

log = logging.getLogger(__name__)

# Variables that may absorb "nothing": additive ones may be 0, multiplicative ones may be 1.
# This mirrors the e-graph rules `?a <=> (+ ?a 0)` and `?a <=> (* ?a 1)` of the official matcher
# and its filter, which lets only k, l and the j's be zero.
ADDITIVE_ABSORBERS = frozenset({"l", "j", "j1", "j2", "j3"})
MULTIPLICATIVE_ABSORBERS = frozenset({"k", "i", "i1", "i2", "i3"})
# Exponent variables bind numbers only (the official check removes goals with variable powers).
EXPONENT_VARS = frozenset({"p", "q", "r", "s", "r1", "r2", "r3"})
PATTERN_PREFIX = "W_"

DEFAULT_LIBRARY = assets_dir() / "problems" / "neqlips" / "ScalingLib.json"


@dataclass(frozen=True)
class Lemma:
    """One scaling lemma with its input/output as sympy expressions over pattern symbols W_<var>."""

    name: str
    input: sp.Expr
    output: sp.Expr
    direction: Literal["left", "right"]
    variables: tuple[str, ...]
    condition: tuple[str, ...]
    input_text: str
    output_text: str

    @property
    def family(self) -> str:
        """'AM_GM', 'Cauchy_Schwarz', ... : the name up to the first lower-case word."""
        head = []
        for part in self.name.split("_"):
            if part and part[0].islower() and head:
                break
            head.append(part)
        return "_".join(head) or self.name

    def wild(self, var: str) -> sp.Symbol:
        return pattern_symbol(var)

    @property
    def wilds(self) -> tuple[sp.Symbol, ...]:
        return tuple(pattern_symbol(v) for v in self.variables)


def pattern_symbol(var: str) -> sp.Symbol:
    """The sympy symbol standing for lemma variable `var` (prefixed so it never clashes with `a`)."""
    return sp.Symbol(PATTERN_PREFIX + var, real=True)


def var_name(sym: sp.Symbol) -> str:
    return sym.name[len(PATTERN_PREFIX):]


def parse_lemma(name: str, entry: dict) -> Lemma:
    """Parse one library entry; raises ExprParseError naming the lemma and the field."""
    variables = tuple(entry["var"]) + _unlisted_names(entry)
    symbols = {v: pattern_symbol(v) for v in variables}
    direction = entry["type"]
    if direction not in ("left", "right"):
        raise ExprParseError(f"lemma {name}: type must be left or right, got {direction!r}")
    inp = parse_expression(entry["input"], symbols, where=f"lemma {name} input")
    out = parse_expression(entry["output"], symbols, where=f"lemma {name} output")
    return Lemma(name, inp, out, direction, variables, tuple(entry.get("condition", ())),
                 entry["input"], entry["output"])


def _unlisted_names(entry: dict) -> tuple[str, ...]:
    """Names used in input/output but missing from `var` (9 library entries forget `q`, `i`, `j`).

    In the official matcher an unlisted name is a literal symbol, so those lemmas can never fire;
    Canopy treats them as the lemma variables the Lean statements show they are.
    """
    import re

    listed = set(entry["var"])
    text = entry["input"] + " " + entry["output"]
    names = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text)
    found = dict.fromkeys(n for n in names if n not in listed | {"sqrt"})
    if found:
        log.debug("lemma variables inferred: %s", list(found))
    return tuple(found)


@lru_cache(maxsize=4)
def load_lemmas(path: str | None = None) -> tuple[Lemma, ...]:
    """All lemmas of a ScalingLib.json (the template entry is skipped; bad entries are logged)."""
    raw = json.loads(Path(path or DEFAULT_LIBRARY).read_text(encoding="utf-8"))
    out = []
    for name, entry in raw.items():
        if name == "LEMMA_NAME_VERSION_DIRECTION_VARS":
            continue
        try:
            out.append(parse_lemma(name, entry))
        except ExprParseError as exc:
            log.warning("skipping lemma %s: %s", name, exc)
    return tuple(out)


def lemma_by_name(name: str, path: str | None = None) -> Lemma:
    for lem in load_lemmas(path):
        if lem.name == name:
            return lem
    raise KeyError(f"unknown lemma {name!r}")
