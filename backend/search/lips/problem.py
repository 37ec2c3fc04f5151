"""The inequality problem model: variables, constraints and a goal `lhs <= rhs` (LIPS, arXiv 2502.13834).

LIPS states every proof state as one Lean goal `lhs ≤ rhs` under the theorem's hypotheses
(positivity `a > 0`, equalities `a + b + c = 3`, other inequalities). Canopy keeps the same
shape as sympy expressions: a goal `x ≥ y` is stored as `y <= x`, and every constraint as
`expr REL 0` with REL in {>, >=, ==, !=}, so the numeric sampler, z3 and the checkers read one
form. The plain syntax is "a,b,c > 0; a+b+c = 3; prove a^2+b^2+c^2 >= 3".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Literal

import sympy as sp

from backend.search.lips.expr import (
    FUNCTION_NAMES,
    ExprParseError,
    lean_to_plain,
    make_symbols,
    parse_expression,
    parse_latex_expression,
    to_plain,
)
from backend.search.lips.grammar import NAME, RESERVED, latex_to_plain

Relation = Literal[">", ">=", "==", "!="]

_REL_SPLIT = re.compile(r"(<=|>=|==|!=|=|<|>|≤|≥|≠)")
_REL_NORMAL = {"≤": "<=", "≥": ">=", "≠": "!=", "=": "=="}
_GOAL_PREFIX = re.compile(r"^\s*(prove|show|goal\s*:|⊢)\s*", re.IGNORECASE)
_VARS_PREFIX = re.compile(r"^\s*(variables|vars)\s*:?\s*", re.IGNORECASE)
_REAL_DECL = re.compile(r"^\s*([A-Za-z_][\w\s,]*?)\s+(real|reals|in\s+R|∈\s*ℝ)\s*$", re.IGNORECASE)
_FUNCTION_NAMES = FUNCTION_NAMES | {"Real"}
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_VARIABLES = 12
MAX_PROBLEM_CHARS = 10_000  # the whole problem text; each expression has its own limit (grammar.Limits)
MAX_CONSTRAINTS = 64  # after comma lists and chains expand ("a,b,c > 0" is three)


class ProblemParseError(ValueError):
    """The problem text could not be read; the message names the part and the reason."""


@dataclass(frozen=True)
class Constraint:
    """One hypothesis, normalised to `expr REL 0`; `text` keeps the wording it came from."""

    expr: sp.Expr
    rel: Relation
    text: str = ""

    def holds(self, value: float, tol: float = 1e-9) -> bool:
        """Whether a numeric value of `expr` satisfies REL 0 (equalities within `tol`)."""
        checks = {">": value > 0, ">=": value >= -tol, "==": abs(value) <= tol, "!=": abs(value) > tol}
        return checks[self.rel]

    def __str__(self) -> str:
        return self.text or f"{to_plain(self.expr)} {self.rel} 0"


@dataclass(frozen=True)
class Goal:
    """A proof state `lhs <= rhs` (the only goal shape LIPS works with)."""

    lhs: sp.Expr
    rhs: sp.Expr

    @property
    def diff(self) -> sp.Expr:
        """lhs - rhs: the goal holds iff this is <= 0."""
        return self.lhs - self.rhs

    def key(self) -> sp.Expr:
        """Dedupe key: two goals with the same canonical `lhs - rhs` are the same proof state.

        The sympy expression itself (hashable, structural equality); `srepr` strings cost more
        than the matching that produces the goals.
        """
        return self.diff

    @staticmethod
    def from_difference(d: sp.Expr) -> Goal:
        """`d <= 0` in the side form Lean prints after `tsub_le_iff_right`: negated terms go right."""
        left, right = [], []
        for term in sp.Add.make_args(sp.sympify(d, strict=True)):  # strict: never parses a string
            (right if term.could_extract_minus_sign() else left).append(term)
        return Goal(sp.Add(*left), -sp.Add(*right))

    def __str__(self) -> str:
        return f"{to_plain(self.lhs)} <= {to_plain(self.rhs)}"


@dataclass(frozen=True)
class Inequality:
    """A problem: prove `goal` for all real `variables` satisfying `constraints`."""

    variables: tuple[str, ...]
    constraints: tuple[Constraint, ...]
    goal: Goal
    id: str = ""
    source: str = ""
    statement: str = ""
    reference_proof: tuple[str, ...] = ()
    meta: tuple[tuple[str, str], ...] = field(default=())

    @property
    def symbols(self) -> dict[str, sp.Symbol]:
        return make_symbols(self.variables)

    @property
    def symbol_list(self) -> list[sp.Symbol]:
        return [self.symbols[v] for v in self.variables]

    def sign_of(self, name: str) -> Literal["pos", "nonneg", "real"]:
        """Sign known directly from a constraint `x > 0` / `x >= 0` (what positivity checks use)."""
        sym = self.symbols[name]
        rels = {c.rel for c in self.constraints if c.expr == sym}
        return "pos" if ">" in rels else "nonneg" if ">=" in rels else "real"

    @property
    def equalities(self) -> tuple[Constraint, ...]:
        return tuple(c for c in self.constraints if c.rel == "==")

    def parse(self, text: str, where: str = "expression") -> sp.Expr:
        """Parse an expression (e.g. an LLM rewrite) over this problem's variables only."""
        return parse_expression(text, self.symbols, where=where)

    def with_goal(self, goal: Goal) -> Inequality:
        return replace(self, goal=goal)

    def with_constraint(self, c: Constraint) -> Inequality:
        return replace(self, constraints=(*self.constraints, c))

    def to_text(self) -> str:
        """Plain syntax that `parse_problem` reads back."""
        parts = [str(c) for c in self.constraints]
        parts.append(f"prove {to_plain(self.goal.lhs)} <= {to_plain(self.goal.rhs)}")
        return "; ".join(parts)


def _split_top_commas(text: str) -> list[str]:
    """Split on commas outside parentheses ("a,b,c > 0" lists; "Max(a,b)" does not split)."""
    parts, depth, cur = [], 0, []
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts]


def _relation_chain(text: str, where: str) -> tuple[list[str], list[str]]:
    """'0 < a <= b' -> (['0', 'a', 'b'], ['<', '<=']), with unicode and '=' normalised."""
    pieces = _REL_SPLIT.split(text)
    operands = [p.strip() for p in pieces[0::2]]
    rels = [_REL_NORMAL.get(r, r) for r in pieces[1::2]]
    if not rels:
        raise ProblemParseError(f"{where}: no relation (<, <=, =, >=, >, !=) in {text!r}")
    if any(not o for o in operands):
        raise ProblemParseError(f"{where}: a relation is missing an operand in {text!r}")
    return operands, rels


def _normalise(lhs: sp.Expr, rel: str, rhs: sp.Expr, text: str) -> Constraint:
    flips = {"<": ">", "<=": ">="}
    if rel in flips:
        return Constraint(sp.expand(rhs - lhs) if _is_poly(rhs - lhs) else rhs - lhs, flips[rel], text)
    d = lhs - rhs
    return Constraint(sp.expand(d) if _is_poly(d) else d, rel, text)  # type: ignore[arg-type]


def _is_poly(e: sp.Expr) -> bool:
    return bool(e.is_polynomial())


def parse_constraint(text: str, symbols: dict[str, sp.Symbol], where: str = "constraint") -> list[Constraint]:
    """One constraint part; chains and comma lists expand ("a,b,c > 0" -> three constraints)."""
    operands, rels = _relation_chain(text, where)
    out: list[Constraint] = []
    for i, rel in enumerate(rels):
        lefts, rights = _split_top_commas(operands[i]), _split_top_commas(operands[i + 1])
        if len(out) + len(lefts) * len(rights) > MAX_CONSTRAINTS:
            raise ProblemParseError(f"{where}: more than {MAX_CONSTRAINTS} constraints in {text[:200]!r}")
        for ls in lefts:
            for rs in rights:
                try:
                    le = parse_expression(ls, symbols, where=where)
                    re_ = parse_expression(rs, symbols, where=where)
                except ExprParseError as exc:
                    raise ProblemParseError(str(exc)) from exc
                label = text.strip() if len(lefts) == len(rights) == len(rels) == 1 else f"{ls} {rel} {rs}"
                out.append(_normalise(le, rel, re_, label))
    return out


def parse_goal(text: str, symbols: dict[str, sp.Symbol], where: str = "goal") -> Goal:
    """'x >= y' / 'y <= x' -> Goal(y, x). Strict goals are refused: LIPS proves non-strict ones."""
    operands, rels = _relation_chain(text, where)
    if len(rels) != 1:
        raise ProblemParseError(f"{where}: expected exactly one relation, got {len(rels)} in {text!r}")
    rel = rels[0]
    if rel in ("<", ">"):
        raise ProblemParseError(f"{where}: strict goal {text!r} is not supported (LIPS proves <= / >=)")
    if rel not in ("<=", ">="):
        raise ProblemParseError(f"{where}: the goal must be an inequality <= or >=, got {rel!r}")
    try:
        left = parse_expression(operands[0], symbols, where=where)
        right = parse_expression(operands[1], symbols, where=where)
    except ExprParseError as exc:
        raise ProblemParseError(str(exc)) from exc
    return Goal(left, right) if rel == "<=" else Goal(right, left)


def _names_in(text: str) -> list[str]:
    """The variable names a part uses: plain identifiers only.

    A word after a `.` (an attribute), a word with `__` or a leading `_`, and function names are
    not variables; the parser then refuses them with its own message instead of this function
    declaring them.
    """
    t = lean_to_plain(text)
    out = []
    for m in _WORD.finditer(t):
        name = m.group(0)
        if _after_dot(t, m.start()) or name in _FUNCTION_NAMES or not _is_variable_name(name):
            continue
        out.append(name)
    return out


def _after_dot(text: str, i: int) -> bool:
    """Whether the word at `i` follows a `.` (spaces between allowed): `f.x` and `f . x`."""
    j = i - 1
    while j >= 0 and text[j] in " \t":
        j -= 1
    return j >= 0 and text[j] == "."


def _is_variable_name(name: str) -> bool:
    return bool(NAME.fullmatch(name)) and "__" not in name and len(name) <= 32 and name not in RESERVED


def _check_names(names: tuple[str, ...] | list[str], text: str) -> None:
    """Declared names must be plain identifiers, and a problem has at most MAX_VARIABLES of them."""
    bad = [n for n in names if not _is_variable_name(n) or n in _FUNCTION_NAMES]
    if bad:
        raise ProblemParseError(f"problem: {bad[0][:40]!r} is not a variable name (a letter, then letters, "
                                f"digits or single '_')")
    if len(names) > MAX_VARIABLES:
        shown = ", ".join(names[:MAX_VARIABLES + 1])
        raise ProblemParseError(f"problem: {len(names)} variables ({shown}, ...); at most {MAX_VARIABLES} "
                                f"are allowed in {text[:200]!r}")


def parse_problem(text: str, *, id: str = "", source: str = "") -> Inequality:
    """Plain syntax: parts split by ';' or newlines, one part starting with 'prove'/'show'.

    Other parts are constraints ("a,b,c > 0", "0 < x <= 1", "a+b+c = 3") or declarations
    ("variables a b c", "x, y real"); undeclared variables are the names the text uses.
    """
    if len(text) > MAX_PROBLEM_CHARS:
        raise ProblemParseError(f"problem: too long ({len(text)} characters; at most {MAX_PROBLEM_CHARS})")
    parts = [p.strip() for p in re.split(r"[;\n]", text) if p.strip()]
    goal_parts = [p for p in parts if _GOAL_PREFIX.match(p)]
    if len(goal_parts) != 1:
        raise ProblemParseError(
            f"problem: need exactly one part starting with 'prove' (found {len(goal_parts)}) in {text!r}")
    declared: list[str] = []
    cons_parts = []
    for p in parts:
        if _VARS_PREFIX.match(p):
            declared += [n for n in re.split(r"[\s,]+", _VARS_PREFIX.sub("", p)) if n]
        elif _REAL_DECL.match(p):
            declared += [n for n in re.split(r"[\s,]+", _REAL_DECL.match(p).group(1)) if n]  # type: ignore[union-attr]
        elif p not in goal_parts:
            cons_parts.append(p)
    seen = declared + [n for p in parts if not (_VARS_PREFIX.match(p) or _REAL_DECL.match(p))
                       for n in _names_in(_GOAL_PREFIX.sub("", p))]
    names = tuple(sorted(dict.fromkeys(seen)))
    _check_names(names, text)
    symbols = make_symbols(names)
    constraints: list[Constraint] = []
    for i, p in enumerate(cons_parts, start=1):
        constraints += parse_constraint(p, symbols, where=f"constraint {i} ({p[:200]!r})")
        if len(constraints) > MAX_CONSTRAINTS:
            raise ProblemParseError(f"problem: more than {MAX_CONSTRAINTS} constraints")
    goal = parse_goal(_GOAL_PREFIX.sub("", goal_parts[0]), symbols, where=f"goal ({goal_parts[0][:200]!r})")
    return Inequality(names, tuple(constraints), goal, id=id, source=source, statement=text.strip())


def parse_latex_problem(goal_latex: str, constraints: list[str] = (), *, id: str = "") -> Inequality:  # type: ignore[assignment]
    """A LaTeX goal (e.g. `\\frac{a}{b+c} \\ge \\frac12`) plus plain-syntax constraints.

    The LaTeX is translated to plain syntax (`grammar.latex_to_plain`) and read by the same
    parser, under the same limits; each letter is a variable (`ab` is a*b).
    """
    if len(constraints) > MAX_CONSTRAINTS or sum(len(c) for c in constraints) > MAX_PROBLEM_CHARS:
        raise ProblemParseError(f"problem: at most {MAX_CONSTRAINTS} constraints and {MAX_PROBLEM_CHARS} "
                                f"characters of them")
    try:
        plain_goal = latex_to_plain(goal_latex, where="latex goal")
    except ExprParseError as exc:
        raise ProblemParseError(str(exc)) from exc
    names = sorted(set(_names_in(plain_goal)) | {n for c in constraints for n in _names_in(c)})
    _check_names(names, goal_latex)
    symbols = make_symbols(names)
    try:
        rel = parse_latex_expression(goal_latex, symbols)
    except ExprParseError as exc:
        raise ProblemParseError(str(exc)) from exc
    if not isinstance(rel, sp.Rel) or rel.rel_op not in ("<=", ">="):
        raise ProblemParseError(f"latex goal: {goal_latex[:200]!r} is not a <= / >= inequality")
    goal = Goal(rel.lhs, rel.rhs) if rel.rel_op == "<=" else Goal(rel.rhs, rel.lhs)
    cons: list[Constraint] = []
    for i, c in enumerate(constraints, start=1):
        cons += parse_constraint(c, symbols, where=f"constraint {i} ({c[:200]!r})")
        if len(cons) > MAX_CONSTRAINTS:
            raise ProblemParseError(f"problem: more than {MAX_CONSTRAINTS} constraints")
    return Inequality(tuple(names), tuple(cons), goal, id=id, statement=goal_latex)
