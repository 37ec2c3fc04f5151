"""Find nodes of a (big) tree by text, answer, status or kind: what the page's search box asks.

A query is words, all of which must hold for a node: a plain word is looked for, without
case, in the step's text, code and execution output; ``status:error``, ``kind:answer`` and
``answer:18`` compare those fields (an answer by its canonical form, ``normalize_answer``,
so ``answer:18.0`` finds 18); ``#12`` is node 12. A pure function of a ``Tree``, linear in
its size (a 10,000-node tree is searched in a few milliseconds: bench/ui_latency.py).
"""

from __future__ import annotations

from collections.abc import Callable

from backend.tree import Node, Tree
from backend.verify.answers import normalize_answer

#: at most this many matches are returned (the page rings them; more would hide the tree)
MAX_MATCHES = 2000


def _term(word: str) -> Callable[[Node], bool]:
    key, _, value = word.partition(":")
    if value and key in ("status", "kind"):
        want = value.lower()
        return lambda n: (getattr(n, key) or "unverified").lower() == want
    if value and key == "answer":
        want = normalize_answer(value)
        return lambda n: n.answer is not None and normalize_answer(n.answer) == want
    if word.startswith("#") and word[1:].isdigit():
        nid = int(word[1:])
        return lambda n: n.id == nid
    low = word.lower()
    return lambda n: low in n.text.lower() or low in (n.code or "").lower() or low in n.output.lower()


def search_nodes(tree: Tree, query: str, limit: int = MAX_MATCHES) -> list[int]:
    """Ids of the nodes matching every word of ``query``, in id order ([] for an empty query)."""
    terms = [_term(w) for w in query.split()]
    if not terms:
        return []
    out = []
    for node in sorted(tree.nodes.values(), key=lambda n: n.id):
        if all(t(node) for t in terms):
            out.append(node.id)
            if len(out) >= limit:
                break
    return out
