"""Model and problem text for a Markdown + LaTeX view (the inspector's step and goal, the path,
the best path, the problem preview): ``md_text``. Content is escaped first; then the rules that
keep GSM8K-style money, comments and programs readable: "$18" is money, "# Step 1" a comment,
``<code>`` a tag shown as text, ``a*b`` a times sign, and a ``$`` is a formula's delimiter only
when it pairs with another one as pandoc would (and not across a sentence or a line).
"""

from __future__ import annotations

import html
import re

from ui.escape import DOLLAR, defang

_HEADING = re.compile(r"^(\s*)#", re.MULTILINE)


#: three words in a row (outside ``\\text{…}``): a lone ``$`` paired with a later one across
#: a sentence ("Let $x be the number … 2x$ dollars"), not a formula
_WORDS = re.compile(r"\b[A-Za-z]{2,}[,.;:]?\s+[A-Za-z]{2,}[,.;:]?\s+[A-Za-z]+\b")
_COMMANDS = re.compile(r"\\[A-Za-z]+(\s*\{[^{}]*\})?")


def _prose(body: str) -> bool:
    """Whether the text between two ``$`` is a sentence, not math: a line break (an inline
    formula of model text never spans lines) or three plain words in a row."""
    return "\n" in body or bool(_WORDS.search(_COMMANDS.sub(" ", body)))


def _math_end(text: str, i: int) -> int | None:
    """Where the inline formula opened by the ``$`` at ``i`` closes, or None (a literal ``$``).

    Pandoc's rule: the opening ``$`` has a non-space right after it, the closing one a
    non-space right before it and no digit right after it. And, because problems are full
    of money: a ``$`` followed by a digit opens a formula only when it closes before the
    next space ("$2x+1=5$" is math, "costs $2 and $3" is money)."""
    n = len(text)
    if i + 1 >= n or text[i + 1].isspace() or text[i + 1] == "$":
        return None
    if text[i + 1].isdigit():
        j = i + 1
        while j < n and text[j] != "$" and not text[j].isspace():
            j += 1
        ok = j < n and text[j] == "$" and (j + 1 == n or not text[j + 1].isdigit())
        return j if ok else None
    j = i + 1
    while True:
        j = text.find("$", j + 1)
        if j < 0 or "\n\n" in text[i:j]:
            return None
        if not text[j - 1].isspace() and text[j - 1] != "\\" and (j + 1 == n or not text[j + 1].isdigit()):
            return None if _prose(text[i + 1 : j]) else j


#: inside the raw ``<code>`` element of a code span, Markdown still parses the content:
#: what it could read as markup is a character reference (``&`` and ``;`` stay, the body's
#: own references from ``html.escape`` must survive)
_CODE_TABLE = {ord(c): f"&#{ord(c)};" for c in "\\`*_[]()!~:@|"}


def _code_span(body: str) -> str:
    """A Markdown code span as HTML, its ``$`` literal: Gradio's LaTeX rule runs before
    code spans are recognised, so a ``$`` left in one paired with a ``$`` outside it.
    ``body`` is already HTML-escaped (``md_text``); CommonMark's rules for the content:
    line ends are spaces, and one space is stripped from each end when both have one."""
    body = body.replace("\n", " ")
    if len(body) > 2 and body[0] == " " and body[-1] == " " and body.strip(" "):
        body = body[1:-1]
    return "<code>" + body.translate(_CODE_TABLE).replace("$", DOLLAR) + "</code>"


def _dollars(text: str) -> str:
    """Keep the ``$`` that delimit formulas, make every other one a literal (``DOLLAR``).
    Code spans become HTML code elements (no formula and no markup inside them)."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "`":
            j = i
            while j < n and text[j] == "`":
                j += 1
            end = text.find(text[i:j], j)
            if end < 0:  # an unclosed run of backticks is text (three or more would open a fence)
                out.append(text[i:j] if j - i < 3 else "&#96;" * (j - i))
                i = j
                continue
            out.append(_code_span(text[j:end]))
            i = end + (j - i)
        elif c == "\\" and text.startswith("$", i + 1):
            out.append(DOLLAR)  # "\$": the writer's own literal dollar
            i += 2
        elif c != "$":
            j = i + 1
            while j < n and text[j] not in "$`\\":
                j += 1
            out.append(text[i:j])
            i = j
        elif text.startswith("$$", i):
            end = text.find("$$", i + 2)
            if end > i + 2:
                out.append(text[i : end + 2])  # display math
                i = end + 2
            else:
                out.append(DOLLAR * 2)
                i += 2
        else:
            end = _math_end(text, i)
            if end is None:
                out.append(DOLLAR)
                i += 1
            else:
                out.append(text[i : end + 1])
                i = end + 1
    return "".join(out)


#: a lone ``*`` between two operands (``a*b``, ``2*(x+1)``, ``c*b^3``): multiplication in a
#: goal or a program, which Markdown would pair with the next one as italics. Emphasis as
#: people write it (``*word*``, ``**bold**``) has a space or a line end on its outer side.
_TIMES = re.compile(r"(?<=[\w)\]}^.])(?<!\*)\*(?!\*)(?=[\w(\[{\\.])")


def md_text(text: str) -> str:
    """Model text for a Markdown+LaTeX view: "# Step 1" is a comment, not a heading,
    "$18" is money, not the start of a formula (GSM8K is full of both; see ``_math_end``),
    and tags such as rStar's ``<code>`` / ``<end_of_step>`` are shown, not interpreted as
    HTML. Markdown's emphasis, lists and LaTeX stay, but a ``*`` between two operands is a
    times sign (``_TIMES``: ``1/(a*b^3 + c*b^3)`` is not italics); links, images and autolinks
    cannot form (``ui.escape.defang``): content never makes the page fetch a URL."""
    text = html.escape(text, quote=False)
    return defang(_TIMES.sub("&#42;", _dollars(_HEADING.sub(r"\1\\#", text))))
