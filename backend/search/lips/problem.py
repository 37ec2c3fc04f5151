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
_IN_REALS = re.compile(r"(?:\bin\s+R|∈\s*ℝ)$")  # "x, y in R": the same as "x, y real"
_FUNCTION_NAMES = FUNCTION_NAMES | {"Real"}
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_VARIABLES = 12
MAX_PROBLEM_CHARS = 10_000  # the whole problem text; each expression has its own limit (grammar.Limits)
MAX_CONSTRAINTS = 64  # after comma lists and chains expand ("a,b,c > 0" is three)
QUOTE_CHARS = 80  # of the user's text in an error message
EXAMPLE = "a, b, c > 0; prove a^2+b^2+c^2 >= a*b+b*c+c*a"
FORMAT_HINT = (f"Write constraints and the goal separated by ';', the goal starting with 'prove', "
               f"e.g. `{EXAMPLE}`")


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
        raise ProblemParseError(f"{where}: no relation (<, <=, =, >=, >, !=) in {quote(text)}. {FORMAT_HINT}")
    if any(not o for o in operands):
        raise ProblemParseError(f"{where}: a relation is missing an operand in {quote(text)}")
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


def _check_names(names: tuple[str, ...] | list[str]) -> None:
    """Declared names must be plain identifiers, and a problem has at most MAX_VARIABLES of them."""
    bad = [n for n in names if not _is_variable_name(n) or n in _FUNCTION_NAMES]
    if bad:
        raise ProblemParseError(f"problem: {quote(bad[0], 40)} is not a variable name (a letter, then "
                                f"letters, digits or single '_')")
    if len(names) > MAX_VARIABLES:
        raise ProblemParseError(f"problem: {len(names)} variables ({quote(', '.join(names))}); at most "
                                f"{MAX_VARIABLES} are allowed")


def quote(text: str, limit: int = QUOTE_CHARS) -> str:
    """The user's text for a message: at most `limit` characters, so a long input is never echoed whole."""
    if len(text) <= limit:
        return repr(text)
    return repr(text[:limit - 3]) + f"... ({len(text)} characters)"


# -- natural phrasings ---------------------------------------------------------------------------
# Every regex below starts at a fixed word or character and has no nested quantifiers, so a
# 10,000-character text costs linear time; the text cap is checked before any of them runs.

_PART_SPLIT = re.compile(r"[;\n]|\.\s+(?=[A-Za-z\\])")  # ';', newline, or a sentence end ". Next"
_GOAL_WORD = re.compile(r"\b(?:prove|show)(?:\s+that)?\b\s*:?", re.IGNORECASE)
_CONNECTOR = re.compile(
    r"\b(?:for\s+(?:all|any|every|each)|for|where|whenever|when|if|given\s+that|given|with|such\s+that"
    r"|satisfying|provided\s+that|provided|assuming|assume\s+that|assume|suppose\s+that|suppose|let)\b",
    re.IGNORECASE)
_AND = re.compile(r"\band\b", re.IGNORECASE)
_LATEX_REALS = re.compile(r"\\in\s*\\mathbb\s*\{R\}")  # "a \\in \\mathbb{R}": "a in R"
_TEXT_CMD = re.compile(r"\\(?:text|textrm|mathrm|mbox)\{([^{}]*)\}")
_NONNEG = re.compile(r"\bnon[-\s]?negative\b", re.IGNORECASE)
_CLAUSE_CHARS = re.compile(r"[A-Za-z0-9_,\s]+")
_KINDS: dict[str, str | None] = {"positive": "> 0", "nonnegative": ">= 0", "negative": "< 0", "real": None}
_NOUNS = frozenset({"real", "reals", "number", "numbers"})
_VERBS = frozenset({"be", "are", "is", "all"})
_STRIP = " \t,.:"
_LATEX_COMMAND = re.compile(r"\\[A-Za-z]+")
_LETTER_RUN = re.compile(r"(?<![A-Za-z_])[A-Za-z]{2,}(?![A-Za-z0-9_])")


@dataclass
class _Parts:
    """The problem text cut into declarations, constraint texts and goal texts (still unparsed)."""

    declared: list[str] = field(default_factory=list)
    constraints: list[str] = field(default_factory=list)
    goals: list[str] = field(default_factory=list)


def _unwrap_latex(text: str) -> tuple[str, bool]:
    """`$...$` delimiters and `\\text{...}` dropped; True when the text had `$` pairs (it is LaTeX).

    A lone `$` is left for the parser to refuse.
    """
    text = _TEXT_CMD.sub(r" \1 ", text.replace("\\forall", " for all "))
    text = _LATEX_REALS.sub(" in R", text)
    dollars = text.count("$")
    if dollars and dollars % 2 == 0:
        return text.replace("$", " "), True
    return text, False


def _split_parts(text: str) -> _Parts:
    """Parts by ';', newlines and sentence ends; a new part before each 'prove'/'show (that)'."""
    out = _Parts()
    for piece in _PART_SPLIT.split(text):
        marks = list(_GOAL_WORD.finditer(piece))
        starts = [0, *(m.start() for m in marks)]
        for i, start in enumerate(starts):
            end = starts[i + 1] if i + 1 < len(starts) else len(piece)
            chunk = piece[start:end]
            goal = i > 0
            if goal:
                chunk = chunk[marks[i - 1].end() - start:]
            _add_part(out, chunk.strip(_STRIP), goal)
    return out


def _add_part(out: _Parts, part: str, goal: bool) -> None:
    """A declaration, or a goal/constraint; its clauses after 'for a, b > 0', 'with ...' are constraints."""
    if not part and not goal:
        return
    if not goal and _GOAL_PREFIX.match(part):  # "goal: ..." / "⊢ ..."
        part, goal = _GOAL_PREFIX.sub("", part), True
    if not goal and _declaration(out, part):
        return
    pieces = [p.strip(_STRIP) for p in _CONNECTOR.split(part)]
    if goal:
        out.goals.append(pieces[0])
    elif pieces[0]:
        _add_condition(out, pieces[0])
    for p in pieces[1:]:
        if p:
            _add_condition(out, p)


def _declaration(out: _Parts, part: str) -> bool:
    if _VARS_PREFIX.match(part):
        out.declared += [n for n in re.split(r"[\s,]+", _VARS_PREFIX.sub("", part)) if n]
        return True
    return False


def _add_condition(out: _Parts, text: str) -> None:
    """'a, b and c be positive reals' -> 'a, b, c > 0'; other text splits at 'and' into constraints."""
    clause = _kind_clause(text)
    if clause is not None:
        names, rel = clause
        out.declared += names
        if rel:
            out.constraints.append(f"{', '.join(names)} {rel}")
        return
    if _declaration(out, text):
        return
    out.constraints += [p.strip(_STRIP) for p in _AND.split(text) if p.strip(_STRIP)]


def _kind_clause(text: str) -> tuple[list[str], str | None] | None:
    """Names and relation of 'a, b, c (are|be) positive (real numbers)' or 'positive reals a, b'.

    Only words, commas and spaces qualify; the words are matched as a list, with no regex.
    """
    text = _IN_REALS.sub(" real", _NONNEG.sub("nonnegative", text.strip()))
    if not _CLAUSE_CHARS.fullmatch(text):
        return None
    words = [w for w in re.split(r"[\s,]+", text) if w and w.lower() != "and"]
    lowered = [w.lower() for w in words]
    kinds = [i for i, w in enumerate(lowered) if w in _KINDS]
    if not kinds:
        return None
    k = kinds[0]
    before = [w for w, lw in zip(words[:k], lowered[:k], strict=True) if lw not in _VERBS]
    after = [w for w, lw in zip(words[k + 1:], lowered[k + 1:], strict=True) if lw not in _NOUNS]
    if (before and after) or not (before or after):
        return None
    names = before or after
    if not all(_is_variable_name(n) and n not in _FUNCTION_NAMES for n in names):
        return None
    return names, _KINDS[lowered[k]]


# -- implicit products of declared variables ---------------------------------------------------


def _bare_names(constraint: str) -> set[str]:
    """Names a constraint states something about as themselves: `xy` in 'xy > 0', `a`, `b` in 'a, b > 0'."""
    out = set()
    for operand in _REL_SPLIT.split(constraint)[0::2]:
        out |= {n for n in _split_top_commas(operand) if _is_variable_name(n)}
    return out


def _implicit_products(declared: set[str], bodies: list[str]) -> dict[str, str]:
    """Multi-letter names that are not variables but whose letters all are: `ab` -> 'a*b'.

    The known single letters are the declared ones and every single letter the text uses; a
    name that is declared (or stated about as itself in a constraint) stays a variable.
    """
    used = [n for body in bodies for n in _names_in(body)]
    letters = {n for n in (*declared, *used) if len(n) == 1}
    products = {}
    for name in dict.fromkeys(used):
        if len(name) > 1 and name not in declared and name.isalpha() and set(name) <= letters:
            products[name] = "*".join(name)
    return products


def _apply_products(body: str, products: dict[str, str]) -> str:
    """Replace each product name by its factors; after '/' or '^' in parentheses (1/ab = 1/(a*b))."""
    if not products:
        return body

    def sub(m: re.Match[str]) -> str:
        name = m.group(0)
        if name not in products or _after_dot(body, m.start()):
            return name
        j = m.start() - 1
        while j >= 0 and body[j] in " \t":
            j -= 1
        return f"({products[name]})" if j >= 0 and body[j] in "/^" else products[name]

    return _WORD.sub(sub, body)


def _to_plain_text(body: str, latex: bool, where: str, readings: dict[str, str]) -> str:
    """A part in plain syntax: LaTeX (`\\frac`, `\\ge`, braces, `$...$`) translated, Lean spellings too.

    In LaTeX every letter is a variable, so each run of letters is recorded in `readings`.
    """
    if latex or "\\" in body or "{" in body or "}" in body:
        try:
            plain = latex_to_plain(body, where=where)
        except ExprParseError as exc:
            raise ProblemParseError(str(exc)) from exc
        for run in _LETTER_RUN.findall(_LATEX_COMMAND.sub(" ", body)):
            readings.setdefault(run, "*".join(run))
        body = plain
    return lean_to_plain(body)


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
    if len(parts.goals) != 1 or not parts.goals[0]:
        raise ProblemParseError(_goal_count_message(parts.goals))
    _check_names(list(dict.fromkeys(parts.declared)))
    if len(parts.constraints) > MAX_CONSTRAINTS:
        raise ProblemParseError(f"problem: more than {MAX_CONSTRAINTS} constraints")
    latex_runs: dict[str, str] = {}
    cons = [_to_plain_text(c, latex, f"constraint {i} ({quote(c)})", latex_runs)
            for i, c in enumerate(parts.constraints, start=1)]
    goal_text = _to_plain_text(parts.goals[0], latex, f"goal ({quote(parts.goals[0])})", latex_runs)
    products = _implicit_products(set(parts.declared).union(*map(_bare_names, cons)), [*cons, goal_text])
    cons = [_apply_products(c, products) for c in cons]
    goal_text = _apply_products(goal_text, products)
    used = [n for body in (*cons, goal_text) for n in _names_in(body)]
    names = tuple(sorted(dict.fromkeys([*parts.declared, *used])))
    _check_names(names)
    symbols = make_symbols(names)
    constraints: list[Constraint] = []
    for i, c in enumerate(cons, start=1):
        constraints += parse_constraint(c, symbols, where=f"constraint {i} ({quote(c)})")
        if len(constraints) > MAX_CONSTRAINTS:
            raise ProblemParseError(f"problem: more than {MAX_CONSTRAINTS} constraints")
    goal = parse_goal(goal_text, symbols, where=f"goal ({quote(goal_text)})")
    readings = tuple(f"{n} read as {f}" for n, f in (latex_runs | products).items())
    return Inequality(names, tuple(constraints), goal, id=id, source=source, statement=text.strip(),
                      readings=readings)


def _goal_count_message(goals: list[str]) -> str:
    if not goals:
        return f"problem: no goal found. {FORMAT_HINT}"
    if goals == [""]:
        return f"problem: nothing after 'prove'. {FORMAT_HINT}"
    shown = "; ".join(quote(g, 40) for g in goals[:3])
    return f"problem: {len(goals)} goals ({shown}); write exactly one, after 'prove'. {FORMAT_HINT}"


def reading_lines(ineq: Inequality) -> list[tuple[str, str]]:
    """(label, text) pairs: how the problem text was read, for the page's preview and the CLI."""
    lines = [("variables", ", ".join(ineq.variables) or "none")]
    lines.append(("constraints", "; ".join(str(c) for c in ineq.constraints) or "none"))
    lines.append(("goal", f"prove {ineq.goal}"))
    lines += [("read", r) for r in ineq.readings]
    return lines


def describe_reading(ineq: Inequality) -> str:
    """The problem as Canopy read it, in plain syntax, one line per item ('ab read as a*b' included)."""
    return "\n".join(f"{label}: {text}" for label, text in reading_lines(ineq))


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
    _check_names(names)
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
