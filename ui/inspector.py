"""What the inspector shows for one node, and the run summary panels, as plain data.

Pure functions of a Tree, so they are tested without Gradio and reused by the Solve and
History screens alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from backend.ppm_diagnostics import Pick, pick_driver
from backend.tree import Node, Tree
from ui import vocabulary as voc
from ui import words
from ui.escape import DOLLAR, md_esc
from ui.figure import Grade, drawn_status
from ui.model_text import md_text
from ui.stories import lips_answer, node_story
from ui.words import plural

__all__ = ["DOLLAR", "NodeView", "answer_panel", "md_text", "node_view", "stats_panel"]

UCT_HEADERS = ["node", "N", "Q", "prior", "Q term", "U", "score"]


@dataclass(frozen=True)
class NodeView:
    """Inspector contents for one node."""

    title: str = "Click a node in the tree to inspect it."
    text: str = ""
    code: str = ""
    output: str = ""
    verification: str = ""
    numbers: str = ""
    uct: list[list[Any]] = field(default_factory=list)
    uct_note: str = ""
    path: str = ""
    #: why the node was picked at its last selection, in words (``pick_text``)
    why: str = ""
    #: the node's algorithm runs code: the code and execution output boxes are shown
    runs_code: bool = True


def _fmt(v: float | None, digits: int = 3) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def _first_line(node: Node, width: int = 90) -> str:
    line = next((ln.strip() for ln in node.text.splitlines() if ln.strip()), "")
    if not line and node.code:
        line = node.code.strip().splitlines()[0]
    line = line.replace("|", "\\|")
    return line if len(line) <= width else line[: width - 1] + "…"


def node_view(
    tree: Tree,
    node_id: int | None,
    pick: Pick | None = None,
    grade: Grade | None = None,
    events: list[Any] | None = None,
) -> NodeView:
    """The inspector for ``node_id`` (a friendly message when it does not exist); ``pick``
    (``backend.ppm_diagnostics.last_pick`` of the run's events) explains its last selection;
    ``grade`` grades an answer against the run's known answer, as the tree draws it; the node
    is named in its algorithm's words (``ui/vocabulary.py``) and, for LIPS, ``events`` (the run's,
    up to this tree) tell the goal's whole story: the tactic, the check that made it, its close."""
    if node_id is None:
        return NodeView()
    node = tree.nodes.get(int(node_id))
    if node is None:
        return NodeView(title=f"Node {md_esc(node_id)} is not in this tree (yet).")
    vocab = voc.of_tree(tree)
    label = vocab.style(node, drawn_status(node, grade))[2]
    title = f"### Node #{md_esc(node.id)} · {md_esc(vocab.kind_word(node))} · depth {node.depth} · {label}"
    if node.terminal:
        title += " · terminal"
    if (node.meta or {}).get("greedy_program"):
        title += " · the greedy program from here (temperature 0)"
    verification = "Not verified."
    if node.status is not None:
        verification = (
            f"**{md_esc(node.status)}** by {md_esc(node.method or '?')} in {_fmt(node.verify_ms, 1)} ms"
        )
        if node.answer is not None:
            verification += f" · answer: **{md_esc(node.answer)}**"
    if node.pruned:
        verification += " · pruned by the user"
    if not vocab.runs_code:
        verification += node_story(vocab, tree, node, events)
    scores = ", ".join(f"{md_esc(k)} {_fmt(v)}" for k, v in sorted((node.scores or {}).items())) or "–"
    numbers = (
        f"{ppm_q_n(node)}\n\n**prior** {_fmt(node.prior)} · **tokens** {node.tokens} · "
        f"**generation** {_fmt(node.gen_ms, 1)} ms · scores: {scores}"
    )
    why = pick_text(tree, node, pick)
    if vocab.family == "lips":
        numbers = f"depth {node.depth} · {LIPS_NUMBERS}" + (f" · scores: {scores}" if node.scores else "")
        why = LIPS_WHY
    uct, note = uct_rows(node)
    path = "\n".join(
        f"{i}. #{md_esc(nid)} {md_text(_first_line(tree.nodes[nid]))}"
        for i, nid in enumerate(tree.path_to(node.id))
    )
    return NodeView(
        title=title,
        text=md_text(node.text).strip().replace("\n", "  \n") or "_(no text)_",  # keep the step's lines
        code=node.code or "",
        output=node.output or "",
        verification=verification,
        numbers=numbers,
        uct=uct,
        uct_note=note,
        path=path,
        why=why,
        runs_code=vocab.runs_code,
    )


#: a LIPS goal has no visits or values: the search ranks the goals in a queue (docs/LIPS.md)
LIPS_NUMBERS = "LIPS takes goals from a ranked queue (no visits N, no value Q, no PPM)"
LIPS_WHY = (
    "LIPS does not select by UCT: it pops the best-ranked open goal from its queue, tries to close "
    "it, and otherwise adds the goals its tactics make from it."
)


def ppm_q_n(node: Node) -> str:
    """PPM, Q and N side by side (a Markdown table): what the PPM said about the step, what
    the search has made of it since, and how often the search went through it."""
    shown = _fmt(node.ppm) if node.ppm is not None else "not scored"
    if node.ppm is None and node.parent is None:
        shown += " (the root)"
    return f"| PPM | Q | N |\n|---|---|---|\n| {shown} | {_fmt(node.q)} | {node.n} |"


def _term(v: Any) -> str:
    return f"{v:.2f}" if isinstance(v, int | float) and not isinstance(v, bool) else "–"


def pick_text(tree: Tree, node: Node, pick: Pick | None) -> str:
    """The node's last selection in words a teacher can read: its Q term (and the PPM score
    Q started from) plus its exploration term, against the best sibling, and which of the
    two terms won it (``backend.ppm_diagnostics.pick_driver``)."""
    if node.parent is None:
        return "The root: every rollout starts here."
    if pick is None:
        return "Not picked by a selection step yet (or this algorithm does not select)."
    row = pick.row
    start = f" (PPM start {_term(node.ppm)})" if node.ppm is not None else ""
    text = (
        f"**Picked at iteration {md_esc(pick.iteration)}:** Q term {_term(row.get('q_term'))}{start} + "
        f"exploration {_term(row.get('u_term'))} = {_term(row.get('score'))}"
    )
    driver, rival = pick_driver(pick), pick.rival
    if rival is None:
        return text + (
            "; it was the only child that could be picked (its siblings had all ended: failed, "
            "answered or fully explored)."
        )
    text += (
        f", against {_term(rival.get('score'))} for #{md_esc(rival.get('id'))} (Q term "
        f"{_term(rival.get('q_term'))} + exploration {_term(rival.get('u_term'))})"
    )
    return text + DRIVER_WORDS[driver]


#: how ``pick_text`` ends, by ``pick_driver``'s verdict (a rival exists)
DRIVER_WORDS = {
    "tie": ": a tie, which goes to the first child in order.",
    "both": ": it was ahead on both value and exploration.",
    "value": ": **value drove it** (its higher Q term outweighed the rival's larger exploration term).",
    "exploration": (
        ": **exploration drove it** (fewer visits gave it a bigger exploration term, "
        "more than the rival's higher Q term)."
    ),
}


#: why an unvisited sibling's row reads U 0 / score 0 (textbook UCT would give it ∞)
UNVISITED_NOTE = (
    "N 0: not visited yet. Its U and score are 0, not ∞: rStar-Math's official rule "
    "(an unvisited child scores 0 and ties go to the first child), followed here."
)
ROOT_NOTE = (
    "The root is never chosen by a selection step: every rollout starts here. Click one of "
    "its children to see how the search chose among them."
)


def uct_rows(node: Node) -> tuple[list[list[Any]], str]:
    """The siblings' selection terms when this node was last selected, as table rows (the
    chosen one marked ◀ in its id cell, so the table has no column for it), and a note."""
    if node.parent is None:
        return [], ROOT_NOTE
    if not node.selection:
        return [], ""  # the pick line above already says it was never picked
    rows = []
    for s in node.selection:
        rows.append(
            [
                f"#{s.get('id')}" + (" ◀" if s.get("id") == node.id else ""),
                s.get("n"),
                _fmt(s.get("q")),
                _fmt(s.get("prior")),
                _fmt(s.get("q_term")),
                _fmt(s.get("u_term")),
                _fmt(s.get("score")),
            ]
        )
    note = "Siblings at the parent's last selection (◀ the one chosen): score = Q term + U (exploration)."
    if any(s.get("n") == 0 and not s.get("u_term") for s in node.selection):
        note += " " + UNVISITED_NOTE
    return rows, note


def uct_table(rows: list[list[Any]]) -> str:
    """The selection rows as a compact Markdown table ('' when there are none: the note
    alone says why), narrow enough for the inspector's column (CSS: ``.canopy-uct``)."""
    if not rows:
        return ""
    head = "| " + " | ".join(UCT_HEADERS) + " |\n|" + "---:|" * len(UCT_HEADERS)
    body = ["| " + " | ".join(md_esc(v) for v in row) + " |" for row in rows]
    return "**Selection (UCT / PUCT)**\n\n" + "\n".join([head, *body])


def answer_panel(tree: Tree, events: list[Any] | None = None) -> str:
    """Final (or best-so-far) answer with its badge, and the best path as readable text; for
    LIPS the verdict and the readable proof (``events``: the run's, for the proof's steps)."""
    if voc.of_tree(tree).family == "lips":
        return lips_answer(tree, events)
    fin = tree.finished
    best = tree.best_path()
    votes = tree.answer_votes()
    if fin is not None:
        badge = {True: "✓ correct", False: "✗ wrong", None: "ungraded"}[fin.correct]
        answer = md_esc(fin.answer) if fin.answer is not None else "(none)"
        ended = "finished" if fin.status == "solved" and fin.correct is not None else md_esc(fin.status)
        head = f"**Final answer: {answer}** · {badge} · run {ended}"
        if fin.reference is not None:
            head += f" · known answer {md_esc(fin.reference)}"
        if fin.error:
            head += f"\n\nError: {md_esc(fin.error)}"
    else:
        live = tree.iterations[-1].best_answer if tree.iterations else None
        head = f"**Best answer so far: {md_esc(live) if live is not None else '(none yet)'}**"
    lines = [head]
    if votes:  # a paragraph of its own: one newline ran it on after "known answer 3"
        lines.append("\nVotes: " + ", ".join(f"{md_esc(a)}: {v:g}" for a, v in list(votes.items())[:6]))
    if len(best) > 1:
        lines.append("\n**Best path**\n")
        lines.append(best_path_text(tree, best))
    return "\n".join(lines)


def best_path_text(tree: Tree, path: list[int]) -> str:
    """The best path as one program (code steps) or as a numbered list (prose steps)."""
    steps = [tree.nodes[i] for i in path[1:]]
    if any(n.code for n in steps):
        body = []
        for n in steps:
            body.append((n.code or "\n".join(f"# {ln}" for ln in n.text.strip().splitlines())).rstrip())
        last = steps[-1]
        if last.output.strip():
            body.append("\n".join(f"# output: {ln}" for ln in last.output.strip().splitlines()[:10]))
        fence = _fence("\n".join(body))
        return f"{fence}python\n" + "\n".join(body) + f"\n{fence}"
    return "\n".join(f"{k}. {md_text(' '.join(n.text.split())[:500])}" for k, n in enumerate(steps, 1))


def _fence(code: str) -> str:
    """A code fence longer than any run of backticks in ``code``: the code cannot close it
    and go on as Markdown (an image, a mermaid diagram) after it."""
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    return "`" * max(3, longest + 1)


#: the verification method of a node whose time is the sandbox running its program
SANDBOX_METHODS = frozenset({"python"})


def time_split(tree: Tree) -> tuple[float, float]:
    """(execution s, verification s) summed over the nodes so far: a node verified by
    running its program in the sandbox counts as execution, any other check (an answer, a
    format, sympy/z3) as verification, as the search's own final stats file them."""
    exec_ms = verify_ms = 0.0
    for node in tree.nodes.values():
        if node.method in SANDBOX_METHODS:
            exec_ms += node.verify_ms
        else:
            verify_ms += node.verify_ms
    return exec_ms / 1000, verify_ms / 1000


def stats_panel(tree: Tree) -> str:
    """Iterations, nodes, tokens, tokens/s and the time split, live or final (the search's
    own totals once it has finished, the nodes' times summed while it runs)."""
    s = tree.stats()
    fin = tree.finished.stats if tree.finished is not None else {}
    live_exec, live_verify = time_split(tree)
    wall = float(fin.get("wall_s", s["t"]) or 0)
    gen_s = float(fin.get("gen_s", s["gen_ms"] / 1000))
    verify_s = float(fin.get("verify_s", live_verify))
    exec_s = float(fin.get("exec_s", live_exec))
    tokens = int(fin.get("tokens", s["tokens"]))
    tps = tokens / gen_s if gen_s > 0 else 0.0
    statuses = ", ".join(f"{md_esc(k)} {v}" for k, v in sorted(s["statuses"].items()))
    count, rounds = voc.rounds_phrase(tree, s["iterations"]).split(" ", 1)  # "iterations" or "pops (…)"
    return (
        f"**{count}** {rounds} · **{s['nodes']}** {plural(s['nodes'], 'node')} · depth {s['depth']} · "
        f"{words.count(tokens, 'token')} · "
        f"{tps:.1f} tokens/s · wall {wall:.1f} s (generation {gen_s:.1f} s, execution {exec_s:.1f} s, "
        f"verification {verify_s:.1f} s)\n\nNodes by status: {statuses}"
    )
