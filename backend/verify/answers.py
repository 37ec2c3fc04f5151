"""Final answers: pull them out of model output, canonicalise them, decide equivalence.

Every search algorithm ends in the same question: did this rollout reach the gold answer,
and which rollouts agree with each other (majority votes, rStar-Math's terminal reward)?
Equivalence is decided by math-verify (https://github.com/huggingface/Math-Verify, sympy
underneath), not by string matching, so ``\\frac{1}{2}``, ``0.5`` and ``1/2`` agree while
``x+1`` and ``x-1`` do not. This module only adds what math-verify leaves to the caller:

* extraction from plain program stdout (math-verify's own extraction targets prose);
* a cheap canonical key (``normalize_answer``) for grouping votes before the sympy check;
* stripping of the things GSM8K-style answers carry (``$18.00``, ``18 dollars``, ``18.``);
* a thread-safe timeout. math-verify times out with ``signal.alarm``, which raises
  ``ValueError`` off the main thread, and the search runs in worker threads. We call it with
  its timeouts disabled (``parsing_timeout=None``, ``timeout_seconds=None``) and bound the
  whole comparison with a watchdog thread instead.

Percentages follow math-verify: ``50%`` equals both ``50`` (GSM8K asks "what percent ...",
gold ``50``) and ``0.5``, while ``50`` and ``0.5`` stay different. Equivalence is therefore
not transitive there; ``group_answers`` merges greedily against each group's first member.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import threading
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

logger = logging.getLogger(__name__)

# -- extraction -----------------------------------------------------------------------------

_BOX_RE = re.compile(r"\\(?:boxed|fbox)\s*")
_ANSWER_MARKER_RE = re.compile(
    r"(?:\b(?:the\s+)?(?:final\s+)?answer\s*(?:is\s*:?|:)|####)[ \t]*(?P<rest>[^\n]*)", re.IGNORECASE
)
# rStar-Math's "<answer>...<end_of_answer>" block, or "<answer>...</answer>".
_ANSWER_TAG_RE = re.compile(r"<answer>(?P<body>.*?)(?:</answer>|<end_of_answer>|$)", re.DOTALL)
# A period that ends a sentence: followed by whitespace or the end, so "0.5" survives.
_SENTENCE_END_RE = re.compile(r"\.(?=\s|$)")
# "18, because ..." ends at the comma; "1, 2, and 3" keeps its list.
_CLAUSE_END_RE = re.compile(r",\s+(?!and\b|or\b)(?=[A-Za-z]{2,})")
# A leading math span: "$\frac{1}{2}$, since ..." -> "$\frac{1}{2}$".
_MATH_SPAN_RE = re.compile(r"\$\$.+?\$\$|\$[^$]+\$|\\\(.+?\\\)|\\\[.+?\\\]")
_NUMBER_IN_TEXT_RE = re.compile(r"(?:(?<![\w)])-)?(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)")
_WORD_RE = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{3,}")  # words, not LaTeX commands
# Words that may appear in a printed answer line without making it prose ("sqrt(13)*3").
_MATH_WORDS = frozenset(
    {"sqrt", "sin", "cos", "tan", "cot", "sec", "csc", "log", "exp", "inf", "true", "false", "none"}
)


def _brace_group(text: str, start: int, stop: int | None = None) -> tuple[str, int] | None:
    """The content of the ``{...}`` opening at ``text[start]`` and the index after it.

    Escaped braces (``\\{``) do not count, so ``\\boxed{\\{1,2\\}}`` keeps its set.
    Returns None when the group does not close before ``stop`` (a truncated generation).
    """
    depth, i = 0, start
    stop = len(text) if stop is None else stop
    while i < stop:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i], i + 1
        i += 1
    return None


def _last_boxed(text: str) -> str | None:
    """Content of the last complete, non-empty ``\\boxed{...}`` (or ``\\boxed 5``).

    A group that never closes stops the scans of the groups before it: a group open at that
    point cannot close either. So a text of 15,000 unclosed ``\\boxed{`` costs one pass, not
    15,000 (which took 86 s).
    """
    limit = len(text)
    for match in reversed(list(_BOX_RE.finditer(text))):
        end = match.end()
        if end < len(text) and text[end] == "{":
            group = _brace_group(text, end, limit)
            limit = end if group is None else limit
            content = group[0].strip() if group else ""
        else:
            bare = re.match(r"[^\s$.,;]+", text[end:])
            content = bare.group(0) if bare and match.group(0).endswith(" ") else ""
        if content:
            return content
    return None


def boxed_answer(text: str) -> str | None:
    """Only the last complete ``\\boxed{...}``: for formats whose answer must be boxed (CPL's
    solution step), where :func:`extract_answer`'s fallbacks would accept an unboxed line."""
    return _last_boxed(text) if text else None


def _trim_answer(raw: str) -> str:
    """Cut a marker's tail ("18. I hope it is correct.") down to the answer itself."""
    raw = raw.strip().strip("*").strip()
    span = _MATH_SPAN_RE.match(raw)
    if span and not _is_prose(span.group(0)):  # "$18 and $5" is currency, not a math span
        return _unwrap_math(span.group(0))
    for pattern in (_SENTENCE_END_RE, _CLAUSE_END_RE):
        cut = pattern.search(raw)
        raw = raw[: cut.start()] if cut else raw
    return _unwrap_math(raw.strip().strip("*").strip()).rstrip(".,;").strip()


def _unwrap_math(ans: str) -> str:
    """Drop math delimiters that wrap the whole answer; a lone currency ``$18`` is kept."""
    for left, right in (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$")):
        if len(ans) > len(left) + len(right) and ans.startswith(left) and ans.endswith(right):
            return ans[len(left) : -len(right)].strip()
    return ans


def _is_prose(line: str) -> bool:
    return any(w.lower() not in _MATH_WORDS for w in _WORD_RE.findall(line))


def extract_answer(text: str) -> str | None:
    """The final answer in model output or program stdout, as the raw string written.

    Priority: the last ``\\boxed{...}`` (nested braces matched); else the last ``<answer>``
    block (rStar-Math's format); else the last "The answer is X" / "final answer is X" /
    "Answer: X" / "#### X"; else the last printed line when it is a
    bare expression (``18``, ``x = 5``, ``sqrt(13)*3``); else the last number in the text.
    Returns e.g. ``"\\frac{1}{2}"``, ``"18"``, ``"$18.00"``; None when nothing looks like one.
    """
    if not text or not text.strip():
        return None
    boxed = _last_boxed(text)
    if boxed is not None:
        return boxed
    tags = [m.group("body").strip() for m in _ANSWER_TAG_RE.finditer(text)]
    if tags and tags[-1]:
        # Unclosed nested tags: the innermost body (a loop; recursion once overflowed the stack).
        body = tags[-1].rsplit("<answer>", 1)[-1].strip() or tags[-1]
        return _unwrap_math(body.rstrip(".")) if not _is_prose(body) else _extract_untagged(body)
    return _extract_untagged(text)


def _extract_untagged(text: str) -> str | None:
    """The marker, last-line and last-number steps of :func:`extract_answer`."""
    for match in reversed(list(_ANSWER_MARKER_RE.finditer(text))):
        ans = _trim_answer(match.group("rest"))
        if ans:
            return ans
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    last = lines[-1].rstrip(".").strip()
    if last and len(last) <= 80 and not _is_prose(last):
        return _unwrap_math(last)
    numbers = _NUMBER_IN_TEXT_RE.findall(text)
    return numbers[-1].rstrip(".") if numbers else None


# -- canonical key --------------------------------------------------------------------------

_TEXT_CMD_RE = re.compile(r"\\(?:text|textbf|textit|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}")
# Spacing commands (``\,``, ``\!``, ``\quad``); not the ``\\ `` that separates matrix rows.
_SPACING_RE = re.compile(r"(?<!\\)\\(?:[,;:! ]|q?quad\b)")
_SIZING_RE = re.compile(r"\\(?:left|right|big|Big|bigg|Bigg|displaystyle)(?![A-Za-z])")  # not \rightarrow
_DEGREE_RE = re.compile(r"\^\s*\{?\\circ\}?|°")
_PERCENT_WORD_RE = re.compile(r"\s*(?:percent(?:age)?|pct)\b\.?", re.IGNORECASE)
_NUMBER = r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?"
# "18 dollars", "18 cm", "3 apples." -> the number; the unit words carry no information
# that an equivalence check could use, and math-verify would read them as symbols.
# Words of 2+ letters separated by spaces or ".": each letter run is matched one way only (the
# former `(?:[A-Za-z]{2,}\.?\s*)+` could split "xxxx...x1" in exponentially many ways: a 40-letter
# answer took minutes).
_NUMBER_WITH_UNITS_RE = re.compile(
    rf"^(?P<num>{_NUMBER})\s*[A-Za-z]{{2,}}(?:(?:\.\s*|\s+)[A-Za-z]{{2,}})*\.?\s*$")
# Whitespace goes, except after a command that a letter follows: "\cot x" is not "\cotx".
_WHITESPACE_RE = re.compile(r"(\\[A-Za-z]+)\s+(?=[A-Za-z])|\s+")
_THOUSANDS_RE = re.compile(r"^[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_PLAIN_NUMBER_RE = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)$")
_FRACTION_RES = (
    re.compile(r"^(?P<sign>-?)\\frac\{(?P<n>\d+)\}\{(?P<d>\d+)\}$"),
    re.compile(r"^(?P<sign>-?)\\frac(?P<n>\d)(?P<d>\d)$"),
    re.compile(r"^(?P<sign>-?)(?P<n>\d+)/(?P<d>\d+)$"),
)


def _strip_outer(ans: str) -> str:
    """Remove what wraps an answer without being part of it: box, math delimiters, "**", "."."""
    s = ans.strip()
    while True:
        before = s
        if s.startswith("\\boxed"):
            group = _brace_group(s, s.find("{")) if "{" in s else None
            if group and group[1] == len(s):
                s = group[0].strip()
        s = _unwrap_math(s.strip("*").strip())
        if s.endswith(".") and not s.endswith("..."):
            s = s[:-1].rstrip()
        if s == before:
            return s


def _strip_decorations(s: str) -> str:
    """LaTeX and currency noise that never changes the value: ``\\left``, ``\\$``, ``^\\circ``."""
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = _SIZING_RE.sub("", s)
    s = _SPACING_RE.sub(" ", s)
    s = _DEGREE_RE.sub("", s)
    s = s.replace("\\$", "").replace("$", "").replace("\\%", "%")
    s = _PERCENT_WORD_RE.sub("%", s)
    return s.strip()


def _canonical_number(s: str) -> str | None:
    """``"1,000.50"`` -> ``"1000.5"``, ``"+18.00"`` -> ``"18"``; None if not a plain number."""
    if _THOUSANDS_RE.match(s):
        s = s.replace(",", "")
    if not _PLAIN_NUMBER_RE.match(s):
        return None
    text = format(Decimal(s).normalize(), "f")  # the regex admits only valid decimals
    return "0" if text in ("-0", "+0") else text


def _strip_units(s: str) -> str:
    units = _NUMBER_WITH_UNITS_RE.match(s)
    return units.group("num") if units and re.search(r"\d", units.group("num")) else s


def normalize_answer(ans: str) -> str:
    """A canonical display and vote key: equal keys mean equivalent answers (the converse
    needs ``answers_equal``).

    Strips boxes, math delimiters, ``$``, ``\\text{...}`` (keeping its content), units after a
    number, spaces and a trailing period. Plain numbers are canonicalised: thousands commas
    go, trailing zeros go (``18.00`` -> ``18``); decimals stay decimals (``0.5`` stays
    ``0.5``, because ``0.33`` is not ``1/3`` and the key should show what was written).
    Integer fractions become ``a/b`` (``\\frac{1}{2}`` and ``\\dfrac12`` -> ``1/2``), without
    reducing. Percentages keep their sign: ``50\\%`` -> ``50%``.
    """
    s = _strip_decorations(_strip_outer(ans))
    s = _TEXT_CMD_RE.sub(lambda m: f" {m.group(1).strip()} ", s).strip()
    s = _strip_units(s.rstrip(". "))
    s = _WHITESPACE_RE.sub(lambda m: f"{m.group(1)} " if m.group(1) else "", s).rstrip(".")
    number = _canonical_number(s)
    if number is not None:
        return number
    if s.endswith("%") and (pct := _canonical_number(s[:-1])) is not None:
        return f"{pct}%"
    for pattern in _FRACTION_RES:
        frac = pattern.match(s)
        if frac:
            return f"{frac['sign']}{int(frac['n'])}/{int(frac['d'])}"
    return s


# -- equivalence ----------------------------------------------------------------------------


_PYTHON_TO_LATEX = (
    (re.compile(r"\*\*"), "^"),
    (re.compile(r"\bpi\b"), r"\\pi"),
    (re.compile(r"\boo\b"), r"\\infty"),
    (re.compile(r"(?<=\d)\s*\*\s*I\b"), "i"),  # "2*i" would not parse as imaginary; "2i" does
)


def _to_latex(ans: str) -> str:
    """Prepare a bare answer for math-verify's LaTeX parser.

    Units after a number and currency signs are removed first (math-verify knows only a fixed
    unit list and would read "dollars" as a product of symbols). A word answer (``Evelyn``)
    becomes ``\\text{Evelyn}`` so that it is compared as a word, not as the product
    ``E*e*l*n*v*y``, under which anagrams would be equal.
    """
    s = _strip_decorations(_strip_outer(ans))
    s = _strip_units(s)
    if "\\" in s:
        return s
    if not re.search(r"[\d+\-*/^=_]", s) and re.search(r"[A-Za-z]{4,}", s):
        return f"\\text{{{s}}}"
    # Printed Python/sympy values: "2**10", "pi/2", "3 + 2*I", "oo".
    for pattern, latex in _PYTHON_TO_LATEX:
        s = pattern.sub(latex, s)
    return s


@functools.cache
def _math_verify() -> Any:
    """Import math-verify on first use (it pulls in sympy: about a second)."""
    from backend._optional import require

    # ImportError names the install: pip install "math-verify[antlr4_13_2]"
    module = require("math_verify", package='"math-verify[antlr4_13_2]"')
    # We disable math-verify's signal timeouts on purpose (see the module docstring); its
    # one-off "Timeout is disabled" warning would only mislead whoever reads our logs.
    for name in ("math_verify.parser", "math_verify.grader"):
        logging.getLogger(name).addFilter(lambda rec: not str(rec.msg).startswith("Timeout is disabled"))
    return module


@functools.lru_cache(maxsize=4096)
def _parse(latex: str) -> tuple[Any, ...]:
    """math-verify's parse of one prepared answer; a tuple so the cache hands out no lists.

    Only LaTeX extraction: math-verify's expression extraction calls sympy's ``parse_expr``, which
    evaluates Python. Answers outside the bounds below parse to nothing (so they equal only
    answers with the same ``normalize_answer`` key).
    """
    if not _text_within_bounds(latex):
        return ()
    mv = _math_verify()
    config = [mv.LatexExtractionConfig()]
    parsed = tuple(mv.parse(f"\\boxed{{{latex}}}", extraction_config=config, parsing_timeout=None))
    if not all(_value_within_bounds(p) for p in parsed):
        logger.info("answer left to string comparison (numbers too large to compare): %.80r", latex)
        return ()
    return parsed


# -- bounds on what math-verify gets ------------------------------------------------------------
#
# math-verify parses without evaluating (``9^{9^{9^{9}}}`` stays a Pow), but its comparison
# evaluates, and a big integer power or factorial runs in C while holding the GIL: the watchdog
# thread cannot interrupt it and the whole server froze. So an answer is compared symbolically
# only when its text is short and shallow and every number it can evaluate to is bounded.

MAX_ANSWER_CHARS = 1000  # MATH-500 answers: at most 53
MAX_ANSWER_DEPTH = 20  # nested {[( ; MATH-500: at most 2
MAX_ANSWER_NODES = 5000  # sympy nodes of one parsed answer
MAX_ANSWER_BITS = 10_000  # any number the answer evaluates to (Python prints at most 4,300 digits)
MAX_ANSWER_EXPONENT = 10_000  # |n| in b^n for a number b (and b^n within MAX_ANSWER_BITS)
MAX_SYMBOLIC_EXPONENT = 100  # |n| in x^n for anything else: (x+1)^10000 would be expanded
MAX_GROWTH_ARGUMENT = 1000  # n in n!, binomial(n, k), fibonacci(n), ...


# Commands latex2sympy evaluates while parsing (binomial(10^8, 5*10^7) never returned).
_EVALUATING_RE = re.compile(r"\\(?:[dt]?binom|choose|gcd|lcm|operatorname|det|[bp]?mod)(?![A-Za-z])")
_INTEGER_RE = re.compile(r"\d+")


def _text_within_bounds(latex: str) -> bool:
    """Short, shallow, and small numbers wherever the parser itself evaluates."""
    if len(latex) > MAX_ANSWER_CHARS:
        return False
    depth = 0
    for ch in latex:
        depth += ch in "{[("
        depth -= ch in "}])"
        if depth > MAX_ANSWER_DEPTH:
            return False
    if _EVALUATING_RE.search(latex):
        literals = math.prod(max(2, int(n)) for n in _INTEGER_RE.findall(latex))
        return "^" not in latex and "!" not in latex and literals <= MAX_GROWTH_ARGUMENT**2
    return True


def _value_within_bounds(value: Any) -> bool:
    """Whether comparing this parsed answer can only meet small numbers (see the constants above)."""
    import sympy as sp

    if isinstance(value, str):
        return True
    if isinstance(value, sp.MatrixBase):
        return all(_value_within_bounds(x) for x in value)
    if not isinstance(value, sp.Basic):
        return True
    order, stack = [], [value]
    while stack:  # pre-order; reversed, every node comes after its arguments
        node = stack.pop()
        order.append(node)
        if len(order) > MAX_ANSWER_NODES:
            return False
        stack.extend(a for a in node.args if isinstance(a, sp.Basic))
    log2: dict[Any, float | None] = {}
    for node in reversed(order):
        bits = _log2_bound(node, log2, sp)
        if bits is not None and bits > MAX_ANSWER_BITS:
            return False
        log2[node] = bits
    return True


_BOUNDED_FUNCTIONS = frozenset(
    ("sin", "cos", "tan", "cot", "sec", "csc", "asin", "acos", "atan", "acot", "asec", "acsc", "sinh", "cosh",
     "tanh", "coth", "log", "Abs", "sign", "floor", "ceiling", "frac", "re", "im", "arg", "conjugate", "Max",
     "Min", "Mod"))


def _log2_bound(node: Any, log2: dict[Any, float | None], sp: Any) -> float | None:
    """An upper bound on log2 |value| of a numeric node, from its arguments' bounds; None if symbolic.

    Returns infinity for what must not be evaluated at all (sums, integrals, huge exponents).
    """
    inf = float("inf")
    if isinstance(node, (sp.Sum, sp.Product, sp.Integral, sp.Limit, sp.Derivative)):
        return inf
    if isinstance(node, sp.Rational):
        return math.log2(max(abs(int(node.p)), int(node.q), 1))
    if isinstance(node, sp.Float):
        return _float_log2(node)
    if isinstance(node, sp.NumberSymbol) or node is sp.I:
        return 2.0
    if not node.args or not isinstance(node, sp.Expr):
        return None
    args = [log2.get(a) for a in node.args]
    if isinstance(node, sp.Pow):
        return _pow_log2(args[0], args[1])
    if any(a is None for a in args):
        return None
    if isinstance(node, sp.Add):
        return max(args) + math.log2(len(args))
    if isinstance(node, sp.Mul):
        return sum(args)
    if isinstance(node, sp.exp):
        return 2.0 ** args[0] * 1.5 if args[0] < 64 else inf
    if type(node).__name__ in _BOUNDED_FUNCTIONS:
        return max(args)
    # factorial, binomial, gamma, fibonacci, ... grow like n^n: only small arguments.
    return inf if 2.0 ** max(args) > MAX_GROWTH_ARGUMENT else MAX_GROWTH_ARGUMENT * max(args)


def _pow_log2(base: float | None, exponent: float | None) -> float | None:
    if exponent is None:
        return None
    if exponent > math.log2(MAX_ANSWER_EXPONENT if base is not None else MAX_SYMBOLIC_EXPONENT):
        return float("inf")
    return None if base is None else 2.0**exponent * base


def _float_log2(value: Any) -> float:
    try:
        return math.log2(abs(float(value)) + 1)
    except OverflowError:
        return float("inf")


def _verify_both_ways(a: str, b: str) -> bool:
    mv = _math_verify()
    la, lb = _to_latex(a), _to_latex(b)
    if not (_text_within_bounds(la) and _text_within_bounds(lb)):  # before the cache: no 100 kB keys
        return False
    pa, pb = list(_parse(la)), list(_parse(lb))
    if not pa or not pb:
        return False
    # verify() is asymmetric (gold, prediction) around assignments and equation-vs-interval
    # conversion; votes need a symmetric relation, so either direction counts.
    return bool(mv.verify(pa, pb, timeout_seconds=None) or mv.verify(pb, pa, timeout_seconds=None))


def _call_with_timeout(fn: Callable[[], bool], timeout_s: float) -> bool | None:
    """Run ``fn`` in a daemon thread and return its result, or None if it is still running.

    A Python thread cannot be killed, so a runaway sympy simplification keeps running in
    the background after we give up; it is a daemon and cannot block interpreter exit, and
    callers cache the verdict so the same pair never starts a second one.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except Exception as err:  # re-raised in the caller's thread below
            box["error"] = err

    worker = threading.Thread(target=target, name="canopy-answers-equal", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        return None
    if "error" in box:
        raise box["error"]
    return bool(box["value"])


@functools.lru_cache(maxsize=65536)
def _equal_cached(a: str, b: str, timeout_s: float) -> bool:
    if normalize_answer(a) == normalize_answer(b):
        return True
    _math_verify()  # import here, so the first call's import does not eat the timeout
    try:
        result = _call_with_timeout(lambda: _verify_both_ways(a, b), timeout_s)
    except Exception:
        # math-verify catches its own parse/compare errors; anything reaching here is a bug
        # in an edge case, and "not equal" is the safe verdict for a vote or a reward.
        logger.exception("answer comparison failed: %r vs %r", a, b)
        return False
    if result is None:
        logger.warning("answer comparison timed out after %.1fs: %r vs %r", timeout_s, a, b)
        return False
    return result


def answers_equal(a: str, b: str, *, timeout_s: float = 5) -> bool:
    """True when two final answers are mathematically equivalent (symmetric; cached).

    Handles fractions and decimals (``\\frac{1}{2}`` == ``0.5`` == ``1/2``), LaTeX, units and
    currency (``18 dollars`` == ``$18`` == ``18 cm``), thousands separators (``1,000`` ==
    ``1000``), percentages (``50%`` == ``50`` and ``50%`` == ``0.5``, but ``50`` != ``0.5``),
    and the sets, tuples and intervals math-verify supports. Empty answers equal nothing.
    Safe from any thread; a comparison that takes longer than ``timeout_s`` counts as unequal.
    """
    a, b = (a or "").strip(), (b or "").strip()
    if not a or not b:
        return False
    if max(len(a), len(b)) > 2 * MAX_ANSWER_CHARS:  # never compared symbolically; and no cache entry
        return normalize_answer(a) == normalize_answer(b)
    first, second = sorted((a, b))  # one cache entry per unordered pair
    return _equal_cached(first, second, float(timeout_s))


def group_answers(answers: Sequence[str]) -> list[tuple[str, list[int]]]:
    """Group the indices of equivalent answers for a majority vote.

    Each group is ``(key, indices)`` where ``key`` is ``normalize_answer`` of its first
    member. Equal keys always share a group; a new key joins the first earlier group whose
    first member it ``answers_equal``s. Order: largest group first, then first occurrence.
    """
    groups: list[tuple[str, str, list[int]]] = []  # (key, representative answer, indices)
    by_key: dict[str, int] = {}
    for index, answer in enumerate(answers):
        key = normalize_answer(answer or "")
        slot = by_key.get(key)
        if slot is None:
            slot = next(
                (g for g, (_, rep, _) in enumerate(groups) if answers_equal(rep, answer)),
                len(groups),
            )
            if slot == len(groups):
                groups.append((key, answer, []))
            by_key[key] = slot
        groups[slot][2].append(index)
    ordered = sorted(groups, key=lambda g: (-len(g[2]), g[2][0]))
    return [(key, indices) for key, _, indices in ordered]


def gold_answer(record_answer: str, dataset: str) -> str:
    """The gold final answer from a dataset record's answer field.

    GSM8K (and any answer containing ``####``) keeps what follows the last ``####``, with
    thousands separators removed (``#### 1,600`` -> ``1600``); MATH answers are returned
    as written.
    """
    text = str(record_answer).strip()
    if "####" in text or dataset.lower().startswith("gsm8k"):
        final = text.rsplit("####", 1)[-1].strip()
        return final.replace(",", "") if _THOUSANDS_RE.match(final) else final
    return text


def answer_grader(reference: str | None) -> Callable[[str], bool] | None:
    """A grader of stated answers against ``reference`` (None: no grader), memoised per answer:
    a tree states few distinct answers, each compared once (math-verify)."""
    if not reference:
        return None
    seen: dict[str, bool] = {}

    def grade(answer: str) -> bool:
        if answer not in seen:
            seen[answer] = answers_equal(answer, reference)
        return seen[answer]

    return grade
