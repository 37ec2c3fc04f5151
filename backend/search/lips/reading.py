"""Problem text -> plain-syntax parts: phrasings, LaTeX parts, variable names, and how it was read.

`parse_problem` (problem.py) reads a text in this order: `_unwrap_latex` and `_split_parts` cut it
into declarations, constraint texts and one goal text ('Let a, b be positive reals with a+b=2.
Prove that ...'); `_to_plain_text` translates LaTeX and Lean spellings; implicit_products.py reads
`ab` as a*b; `_names_in` / `_check_names` decide the variables. `reading_lines` and
`describe_reading` show how a problem was read. Errors are `ProblemParseError`, quoting at most
`QUOTE_CHARS` of the user's text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from backend.search.lips.expr import FUNCTION_NAMES, ExprParseError, lean_to_plain
from backend.search.lips.latex import latex_to_plain
from backend.search.lips.tokenizer import NAME, RESERVED

if TYPE_CHECKING:
    from backend.search.lips.problem import Inequality


_REL_SPLIT = re.compile(r"(<=|>=|==|!=|=|<|>|≤|≥|≠)")
_REL_NORMAL = {"≤": "<=", "≥": ">=", "≠": "!=", "=": "=="}
#: what makes a part the goal when it starts with it ("Suppose a, b > 0. Then a/b + b/a >= 2.":
#: read as a name, "Then" would multiply the goal's first term)
_GOAL_PREFIX = re.compile(r"^\s*(prove|show|goal\s*:|⊢|(?:then|hence|therefore|thus)\b,?)\s*", re.IGNORECASE)
_VARS_PREFIX = re.compile(r"^\s*(variables|vars)\s*:?\s*", re.IGNORECASE)
_IN_REALS = re.compile(r"(?:\bin\s+R|∈\s*ℝ)$")  # "x, y in R": the same as "x, y real"
_FUNCTION_NAMES = FUNCTION_NAMES | {"Real"}
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_VARIABLES = 12
#: English words a problem's text may hold that are never meant as variables (3+ letters: two-letter
#: names such as "ab" may be products of variables)
_ENGLISH = frozenset({
    "the", "that", "this", "then", "thus", "hence", "therefore", "prove", "show", "inequality",
    "inequalities", "holds", "hold", "for", "all", "any", "every", "each", "where", "when", "whenever",
    "with", "such", "satisfying", "given", "let", "suppose", "assume", "and", "are", "find", "value",
    "minimum", "maximum", "real", "reals", "number", "numbers", "positive", "negative", "nonnegative",
    "following", "true",
})
QUOTE_CHARS = 80  # of the user's text in an error message
EXAMPLE = "a, b, c > 0; prove a^2+b^2+c^2 >= a*b+b*c+c*a"
FORMAT_HINT = (f"Write constraints and the goal separated by ';', the goal last or after 'prove', "
               f"e.g. `{EXAMPLE}`")


class ProblemParseError(ValueError):
    """The problem text could not be read; the message names the part and the reason."""


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


def _relation_groups(text: str) -> list[str]:
    """A comma list cut after each item that holds a relation: "a, b >= 0, a + b = 2" ->
    ["a, b >= 0", "a + b = 2"]; items after the last relation join the last group ("0 < a, b")."""
    groups: list[list[str]] = [[]]
    for item in _split_top_commas(text):
        groups[-1].append(item)
        if _REL_SPLIT.search(item):
            groups.append([])
    tail = groups.pop()
    if not groups:
        return [", ".join(tail)]
    groups[-1] += tail
    return [", ".join(g) for g in groups]


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
    words = [n for n in names if n.lower() in _ENGLISH]
    if words:  # "prove the inequality a^2 >= 0" would prove the * inequality * a^2 >= 0, silently
        shown = ", ".join(quote(w, 20) for w in words[:3])
        raise ProblemParseError(f"problem: the word(s) {shown} would be read as variables (names side by "
                                f"side are multiplied). Write the formulas with their conditions, e.g. "
                                f"`{EXAMPLE}`")
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
_GOAL_WORD = re.compile(
    r"\b(?:prove|show)(?:\s+that)?(?:\s+the\s+(?:following\s+)?inequalit(?:y|ies))?\b\s*:?", re.IGNORECASE)
_CONNECTOR = re.compile(
    r"\b(?:for\s+(?:all|any|every|each)|for|where|whenever|when|if|given\s+that|given|with|such\s+that"
    r"|satisfying|provided\s+that|provided|assuming|assume\s+that|assume|suppose\s+that|suppose|let|holds)\b",
    re.IGNORECASE)
_AND = re.compile(r"\band\b", re.IGNORECASE)
_SUPERSCRIPT = re.compile("[⁰¹²³⁴⁵⁶⁷⁸⁹]+")
_ROOT_SIGN = re.compile(r"√\s*(?:\(|([A-Za-z0-9_.]+))")
_SUPERSCRIPT_DIGITS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")
#: what ends a condition before its goal: "if a > 0 then GOAL", "for reals a, b: GOAL", "a > 0 => GOAL"
_THEN = re.compile(r"\bthen\b|:|=>|⇒|⟹|→", re.IGNORECASE)
_ANY_REL = re.compile(r"<|>|=|≤|≥|≠|\\(?:geq?|leq?|gt|lt|ne)\b")  # a relation, plain or LaTeX
_LATEX_REALS = re.compile(r"\\in\s*\\mathbb\s*\{R\}")  # "a \\in \\mathbb{R}": "a in R"
_TEXT_CMD = re.compile(r"\\(?:text|textrm|mathrm|mbox)\{([^{}]*)\}")
_NONNEG = re.compile(r"\bnon[-\s]?negative\b", re.IGNORECASE)
_CLAUSE_CHARS = re.compile(r"[A-Za-z0-9_,\s]+")
_KINDS: dict[str, str | None] = {"positive": "> 0", "nonnegative": ">= 0", "negative": "< 0", "real": None,
                                 "reals": None}
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
    #: constraints that led a part with conditions after them ("GOAL with a, b > 0"): with no
    #: 'prove' anywhere, a lone one of them is the goal
    leads: list[int] = field(default_factory=list)
    #: whether a condition may end in the goal (``_split_parts``)
    goal_in_conditions: bool = False


def _unwrap_latex(text: str) -> tuple[str, bool]:
    """`$...$` delimiters and `\\text{...}` dropped; True when the text had `$` pairs (it is LaTeX).

    A lone `$` is left for the parser to refuse.
    """
    text = _SUPERSCRIPT.sub(lambda m: "^" + m.group(0).translate(_SUPERSCRIPT_DIGITS), text)  # a³ -> a^3
    text = _ROOT_SIGN.sub(lambda m: f"sqrt({m.group(1)})" if m.group(1) else "sqrt(", text)  # √x, √(ab)
    text = _TEXT_CMD.sub(r" \1 ", text.replace("\\forall", " for all "))
    text = _LATEX_REALS.sub(" in R", text)
    dollars = text.count("$")
    if dollars and dollars % 2 == 0:
        return text.replace("$", " "), True
    return text, False


def _split_parts(text: str, *, goal_in_conditions: bool = False) -> _Parts:
    """Parts by ';', newlines and sentence ends; a new part before each 'prove'/'show (that)'.

    ``goal_in_conditions``: a condition may end in the goal ("for positive reals a, b: GOAL",
    "if a, b > 0 then GOAL", "a, b > 0, GOAL", "GOAL (a, b > 0)"); ``parse_problem`` reads a text
    so only after the plain reading failed, so it never changes a reading that worked."""
    out = _Parts(goal_in_conditions=goal_in_conditions)
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
    if not out.goals and len(out.leads) == 1:  # "a/b + b/a >= 2 with a, b > 0": the lead is the goal
        out.goals.append(out.constraints.pop(out.leads[0]))
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
    if goal and not pieces[0] and len(pieces) > 1:
        # "prove that for all real x, GOAL", "show that if a, b > 0 then GOAL": the goal ends
        # the last clause
        split = _condition_then_goal(pieces[-1])
        if split is not None:
            pieces = [split[1], *pieces[1:-1], split[0]]
    if goal:
        out.goals.append(pieces[0])
    elif pieces[0]:
        before = len(out.constraints)
        _add_condition(out, pieces[0])
        if len(pieces) > 1 and len(out.constraints) == before + 1:
            out.leads.append(before)
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
    if out.goal_in_conditions:
        split = _condition_then_goal(text)
        if split is None:
            late = _goal_then_condition(text)
            split = late[::-1] if late is not None else None
        if split is not None:
            text = split[0]
            out.goals.append(split[1])
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


def _condition_then_goal(text: str) -> tuple[str, str] | None:
    """(condition, goal) of a clause that ends in its goal, or None: after the last 'then' or
    ':' ("positive reals a, b: GOAL", "a, b > 0 then GOAL"), or after the last top-level comma
    when what comes before is a whole condition by itself ("positive reals a, b, GOAL",
    "a, b > 0, GOAL"). The goal side must hold a relation."""
    marks = list(_THEN.finditer(text))
    if marks:
        condition, goal = text[:marks[-1].start()].strip(_STRIP), text[marks[-1].end():].strip(_STRIP)
        return (condition, goal) if condition and _ANY_REL.search(goal) else None
    segments = _split_top_commas(text)
    if len(segments) < 2 or not _ANY_REL.search(segments[-1]):
        return None
    condition = ", ".join(segments[:-1])
    if _kind_clause(condition) is None and not _ANY_REL.search(condition):
        return None
    return condition, segments[-1]


def _goal_then_condition(text: str) -> tuple[str, str] | None:
    """(goal, condition) of 'GOAL (CONDITION)': "x + 1/x >= 2 (x > 0)"; both must hold a relation."""
    body = text.rstrip(" \t.")
    if not body.endswith(")"):
        return None
    depth = 0
    for i in range(len(body) - 1, -1, -1):
        depth += (body[i] == ")") - (body[i] == "(")
        if depth == 0:
            goal, condition = body[:i].strip(_STRIP), body[i + 1:-1].strip()
            if _ANY_REL.search(goal) and _ANY_REL.search(condition):
                return goal, condition
            return None
    return None


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
