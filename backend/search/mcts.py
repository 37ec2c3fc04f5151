"""The MCTS core shared by rStar-Math and CPL: it knows nothing of prompts or problems.

One iteration is one rollout, as in rStar-Math's ``solver.py``: start at the root and
repeatedly expand (if the node has no children yet) and select a child, until the chosen
node is terminal, every child of a node is terminal, or the depth limit is reached. So each
rollout completes a whole path. Per node:

- **expand** (``_expand``): all candidates of an expansion come from ONE engine call with
  ``n = children`` (the policy's ``propose``); the candidates are added, then verified
  together (``verify``: e.g. run their code in the sandbox), then terminal ones are rewarded.
- **select** (``select_child``): UCT ``Q + c·sqrt(ln N_parent / N)`` with the official
  treatment of unvisited children (Q and U are 0, so an unvisited child scores 0, not ∞)
  and ties to the first child (official ``nodes/mcts_node.py: puct`` and
  ``agents/mcts.py: select_child``); PUCT ``Q + c·prior·sqrt(N_parent)/(1+N)`` (CPL) when
  ``selection = "puct"``. Terminal children are never selected.
- **backpropagate**: a valid terminal's reward is added to every node from it up to the root
  (N += 1, W += r, Q = W/N; official ``update_recursive``); an invalid terminal (code error,
  no answer, too deep) gets the negative reward on itself only (official ``eval_final_answer``),
  or up to the root too when the search sets ``invalid_to_root`` (CPL's ``eval_final_answer``).

``parallel = k > 1`` (not in the official code, which parallelises across problems instead)
walks k rollouts together: at each level every walker selects, with a virtual loss on the
nodes the others are passing through (``selection.py``), and the leaves the walkers reach
are expanded in ONE engine call with several prompts (``Policy.propose_many``), which is
what lets a GPU server batch them. One ``step()`` then runs k rollouts.

**PPM-augmented MCTS** (rStar-Math rounds 2-4 and inference; official ``update_leaf_value``
and ``select_next_step``), when the run has a process preference model (``step_scorer``,
``backend/reward/step_scorer.py``): after each expansion is verified, ONE batched PPM call
values every new step that is not an invalid terminal (``_value_steps``); a non-terminal
step starts with N = 1 and Q = its PPM value (on itself, not backed up), so UCT compares
siblings by the PPM from their first visit; with the ``ppm`` reward a terminal's PPM value is
its reward and is backed up to the root (the ``truth`` reward of the training-data mode
replaces it there). Every value is a ``node_scored`` event with source ``ppm``. With a PPM
the final answer is the highest-Q terminal (``answer_choice = "auto"``).

Problem-specific work lives in a :class:`Policy`: ``root()``, ``propose()`` (one batched
generation) and ``verify()``. rStar-Math is ``backend/search/rstar.py``; CPL is
``backend/search/cpl.py``. A search may ask for a different number of candidates per node
(``children_for``: CPL samples 5 at the root, 3 elsewhere).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Literal, Protocol

from backend import events as ev
from backend.engines.base import Completion
from backend.reward import Candidate, choose_answer
from backend.reward.ppm_input import ppm_input, step_input
from backend.search.base import Outcome, Search, Stopped
from backend.search.config import check_config, knob
from backend.search.selection import pick, selection_scores
from backend.verify.answers import normalize_answer

# --- nodes and what a policy hands the core ------------------------------------------------


@dataclass(eq=False, slots=True)
class MNode:
    """A node of the live search tree (the event stream is its public face)."""

    id: int
    parent: MNode | None
    depth: int
    kind: ev.NodeKind
    prior: float | None = None
    n: int = 0
    value_sum: float = 0.0
    terminal: bool = False
    #: every child is terminal: nothing below can be selected (official sets is_terminal)
    dead: bool = False
    #: in a subtree the user pruned: never selected, its answers not counted
    pruned: bool = False
    expanded: bool = False
    #: walkers of a parallel iteration now passing through this node (virtual loss)
    pending: int = 0
    #: the final answer this node states (raw text), when it is a valid terminal
    answer: str | None = None
    #: why an invalid terminal ended: "error", "timeout", "no_answer", "too_deep", ...
    reason: str | None = None
    children: list[MNode] = field(default_factory=list)
    #: the policy's own payload (text, code, output, ...)
    state: dict[str, Any] = field(default_factory=dict)
    #: the step as its node_added event shows it (what a PPM was trained on)
    text: str = ""
    code: str | None = None

    @property
    def q(self) -> float:
        return self.value_sum / self.n if self.n else 0.0

    def path(self) -> list[MNode]:
        out: list[MNode] = []
        node: MNode | None = self
        while node is not None:
            out.append(node)
            node = node.parent
        return out[::-1]


@dataclass(frozen=True)
class NodeSpec:
    """A proposed node before it joins the tree."""

    kind: ev.NodeKind
    text: str
    code: str | None = None
    tokens: int = 0
    gen_ms: float = 0.0
    prior: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    """A policy's judgement of a new node; becomes its node_verified event."""

    status: ev.VerifyStatus
    method: str
    output: str = ""
    ms: float = 0.0
    answer: str | None = None
    terminal: bool = False
    reason: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


class Policy(Protocol):
    """The problem-specific half of a tree search."""

    def root(self) -> NodeSpec: ...

    def propose(self, search: MCTSSearch, node: MNode, n: int, seed: int) -> list[NodeSpec]:
        """Candidate children of ``node`` from one batched engine call (``search.generate``)."""
        ...

    def verify(self, search: MCTSSearch, nodes: Sequence[MNode]) -> list[Verdict]:
        """Judge new sibling nodes (run code, read answers), one verdict each, in order."""
        ...

    # Optional: ``propose_many(search, nodes, n, seed) -> list[list[NodeSpec]]`` proposes for
    # several nodes in one engine call (parallel rollouts); without it the core calls
    # ``propose`` once per node.


class StepPolicy:
    """What LLM step policies share: ``context(node)`` is the prompt for a node's children,
    and all candidates of several nodes come from one engine call (``sample``), so
    ``propose`` is ``propose_many`` for one node. Subclasses set ``cfg`` (with
    ``max_step_tokens``, ``temperature``, ``top_p``) and ``stops``."""

    cfg: Any
    stops: Sequence[str] = ()

    def propose(self, search: MCTSSearch, node: MNode, n: int, seed: int) -> list[NodeSpec]:
        return self.propose_many(search, [node], n, seed)[0]  # type: ignore[attr-defined]

    def user_step(self, text: str, code: str | None) -> NodeSpec:
        """A step a person wrote (steering, a fork's kept path), read as if the model had
        written it: the same step kinds, checks and verification."""
        from backend.steering import user_completion

        return self._spec(user_completion(text, code, self.stops), 0, 1.0)  # type: ignore[attr-defined]

    @staticmethod
    def dedup(outs: Sequence[Completion], key: Any) -> list[tuple[Completion, int]]:
        """Each distinct completion (by ``key(c)``) once, in order, with how many copies were dropped."""
        seen: dict[Any, int] = {}
        kept: list[list[Any]] = []
        for c in outs:
            k = key(c)
            if k in seen:
                kept[seen[k]][1] += 1
            else:
                seen[k] = len(kept)
                kept.append([c, 0])
        return [(c, d) for c, d in kept]

    @staticmethod
    def step_meta(c: Completion, kind: str, why: str, dups: int) -> dict[str, Any]:
        """What a step's node_added event says about its generation (finish, stop string,
        step kind, why it is malformed, how many duplicates were dropped)."""
        meta: dict[str, Any] = {"finish_reason": c.finish_reason, "stop": c.stop_reason, "step_kind": kind}
        if why:
            meta["note"] = why
        if dups:
            meta["duplicates"] = dups
        return meta

    def sample(self, search: MCTSSearch, nodes: Sequence[MNode], n: int, seed: int) -> list[list[Completion]]:
        """n completions per node's context, from one batched engine call."""
        cfg = self.cfg
        return search.generate(
            [self.context(node) for node in nodes],  # type: ignore[attr-defined]
            n=n,
            seed=seed,
            max_tokens=cfg.max_step_tokens,
            temperature=cfg.temperature,
            top_p=cfg.top_p,
            stop=list(self.stops),
        )


# --- config -----------------------------------------------------------------------------


@dataclass(frozen=True)
class MCTSConfig:
    rollouts: int = knob(8, "rollouts (iterations); each goes from the root to a terminal", min=1, max=10000)
    children: int = knob(4, "candidates per expansion, generated in one batched call", min=1, max=64)
    max_depth: int = knob(16, "deepest step; a deeper non-terminal step ends as too deep", min=1, max=64)
    c: float = knob(2.0, "exploration constant (official c_puct = 2)", min=0.0, max=100.0)
    selection: Literal["uct", "puct"] = knob("uct", "UCT (rStar-Math) or PUCT with priors (CPL)")
    temperature: float = knob(0.7, "sampling temperature of each step", min=0.0, max=2.0)
    top_p: float = knob(1.0, "nucleus sampling mass (official 1.0)", min=0.01, max=1.0)
    max_step_tokens: int = knob(256, "most tokens one step may generate", min=1, max=8192)
    token_budget: int = knob(0, "stop after this many generated tokens (0: no limit)", min=0)
    time_limit_s: float = knob(0.0, "stop after this many seconds (0: no limit)", min=0.0)
    negative_reward: float = knob(-1.0, "value of an invalid terminal, on itself only", min=-1.0, max=0.0)
    dedup: bool = knob(True, "drop duplicate candidates of one expansion (official llm_generate)")
    answer_choice: Literal["auto", "vote", "max_q"] = knob(
        "auto",
        "final answer: most-voted answer group, or the highest-Q terminal (eval_output.py); "
        "auto: the highest-Q terminal with a PPM, the vote without",
    )
    parallel: int = knob(
        1,
        "rollouts walked together per step; their leaves share one engine call (1: official, one at a time)",
        min=1,
        max=64,
    )
    virtual_loss: float = knob(
        1.0, "value each walker passing through a node counts as, while parallel > 1", min=0.0, max=10.0
    )

    def __post_init__(self) -> None:
        check_config(self)


# --- the search -------------------------------------------------------------------------


class MCTSSearch(Search):
    """MCTS over a :class:`Policy`; subclasses set ``Config`` and build ``self.policy``."""

    name = "mcts"
    Config = MCTSConfig
    policy: Policy

    _forced: int | None = None
    #: an invalid terminal's negative reward goes up to the root (CPL's eval_final_answer),
    #: not only onto itself (rStar-Math's)
    invalid_to_root: ClassVar[bool] = False
    #: the algorithm takes a process preference model (``step_scorer``)
    uses_ppm: ClassVar[bool] = False

    def __init__(
        self,
        problem: str,
        *,
        step_scorer: Any = None,
        notes: Sequence[str] = (),
        prefix: Sequence[dict[str, Any]] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(problem, **kwargs)
        #: a fork's kept path (``RunSpec.prefix``): steps added under the root before any search
        self.prefix = [dict(step) for step in prefix]
        #: lines for the root's notes (which PPM values the steps, or why none does)
        self.notes = [str(n) for n in notes]
        if step_scorer is not None and not self.uses_ppm:
            raise ValueError(f"{self.name} does not use a PPM; run it without one")
        if self.reward.name == "ppm" and step_scorer is None:
            raise ValueError("the ppm reward needs a PPM (step_scorer)")
        #: the run's PPM (``backend/reward/step_scorer.py``), or None
        self.step_scorer = step_scorer
        #: seconds spent in PPM calls (stats: ``ppm_s``)
        self.ppm_s = 0.0

    def _start(self) -> None:
        spec = self.policy.root()
        self.root = self._add(None, spec)
        self.nodes: dict[int, MNode] = {self.root.id: self.root}
        for note in self.notes:
            self.emit(ev.Note, level="info", message=note, node=self.root.id)
        parent = self.root
        for step in self.prefix:  # a fork: its kept path, one child each, run and verified
            parent.expanded = True
            parent = self.add_user_step(parent, step.get("text", ""), step.get("code"), author="fork")
            if parent.terminal:
                break

    def _add(self, parent: MNode | None, spec: NodeSpec) -> MNode:
        node = MNode(
            id=self.state.new_id(),
            parent=parent,
            depth=0 if parent is None else parent.depth + 1,
            kind=spec.kind,
            prior=spec.prior,
            state=dict(spec.state),
            text=spec.text,
            code=spec.code,
        )
        if parent is not None:
            parent.children.append(node)
            self.nodes[node.id] = node
        self.emit(
            ev.NodeAdded,
            id=node.id,
            parent=None if parent is None else parent.id,
            kind=spec.kind,
            text=spec.text,
            code=spec.code,
            prior=spec.prior,
            tokens=spec.tokens,
            gen_ms=round(spec.gen_ms, 3),
            meta=spec.meta,
        )
        return node

    def _exhausted(self) -> str | None:
        if self.state.started and (self.root.terminal or self.root.dead):
            return "tree"
        if self.state.iteration >= self.iteration_budget():
            return "rollouts"
        return None

    def iteration_budget(self) -> int:
        """How many iterations the rollouts buy: one walk each here (CPL's value head: leaves)."""
        return self.config.rollouts

    # --- one rollout ------------------------------------------------------------------

    def _iterate(self) -> None:
        if self.config.parallel > 1:
            self._iterate_parallel()
            return
        it = self.state.iteration
        node, path, levels = self.root, [self.root.id], []
        try:
            for _ in range(self.config.max_depth + 2):
                if node.terminal:
                    break
                if not node.expanded:
                    self._expand(node)
                rows = selection_scores(node, self.config.c, self.config.selection)
                index = self._forced_index(node, rows)
                if index is None:
                    index = pick(rows)
                if index is None:
                    self._mark_dead(node)
                    break
                node = self.nodes[rows[index]["id"]]
                path.append(node.id)
                levels.append(rows)
                self.emit(ev.NodeSelected, iteration=it, path=list(path), children=[list(r) for r in levels])
        finally:
            self.state.iteration += 1
            self._iteration_done(it)

    def _iteration_done(self, it: int) -> None:
        out = self.outcome()
        self.emit(
            ev.IterationDone, iteration=it, best_answer=out.answer, votes=out.votes, tokens=self.state.tokens
        )

    def _iterate_parallel(self) -> None:
        """k rollouts at once: select level by level with virtual loss, expand their leaves in
        one engine call. Each walker is its own iteration (its own node_selected events)."""
        cfg = self.config
        first = self.state.iteration
        k = min(self.config.parallel, self.config.rollouts - first)
        walkers = [
            {"it": first + j, "node": self.root, "path": [self.root.id], "levels": []} for j in range(k)
        ]
        self.root.pending += k
        marked: list[MNode] = [self.root] * k  # every pending increment, undone at the end
        try:
            active = list(walkers)
            for _ in range(self.config.max_depth + 2):
                active = [w for w in active if not w["node"].terminal]
                if not active:
                    break
                leaves = list({id(w["node"]): w["node"] for w in active if not w["node"].expanded}.values())
                if leaves:
                    self._expand_many(leaves)
                still = []
                for j, w in enumerate(active):
                    node = w["node"]
                    if node.terminal or node.dead:  # it became terminal, or expanding it found nothing
                        continue
                    rows = selection_scores(node, cfg.c, cfg.selection, cfg.virtual_loss)
                    index = self._forced_index(node, rows) if j == 0 else None
                    if index is None:
                        index = pick(rows, spread=True)
                    if index is None:
                        self._mark_dead(node)
                        continue
                    child = self.nodes[rows[index]["id"]]
                    child.pending += 1
                    marked.append(child)
                    w["node"] = child
                    w["path"].append(child.id)
                    w["levels"].append(rows)
                    self.emit(
                        ev.NodeSelected,
                        iteration=w["it"],
                        path=list(w["path"]),
                        children=[list(r) for r in w["levels"]],
                    )
                    still.append(w)
                active = still
        finally:
            for node in marked:
                node.pending -= 1
            self.state.iteration += k
            for w in walkers:
                self._iteration_done(w["it"])

    # --- user steering (backend/run.py calls steer between iterations) ----------------

    def steer(self, action: str, node_id: int | None, text: str = "", code: str | None = None) -> None:
        """``prune`` a node's subtree (never selected again, its answers not counted),
        ``expand`` it now, ``force`` the next rollout through it, or ``add_step``: the user's
        ``text``/``code`` as a new child. Impossible requests become a warning note, never an
        error."""
        node = self.nodes.get(node_id) if node_id is not None else None
        problem = None
        if node is None:
            problem = f"{action}: no node {node_id} in this tree"
        elif action == "prune":
            stack = [node]
            while stack:
                sub = stack.pop()
                sub.pruned = True
                stack.extend(sub.children)
            self._mark_dead(node)
        elif action == "add_step":
            if node.terminal or node.pruned:
                problem = f"add a step: node {node_id} is terminal or pruned"
            else:
                with contextlib.suppress(Stopped):
                    self.add_user_step(node, text, code)
        elif action == "expand":
            if node.terminal or node.dead or node.expanded:
                problem = f"expand: node {node_id} is terminal or already expanded"
            else:
                with contextlib.suppress(Stopped):  # a stop or a spent budget: nothing to expand
                    self._expand(node)
        elif action == "force":
            if node.terminal or node.dead:
                problem = f"force: node {node_id} is terminal or pruned"
            else:
                self._forced = node.id
        if problem:
            self.emit(ev.Note, level="warning", message=problem, node=node_id)

    def _forced_index(self, node: MNode, rows: list[dict[str, Any]]) -> int | None:
        """The row on the way to a forced node, while the rollout is still above it."""
        if self._forced is None:
            return None
        target = self.nodes[self._forced]
        chain = target.path()
        if node not in chain or node is target:
            self._forced = None
            return None
        nxt = chain[chain.index(node) + 1]
        if nxt is target:
            self._forced = None
        return next((i for i, r in enumerate(rows) if r["id"] == nxt.id), None)

    def add_user_step(self, parent: MNode, text: str, code: str | None, author: str = "user") -> MNode:
        """A person's step under ``parent``: added (meta ``author``), verified (code runs in the
        sandbox) and valued like a generated step; a live step revives ancestors that were
        dead only because every child had ended."""
        make = getattr(self.policy, "user_step", None)
        if make is not None:
            spec = make(text, code)
        else:
            spec = NodeSpec(kind="step", text=text, code=code, state={"text": text, "code": code or ""})
        spec = replace(spec, meta={**spec.meta, "author": author})
        kid = self._add(parent, spec)
        kid.pruned = parent.pruned
        self._apply_verdict(kid, self.policy.verify(self, [kid])[0])
        self._reward_terminals([kid], self._value_steps([kid]))
        node: MNode | None = parent
        while not kid.terminal and node is not None and node.dead and not node.pruned:
            node.dead = False
            node = node.parent
        return kid

    def children_for(self, node: MNode) -> int:
        """Candidates to generate when expanding ``node`` (CPL samples more at the root)."""
        return self.config.children

    def _expand(self, node: MNode) -> None:
        seed = self.state.call_seed(self.state.iteration, node.id)
        self._grow(node, self.policy.propose(self, node, self.children_for(node), seed))

    def _expand_many(self, nodes: Sequence[MNode]) -> None:
        """Expand several leaves; with ``propose_many`` the candidates of leaves that ask for
        the same number of children come from one engine call."""
        if len(nodes) == 1 or not hasattr(self.policy, "propose_many"):
            for node in nodes:
                self._expand(node)
            return
        groups: dict[int, list[MNode]] = {}
        for node in nodes:
            groups.setdefault(self.children_for(node), []).append(node)
        for n, group in groups.items():
            seed = self.state.call_seed(self.state.iteration, group[0].id, len(group))
            proposals = self.policy.propose_many(self, group, n, seed)
            for node, specs in zip(group, proposals, strict=True):
                self._grow(node, specs)

    def _grow(self, node: MNode, specs: Sequence[NodeSpec]) -> None:
        """Add the proposed children, verify them together, reward the terminal ones."""
        node.expanded = True
        kids = [self._add(node, spec) for spec in specs]
        if not kids:
            self._mark_dead(node)
            return
        verdicts = self.policy.verify(self, kids)
        for kid, verdict in zip(kids, verdicts, strict=True):
            self._apply_verdict(kid, verdict)
        self._reward_terminals(kids, self._value_steps(kids))

    def _ppm_text(self, node: MNode) -> str:
        """The node's step in context, as the PPM was trained to read it."""
        return ppm_input(self.root.text, (step_input(n.text, n.code) for n in node.path()[1:]))

    def _value_steps(self, kids: Sequence[MNode]) -> dict[int, float]:
        """With a PPM: one batched call values every new step except invalid terminals; each
        value is a ``node_scored`` event, and a non-terminal step starts with N = 1, Q = value
        (official ``update_leaf_value``). Returns node id -> value."""
        if self.step_scorer is None:
            return {}
        scored = [k for k in kids if not (k.terminal and k.answer is None)]
        if not scored:
            return {}
        t = time.monotonic()
        values = self.step_scorer.score_steps([self._ppm_text(k) for k in scored])
        self.ppm_s += time.monotonic() - t
        if len(values) != len(scored):
            raise RuntimeError(f"the PPM gave {len(values)} values for {len(scored)} steps")
        out: dict[int, float] = {}
        for kid, value in zip(scored, values, strict=True):
            value = float(value)
            out[kid.id] = value
            self.emit(ev.NodeScored, id=kid.id, score=round(value, 6), source="ppm")
            if not kid.terminal:
                self._backprop(kid, value, to_root=False)
        return out

    def _mark_dead(self, node: MNode | None) -> None:
        """Nothing below ``node`` can be selected (official: a node whose children are all
        terminal becomes terminal); the ancestors it leaves without live children follow."""
        while node is not None:
            node.dead = True
            node = node.parent
            if node is None or any(not (k.terminal or k.dead) for k in node.children):
                return

    def _apply_verdict(self, kid: MNode, v: Verdict) -> None:
        kid.terminal = v.terminal
        kid.reason = v.reason
        kid.answer = v.answer if v.terminal else None
        if not kid.terminal and kid.depth > self.config.max_depth:
            kid.terminal, kid.reason = True, "too_deep"  # official TOO_MANY_STEPS
        detail = dict(v.detail)
        if kid.reason:
            detail["reason"] = kid.reason
        if kid.answer is not None:
            detail["raw_answer"] = kid.answer
        self.emit(
            ev.NodeVerified,
            id=kid.id,
            status=v.status,
            method=v.method,
            output=v.output,
            ms=round(v.ms, 3),
            answer=None if kid.answer is None else normalize_answer(kid.answer),
            terminal=kid.terminal,
            detail=detail,
        )

    def _reward_terminals(self, kids: Sequence[MNode], ppm: dict[int, float] | None = None) -> None:
        """Invalid terminals: the negative reward. Valid ones: the reward's value, backed up
        to the root; with the ``ppm`` reward that is the PPM value ``_value_steps`` found
        (already a ``node_scored`` event), so the PPM is called once per expansion."""
        valid = [k for k in kids if k.terminal and k.answer is not None]
        for kid in kids:
            if kid.terminal and kid.answer is None:
                self._backprop(kid, self.config.negative_reward, to_root=self.invalid_to_root)
        if not valid:
            return
        if self.reward.name == "ppm":
            for kid in valid:
                self._backprop(kid, (ppm or {})[kid.id], to_root=True)
            return
        texts = None
        if getattr(self.reward, "reads_steps", False):  # a reward that reads each terminal in context
            texts = [self._ppm_text(k) for k in valid]
        values = self.reward.score([k.answer for k in valid], texts)
        for kid, value in zip(valid, values, strict=True):
            self.emit(ev.NodeScored, id=kid.id, score=round(value, 6), source=self.reward.name)
            self._backprop(kid, value, to_root=True)

    def _backprop(self, node: MNode, value: float, *, to_root: bool) -> None:
        chain = node.path() if to_root else [node]
        for n in chain:
            n.n += 1
            n.value_sum += value
        self.emit(
            ev.Backprop,
            iteration=self.state.iteration,
            path=[n.id for n in chain],
            reward=round(value, 6),
            updated=[[n.id, n.n, round(n.q, 6)] for n in chain],
        )

    # --- the answer -------------------------------------------------------------------

    def outcome(self) -> Outcome:
        cands = [
            Candidate(node=k.id, answer=k.answer, q=k.q, n=k.n)
            for k in self.nodes.values()
            if k.terminal and k.answer is not None and not k.pruned
        ]
        best, votes = choose_answer(cands, self.answer_choice())
        if best is None:
            return Outcome(None, self._descend_by_q(), votes)
        return Outcome(
            normalize_answer(best.answer), [n.id for n in self.nodes[best.node].path()], votes, best.node
        )

    def answer_choice(self) -> str:
        """``vote`` or ``max_q``: the config's, or for ``auto`` max_q with a PPM, else vote."""
        how = self.config.answer_choice
        if how == "auto":
            return "max_q" if self.step_scorer is not None else "vote"
        return how

    def stats(self) -> dict[str, Any]:
        out = super().stats()
        if self.step_scorer is not None:
            out["ppm_s"] = round(self.ppm_s, 3)
        return out

    def _descend_by_q(self) -> list[int]:
        path, node = [self.root.id], self.root
        while node.children:
            node = max(node.children, key=lambda k: (k.q, k.n, -k.id))
            path.append(node.id)
        return path
