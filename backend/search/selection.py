"""Selection rules of the MCTS core, as pure functions over node statistics.

- UCT ``Q + c·sqrt(ln N_parent / N)`` with the official treatment of unvisited children:
  Q and U are 0, so an unvisited child scores 0 (not ∞) and ties go to the first child
  (rStar-Math ``nodes/mcts_node.py: puct`` and ``agents/mcts.py: select_child``).
- PUCT ``Q + c·prior·sqrt(N_parent)/(1+N)`` (CPL ``mcts_node.py``), for policies with priors;
  a child without a prior gets the uniform 1/k.

Virtual loss (when several rollouts walk the tree together, ``MCTSConfig.parallel``): a
node that ``pending`` walkers are passing through counts as ``pending`` extra visits of
value ``-virtual_loss`` each. With the official zero for unvisited children that alone does
not spread walkers (a visited child's exploration term, 2·sqrt(ln N / n), is 1.67 or more
for N ≥ 2 and outweighs a loss of 1, while an unvisited sibling scores 0), so ``pick(...,
spread=True)`` first skips children another walker already took while an untaken live
sibling exists. The rows still report the real N and Q; ``pending`` appears in a row only
when it is not zero.

Each selection returns per-child rows (id, n, q, prior, q_term, u_term, score) that go into
the ``node_selected`` event, so the UI can show why a child was picked.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backend.search.mcts import MNode


def uct_terms(parent_n: int, n: int, q: float, c: float) -> tuple[float, float]:
    """(Q term, exploration term) of UCT with the official zero for unvisited nodes."""
    if n == 0:
        return 0.0, 0.0
    if parent_n == 0:
        return q, 0.0
    return q, c * math.sqrt(math.log(parent_n) / n)


def puct_terms(parent_n: int, n: int, q: float, prior: float, c: float) -> tuple[float, float]:
    """(Q term, exploration term) of PUCT: ``Q + c·prior·sqrt(N_parent)/(1+N)`` (CPL)."""
    return (q if n else 0.0), c * prior * math.sqrt(parent_n) / (1 + n)


def effective_stats(node: MNode, virtual_loss: float) -> tuple[int, float]:
    """(N, Q) as selection sees them: real visits plus ``pending`` virtual losses."""
    if not node.pending:
        return node.n, node.q
    n = node.n + node.pending
    return n, (node.value_sum - virtual_loss * node.pending) / n


def selection_scores(node: MNode, c: float, rule: str, virtual_loss: float = 1.0) -> list[dict[str, Any]]:
    """Scores of every selectable (non-terminal, live) child, in child order."""
    live = [k for k in node.children if not (k.terminal or k.dead)]
    uniform = 1.0 / len(live) if live else 0.0
    parent_n, _ = effective_stats(node, virtual_loss)
    rows = []
    for kid in live:
        prior = kid.prior if kid.prior is not None else uniform
        n, q = effective_stats(kid, virtual_loss)
        if rule == "puct":
            q_term, u_term = puct_terms(parent_n, n, q, prior, c)
        else:
            q_term, u_term = uct_terms(parent_n, n, q, c)
        row = {
            "id": kid.id,
            "n": kid.n,
            "q": round(kid.q, 6),
            "prior": None if kid.prior is None else round(kid.prior, 6),
            "q_term": round(q_term, 6),
            "u_term": round(u_term, 6),
            "score": round(q_term + u_term, 6),
        }
        if kid.pending:
            row["pending"] = kid.pending
        rows.append(row)
    return rows


def pick(rows: Sequence[dict[str, Any]], *, spread: bool = False) -> int | None:
    """Index of the highest score; ties go to the first (official select_child).

    ``spread``: only among rows no other walker is in (``pending``) when there are any.
    """
    free = spread and any(not row.get("pending") for row in rows)
    best, best_i = -math.inf, None
    for i, row in enumerate(rows):
        if free and row.get("pending"):
            continue
        if row["score"] > best:
            best, best_i = row["score"], i
    return best_i
