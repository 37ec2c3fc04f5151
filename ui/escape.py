"""Escaping for every value from content (a problem, a model's step, an imported file, a URL)
that reaches the page as HTML or Markdown.

Gradio sanitises HTML (no script runs), but an ``<img src=...>`` or a Markdown image
``![x](http://...)`` in a step would still make the page fetch a URL of the content's
choosing, and the page promises that it makes no request off the machine. So content
never produces an element, an attribute or a link:

- ``esc``: HTML text or attribute values (Plotly hover texts and legend names too);
- ``md_esc``: a literal value inside a Markdown component (an answer, a method, a note,
  an error, a run id): every character that Markdown or HTML could read as markup is a
  numeric character reference, which Markdown shows as that character and never parses;
- ``md_code``: the same, shown in a code font (a run id); ``md_esc_code``: a backend message
  whose backtick spans are drawn as code;
- ``defang``: for content that keeps its Markdown and LaTeX (``ui.inspector.md_text``):
  the brackets of link and image syntax, the ``:`` of ``scheme://``, ``@`` of e-mail
  autolinks, ``www.`` and ``~~~`` become references, so no link, image, autolink or
  fenced block (Gradio draws a ``mermaid`` one as a diagram, labels as HTML) can form.

Gradio takes LaTeX spans out before Markdown and puts them back HTML-escaped, keeping
character references, which the browser decodes before KaTeX reads the text: so references
inside a formula still render as the characters they stand for.
"""

from __future__ import annotations

import html
import re
from typing import Any

#: a literal dollar: an entity in its own element, so that neither Gradio's Markdown
#: (whose LaTeX rule takes the first "$...$" anywhere in a paragraph) nor KaTeX's
#: auto-render (which pairs "$" signs across one text node) can take it for a delimiter
DOLLAR = '<span class="canopy-dollar">&#36;</span>'

#: what Markdown (CommonMark + GFM) or HTML can read as markup, in a value shown literally
_MD_SPECIAL = "\\`*_{}[]()<>#+-!|~:@&\"'="
_MD_TABLE = {ord(c): f"&#{ord(c)};" for c in _MD_SPECIAL} | {ord("$"): DOLLAR}
_SPACES = re.compile(r"\s+")
#: a "." makes markup only after a leading number (an ordered list) or in "www." (a GFM autolink)
_DOTS = re.compile(r"^(\d+)\.|(?i:www)\.")


def esc(value: Any) -> str:
    """``value`` as HTML text or attribute value: no tag, attribute or entity of its own."""
    return html.escape("" if value is None else str(value), quote=True)


def md_esc(value: Any) -> str:
    """``value`` shown literally, on one line, inside a Markdown component.

    Whitespace runs (newlines included) become one space, so the value cannot start a
    block of its own (a list, a heading, an indented code block) in the line it is put in.
    """
    return _literal(_SPACES.sub(" ", "" if value is None else str(value)).strip())


def _literal(text: str) -> str:
    return _DOTS.sub(lambda m: m.group(0)[:-1] + "&#46;", text.translate(_MD_TABLE))


def md_code(value: Any) -> str:
    """``value`` shown literally in a code font inside Markdown (a backtick code span could be
    closed by a backtick in the value; character references are not decoded inside one)."""
    return f"<code>{md_esc(value)}</code>"


#: a backtick code span in a backend message ("build one with `canopy build-ppm`")
_CODE_SPAN = re.compile(r"`([^`]+)`")


def md_esc_code(value: Any) -> str:
    """A backend message (a note, the PPM line) as ``md_esc`` shows it, except that its backtick
    code spans (written for the command line: "build one with `canopy build-ppm`") are drawn in a
    code font (``md_code``) instead of showing their backticks."""
    parts = _CODE_SPAN.split(_SPACES.sub(" ", "" if value is None else str(value)).strip())
    return "".join(md_code(p) if k % 2 else _literal(p) for k, p in enumerate(parts))


_DEFANG = re.compile(r"(\\*)([\[\]])|:(?=//)|@|(?i:www)\.|~{3,}")


def _defang(m: re.Match) -> str:
    if m.group(0).startswith("~"):  # "~~~" opens a fenced block (a mermaid diagram, say)
        return "&#126;" * len(m.group(0))
    slashes, bracket = m.group(1), m.group(2)
    if bracket is not None:
        # "\[" / "\]" delimit display math (and are a literal bracket to Markdown): keep them
        if len(slashes) % 2:
            return m.group(0)
        return f"{slashes}&#{ord(bracket)};"
    found = m.group(0)
    return found[:-1] + "&#46;" if found.endswith(".") else f"&#{ord(found)};"


def defang(markdown: str) -> str:
    """Markdown (already HTML-escaped) that can form no link, image, reference, autolink or
    ``~~~`` fence (``ui.inspector.md_text`` breaks unclosed backtick fences itself)."""
    return _DEFANG.sub(_defang, markdown)
