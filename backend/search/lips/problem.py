"""The inequality problem model: variables, constraints and a goal `lhs <= rhs` (LIPS, arXiv 2502.13834).

LIPS states every proof state as one Lean goal `lhs ≤ rhs` under the theorem's hypotheses
(positivity `a > 0`, equalities `a + b + c = 3`, other inequalities). Canopy keeps the same
shape as sympy expressions: a goal `x ≥ y` is stored as `y <= x`, and every constraint as
`expr REL 0` with REL in {>, >=, ==, !=}, so the numeric sampler, z3 and the checkers read one
form. The plain syntax is "a,b,c > 0; a+b+c = 3; prove a^2+b^2+c^2 >= 3".
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import sympy as sp

from backend.search.lips.expr import (
    ExprParseError,
    make_symbols,
    parse_expression,
    parse_latex_expression,
    to_plain,
)
from backend.search.lips.grammar import extrema_args
from backend.search.lips.implicit_products import _apply_products, _bare_names, _implicit_products
from backend.search.lips.latex import latex_to_plain
from backend.search.lips.limits import LIMITS
from backend.search.lips.reading import (
    _REL_SPLIT,
    FORMAT_HINT,
    ProblemParseError,
    _check_names,
    _is_variable_name,
    _names_in,
    _Parts,
    _relation_chain,
    _relation_groups,
    _split_parts,
    _split_top_commas,
    _to_plain_text,
    _unwrap_latex,
    quote,
)

Relation = Literal[">", ">=", "==", "!="]

MAX_PROBLEM_CHARS = 10_000  # the whole problem text; each expression has its own limit (limits.Limits)
MAX_CONSTRAINTS = 64  # after comma lists and chains expand ("a,b,c > 0" is three)


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
    readings: tuple[str, ...] = ()  # how the text was read where it was ambiguous: "ab read as a*b"

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


#: names a reader may take for a constant: each is a variable here, and when no constraint or
#: declaration makes it one plainly, the reading says so (`pi >= 3` came back "refuted" with
#: nothing to explain it)
CONSTANT_LOOKALIKES = {
    "pi": "pi read as a variable, not the constant π (Canopy's provers use no π)",
    "e": "e read as a variable, not Euler's number (write exp(1) for that)",
    "E": "E read as a variable, not Euler's number (write exp(1) for that)",
}


def _normalise(lhs: sp.Expr, rel: str, rhs: sp.Expr, text: str) -> Constraint:
    flips = {"<": ">", "<=": ">="}
    if rel in flips:
        return Constraint(sp.expand(rhs - lhs) if _is_poly(rhs - lhs) else rhs - lhs, flips[rel], text)
    d = lhs - rhs
    return Constraint(sp.expand(d) if _is_poly(d) else d, rel, text)  # type: ignore[arg-type]


def _is_poly(e: sp.Expr) -> bool:
    return bool(e.is_polynomial())


def parse_constraint(text: str, symbols: dict[str, sp.Symbol], where: str = "constraint") -> list[Constraint]:
    """One constraint part; chains and comma lists expand ("a,b,c > 0" -> three constraints,
    "0 < a, b < 1" -> four). Where a list between two relations holds anything but names, the
    commas separate constraints instead ("x > 0, y > 0", "a, b >= 0, a + b = 2"): read as a
    chain, those would say 0 > 0 or 0 = 2, contradictions from which anything follows."""
    operands, rels = _relation_chain(text, where)
    if _middle_is_no_name_list(operands):
        return [c for group in _relation_groups(text) for c in parse_constraint(group, symbols, where=where)]
    out: list[Constraint] = []
    for i, rel in enumerate(rels):
        lefts, rights = _split_top_commas(operands[i]), _split_top_commas(operands[i + 1])
        if len(out) + len(lefts) * len(rights) > MAX_CONSTRAINTS:
            raise ProblemParseError(f"{where}: more than {MAX_CONSTRAINTS} constraints in {quote(text)}")
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


def _middle_is_no_name_list(operands: list[str]) -> bool:
    """Whether an operand between two relations is a comma list of anything but plain names
    ("x > 0, y > 0" has "0, y" there; "0 < a, b < 1" has the names "a, b")."""
    for middle in operands[1:-1]:
        items = _split_top_commas(middle)
        if len(items) > 1 and not all(_is_variable_name(i) for i in items):
            return True
    return False


def parse_goal(text: str, symbols: dict[str, sp.Symbol], where: str = "goal") -> Goal:
    """'x >= y' / 'y <= x' -> Goal(y, x). Strict goals are refused: LIPS proves non-strict ones."""
    operands, rels = _relation_chain(text, where)
    if len(rels) != 1:
        raise ProblemParseError(f"{where}: expected exactly one relation, got {len(rels)} in {quote(text)}")
    rel = rels[0]
    if rel in ("<", ">"):
        raise ProblemParseError(f"{where}: strict goal {quote(text)} is not supported (LIPS proves <= / >=)")
    if rel not in ("<=", ">="):
        raise ProblemParseError(f"{where}: the goal must be an inequality <= or >=, got {rel!r}")
    try:
        left = parse_expression(operands[0], symbols, where=where)
        right = parse_expression(operands[1], symbols, where=where)
    except ExprParseError as exc:
        raise ProblemParseError(str(exc)) from exc
    return Goal(left, right) if rel == "<=" else Goal(right, left)


def parse_problem(text: str, *, id: str = "", source: str = "") -> Inequality:
    """Constraints and one goal, in plain syntax, LaTeX or a few English phrasings (docs/LIPS.md).

    Parts are split by ';', newlines, sentence ends and before 'prove'/'show (that)'; clauses after
    'for (all)', 'where', 'if', 'with', 'such that', 'let', 'and' are constraints; 'a, b be positive
    reals' means 'a, b > 0'. Declarations: "variables a b c", "x, y real". Undeclared variables are
    the names the text uses; a name like `ab` whose letters are all variables is their product.
    """
    if len(text) > MAX_PROBLEM_CHARS:
        raise ProblemParseError(f"problem: too long ({len(text)} characters; at most {MAX_PROBLEM_CHARS})")
    unwrapped, latex = _unwrap_latex(text)
    parts = _split_parts(unwrapped)
    try:
        return _read_parts(text, parts, latex, id=id, source=source)
    except ProblemParseError:
        if parts.goals:
            raise
        # "For positive reals a, b: GOAL", "If a > 0 then GOAL", "a, b > 0, GOAL": read again
        # with the goal at the end of a condition; only after the plain reading failed, so a
        # text that reads without it reads as before, and its error is the one shown
        again = _split_parts(unwrapped, goal_in_conditions=True)
        if len(again.goals) != 1:
            raise
        try:
            return _read_parts(text, again, latex, id=id, source=source)
        except ProblemParseError:
            pass
        raise


def _read_parts(text: str, parts: _Parts, latex: bool, *, id: str, source: str) -> Inequality:
    """The inequality of a text cut into ``parts`` (``_split_parts``)."""
    implicit = not parts.goals and bool(parts.constraints)  # no 'prove': the goal is chosen below
    if not implicit and (len(parts.goals) != 1 or not parts.goals[0]):
        raise ProblemParseError(_goal_count_message(parts.goals))
    _check_names(list(dict.fromkeys(parts.declared)))
    if len(parts.constraints) > MAX_CONSTRAINTS:
        raise ProblemParseError(f"problem: more than {MAX_CONSTRAINTS} constraints")
    latex_runs: dict[str, str] = {}
    cons = [_to_plain_text(c, latex, f"constraint {i} ({quote(c)})", latex_runs)
            for i, c in enumerate(parts.constraints, start=1)]
    if implicit:
        goal_text, cons, chosen = _implicit_goal(cons)
    else:
        goal_text = _to_plain_text(parts.goals[0], latex, f"goal ({quote(parts.goals[0])})", latex_runs)
        chosen = {}
    products = _implicit_products(set(parts.declared).union(*map(_bare_names, cons)), [*cons, goal_text])
    cons = [_apply_products(c, products) for c in cons]
    goal_text = _apply_products(goal_text, products)
    used = [n for body in (*cons, goal_text) for n in _names_in(body)]
    names = tuple(sorted(dict.fromkeys([*parts.declared, *used])))
    _check_names(names)
    _check_extrema([*cons, goal_text])
    symbols = make_symbols(names)
    constraints: list[Constraint] = []
    for i, c in enumerate(cons, start=1):
        constraints += parse_constraint(c, symbols, where=f"constraint {i} ({quote(c)})")
        if len(constraints) > MAX_CONSTRAINTS:
            raise ProblemParseError(f"problem: more than {MAX_CONSTRAINTS} constraints")
    goal = parse_goal(goal_text, symbols, where=f"goal ({quote(goal_text)})")
    readings = tuple(f"{n} read as {f}" for n, f in (chosen | latex_runs | products).items())
    constrained = {*parts.declared, *(n for c in cons for n in _names_in(c))}
    readings += tuple(CONSTANT_LOOKALIKES[n] for n in names
                      if n in CONSTANT_LOOKALIKES and n not in constrained)
    return Inequality(names, tuple(constraints), goal, id=id, source=source, statement=text.strip(),
                      readings=readings)


def _implicit_goal(cons: list[str]) -> tuple[str, list[str], dict[str, str]]:
    """With no 'prove', the goal is the last part that is one <= / >= relation ("a^2+b^2 >= 2ab",
    "a, b > 0; a + b = 2; a*b <= 1"); lists and chains ("a, b > 0", "0 < a <= 1") stay
    constraints. With none, a last part of one other relation ("a > b") is taken, for
    ``parse_goal`` to refuse by name. Returns the goal, the other parts and the reading to show."""
    single = [i for i, c in enumerate(cons) if len(_relations(c)) == 1 and len(_split_top_commas(c)) == 1]
    plain = [i for i in single if _relations(cons[i])[0] in ("<=", ">=", "≤", "≥")]
    pick = plain[-1] if plain else len(cons) - 1 if single and single[-1] == len(cons) - 1 else None
    if pick is None:
        raise ProblemParseError(f"problem: no goal found (no 'prove', and no part is one <= or >= "
                                f"relation). {FORMAT_HINT}")
    goal = cons[pick]
    return goal, cons[:pick] + cons[pick + 1:], {quote(goal): "the goal (no 'prove' given)"}


def _relations(text: str) -> list[str]:
    """The relations of a part, in order (no parse: the part is read again as the goal)."""
    return [r for r in _REL_SPLIT.split(text)[1::2] if r]


def _check_extrema(texts: list[str]) -> None:
    if extrema_args(texts) > LIMITS.max_extrema_args:
        raise ProblemParseError(f"problem: more than {LIMITS.max_extrema_args} arguments of Max and Min "
                                "in all (the limit max_extrema_args)")


def _goal_count_message(goals: list[str]) -> str:
    if not goals:
        return f"problem: no goal found. {FORMAT_HINT}"
    if goals == [""]:
        return f"problem: nothing after 'prove'. {FORMAT_HINT}"
    shown = "; ".join(quote(g, 40) for g in goals[:3])
    return f"problem: {len(goals)} goals ({shown}); write exactly one, after 'prove'. {FORMAT_HINT}"


def parse_latex_problem(goal_latex: str, constraints: list[str] = (), *, id: str = "") -> Inequality:  # type: ignore[assignment]
    """A LaTeX goal (e.g. `\\frac{a}{b+c} \\ge \\frac12`) plus plain-syntax constraints.

    The LaTeX is translated to plain syntax (`latex.latex_to_plain`) and read by the same
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
    _check_names(names)
    _check_extrema([plain_goal, *constraints])
    symbols = make_symbols(names)
    try:
        rel = parse_latex_expression(goal_latex, symbols)
    except ExprParseError as exc:
        raise ProblemParseError(str(exc)) from exc
    if not isinstance(rel, sp.Rel) or rel.rel_op not in ("<=", ">="):
        raise ProblemParseError(f"latex goal: {quote(goal_latex)} is not a <= / >= inequality")
    goal = Goal(rel.lhs, rel.rhs) if rel.rel_op == "<=" else Goal(rel.rhs, rel.lhs)
    cons: list[Constraint] = []
    for i, c in enumerate(constraints, start=1):
        cons += parse_constraint(c, symbols, where=f"constraint {i} ({quote(c)})")
        if len(cons) > MAX_CONSTRAINTS:
            raise ProblemParseError(f"problem: more than {MAX_CONSTRAINTS} constraints")
    return Inequality(tuple(names), tuple(cons), goal, id=id, statement=goal_latex)
