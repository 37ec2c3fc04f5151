"""CPL (Wang et al. 2024, arXiv 2409.08642): MCTS over abstract plan steps.

Official code: GitHub keesh0410/CPL-Reasoning @61b99b4 (``mcts_plan/``). This file is the
plan-space policy over the shared core (``backend/search/mcts.py``):

- the plan format of ``backend/search/cpl_format.py`` (``Plan k: …<endstep>`` steps, then
  one ``Detailed Implementation: … \\boxed{} …<endsolution>`` step);
- PUCT selection ``Q + 1.5·prior·sqrt(N_parent)/(1+N)`` with prior = exp(mean token
  log-prob) of the step's generation (official ``mcts_tree.py: expand_node``); an engine
  without log-probs leaves the prior empty (uniform 1/k, stated in the node's meta).
  Children are listed by prior, highest first: the core gives ties to the first child, so a
  fresh node's first visit goes to its likeliest step, as the official PUCT does (there
  the value head has already visited the parent);
- 5 candidates at the root, 3 elsewhere (official ``mcts_solver.py: solve`` sets ``n = 5``
  at step 0); duplicates (same stripped text) dropped;
- a plan step is non-terminal; a solution with a ``\\boxed{}`` answer is a terminal answer;
  a solution without one, a malformed step, and any step deeper than ``max_depth`` are
  invalid terminals whose negative reward goes up to the root (official ``create_child``,
  ``eval_final_answer`` with ``update_recursive(…, root)``);
- ``expansions`` bounds the number of expansions, the unit of the official ``iterations``;
- ``step_format``: ``plan`` (round 1) or ``xml`` (round 2's tags, ``cpl_format.py``).

**Value head** (official ``mcts_tree.py: generate_next_step`` and ``mcts_solver.py``), when
the run has one (``RunSpec.ppm`` naming a ``canopy-cpl-value`` directory, handed to the search
as its ``step_scorer`` like rStar-Math's PPM; ``backend/train/value_head.py``): one iteration
selects ONE leaf by PUCT from the root, the head's estimate of that leaf (its path rendered as
the official value data, ``value_chunks``) is backed up from the leaf to the root BEFORE the
leaf is expanded, then the leaf's children are generated and the terminal ones graded (±1
with ``truth``, backed up to the root). The budget is then in leaves (official
``iterations``): ``expansions`` when set, else ``rollouts × max_depth`` leaves (a rollout's
worth of expansions each: ``CPLSearch.leaf_budget``). Without a head, terminals alone give
values (each rollout walks down to one) and are rewarded by the run's reward like rStar:
``vote`` (agreement, no ground truth) when a search is evaluated, ``truth`` (±1 against the
known answer, the official terminal reward) only in that named training-data mode.
Differences are listed in docs/ALGORITHMS.md.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from backend import events as ev
from backend.engines.base import Completion
from backend.search.base import Stopped
from backend.search.config import check_config, knob
from backend.search.cpl_format import (
    PLANS,
    STEP_STOPS,
    XML,
    XML_STOPS,
    PlanStep,
    XMLPrompt,
    load_prompt,
    plain_step,
    read_step,
    read_xml_step,
    value_chunks,
)
from backend.search.mcts import MCTSConfig, MCTSSearch, MNode, NodeSpec, StepPolicy, Verdict
from backend.search.selection import pick, selection_scores

#: the ``format`` of a CPL value head directory's marker (``backend/train/value_head.py``)
VALUE_FORMAT = "canopy-cpl-value"


@dataclass(frozen=True)
class CPLConfig(MCTSConfig):
    # Defaults are the cpu-demo preset (the embedded 0.5B model on 2 CPU cores).
    rollouts: int = knob(
        3,
        "rollouts; each goes from the root to a terminal (with a value head: max_depth leaves each; "
        "official: see expansions)",
        min=1,
        max=10000,
    )
    expansions: int = knob(
        0, "stop after this many expansions (official iterations 200 / 100; 0: no limit)", min=0, max=100000
    )
    children: int = knob(3, "candidates per expansion in one batched call (official 3)", min=1, max=64)
    root_children: int = knob(5, "candidates when expanding the root (official 5)", min=1, max=64)
    max_depth: int = knob(
        6, "deepest step; any deeper step is an invalid terminal (official 6)", min=1, max=64
    )
    c: float = knob(1.5, "PUCT exploration constant (official c_puct 1.5)", min=0.0, max=100.0)
    selection: Literal["uct", "puct"] = knob("puct", "PUCT with priors (CPL) or UCT")
    temperature: float = knob(0.7, "sampling temperature (official 0.7)", min=0.0, max=2.0)
    max_step_tokens: int = knob(256, "most tokens one step may generate (official 1500)", min=1, max=8192)
    negative_reward: float = knob(
        -1.0, "value of an invalid terminal, backed up to the root (official -1)", min=-1.0, max=0.0
    )
    few_shot: int = knob(2, "demonstrations in the prompt (official 2)", min=0, max=2)
    chat: bool = knob(True, "render with the model's chat template (off: the official raw completion prompt)")
    step_format: Literal["plan", "xml"] = knob(
        "plan", "step format: round 1's Plan k:/<endstep> or round 2's XML tags"
    )

    def __post_init__(self) -> None:
        check_config(self)


# mcts_plan/configs/mcts_round1.yaml: iterations 200 = expansions (rollouts do not bind)
_ROUND1: dict[str, Any] = {
    "expansions": 200,
    "rollouts": 10000,
    "children": 3,
    "root_children": 5,
    "max_depth": 6,
    "temperature": 0.7,
    "max_step_tokens": 1500,
    "negative_reward": -1.0,
}
PRESETS: dict[str, dict[str, Any]] = {
    "paper-round1": _ROUND1,
    # mcts_plan/configs/mcts_round2.yaml: iterations 100 and the XML step format
    "paper-round2": {**_ROUND1, "expansions": 100, "step_format": "xml"},
    # sized for the embedded 0.5B model on 2 CPU cores (a few minutes per problem)
    "cpu-demo": {},
}


def policy_prefix(problem: str, engine: Any, cfg: CPLConfig) -> str:
    """The prompt before the first step, in the config's format (what the search sends, and
    what CPL's SFT and Step-APO data put before a path: ``backend/evolve/cpl_data.py``)."""
    prompt = load_prompt()
    if cfg.step_format == XML:
        xml = XMLPrompt.from_round1(prompt)
        if cfg.chat:
            return engine.chat_prompt(xml.messages(problem, cfg.few_shot))
        return xml.raw_prompt(problem, cfg.few_shot)
    if cfg.chat:
        return engine.chat_prompt(prompt.messages(problem, cfg.few_shot)) + PLANS
    return prompt.raw_prompt(problem, cfg.few_shot)


class CPLPolicy(StepPolicy):
    """Prompts, step reading and verification of CPL's plan steps."""

    stops: tuple[str, ...] = STEP_STOPS

    def __init__(self, problem: str, engine: Any, cfg: CPLConfig) -> None:
        self.problem = problem
        self.cfg = cfg
        self.prefix = policy_prefix(problem, engine, cfg)
        if cfg.step_format == XML:
            self.stops = XML_STOPS

    def root(self) -> NodeSpec:
        return NodeSpec(kind="root", text=self.problem, meta={"prompt_chars": len(self.prefix)})

    def context(self, node: MNode) -> str:
        """The prompt for ``node``'s children: prefix + each plan step + ``<endstep>\\n``."""
        return self.prefix + "".join(n.state["step"].context for n in node.path()[1:])

    def propose_many(
        self, search: MCTSSearch, nodes: Sequence[MNode], n: int, seed: int
    ) -> list[list[NodeSpec]]:
        """n candidate next steps for each node, from one batched engine call."""
        batches = self.sample(search, nodes, n, seed)
        out = []
        for outs in batches:
            share = 1.0 / max(len(outs), 1)  # an engine reports a prompt's wall time on each completion
            specs = [self._spec(c, dups, share) for c, dups in self._dedup(outs)]
            # highest prior first (stable): the core's tie rule then picks it on a fresh node
            specs.sort(key=lambda s: -(s.prior if s.prior is not None else 0.0))
            out.append(specs)
        return out

    def _dedup(self, outs: Sequence[Completion]) -> list[tuple[Completion, int]]:
        """Official ``expand_node``: drop completions whose stripped text was already seen."""
        if not self.cfg.dedup:
            return [(c, 0) for c in outs]
        return self.dedup(outs, key=lambda c: c.text.strip())

    def value_text(self, node: MNode) -> str:
        """The node's path as the value head reads it (official value data, ``value_chunks``)."""
        return "".join(value_chunks(self.problem, [plain_step(n.text) for n in node.path()[1:]]))

    def _spec(self, c: Completion, dups: int, share: float) -> NodeSpec:
        step = read_xml_step(c) if self.cfg.step_format == XML else read_step(c)
        meta = self.step_meta(c, step.kind, step.why, dups)
        prior = None
        if c.mean_logprob is not None:
            prior = math.exp(c.mean_logprob)
            meta["mean_logprob"] = round(c.mean_logprob, 4)
            meta["prior_source"] = "exp(mean token log-prob)"
        else:
            meta["prior_source"] = "uniform: the engine gave no log-probs"
        kind = {"plan": "plan", "solution": "answer"}.get(step.kind, "step")
        return NodeSpec(
            kind=kind,
            text=step.text,
            tokens=c.tokens,
            gen_ms=c.gen_ms * share,
            prior=prior,
            meta=meta,
            state={"step": step},
        )

    def verify(self, search: MCTSSearch, nodes: Sequence[MNode]) -> list[Verdict]:
        return [self._verdict(node) for node in nodes]

    def _verdict(self, node: MNode) -> Verdict:
        step: PlanStep = node.state["step"]
        if node.depth > self.cfg.max_depth:  # official: checked before the step is read
            return Verdict("error", "depth", output=f"deeper than max_depth {self.cfg.max_depth}",
                           terminal=True, reason="too_deep")
        if step.kind == "plan":
            return Verdict("ok", "format")
        if step.kind == "solution":
            if step.answer is None:
                return Verdict("unknown", "answer", output=step.why, terminal=True, reason="no_answer")
            return Verdict("answered", "answer", output=step.answer, answer=step.answer, terminal=True)
        return Verdict("error", "format", output=step.why, terminal=True, reason="invalid")


class CPLSearch(MCTSSearch):
    """CPL's plan-space MCTS on one problem (one object per run)."""

    name = "cpl"
    description = "CPL: MCTS over abstract plan steps with PUCT priors from the policy (arXiv 2409.08642)"
    Config = CPLConfig
    presets = PRESETS
    default_preset = "cpu-demo"
    rewards = ("vote", "truth")
    invalid_to_root = True
    #: takes its value head in the core's ``step_scorer`` slot (``runspec.takes_value_head``),
    #: never rStar-Math's PPM (``uses_ppm`` stays False: no PPM control, no shipped default)
    takes_value_head = True

    def __init__(self, problem: str, *, step_scorer: Any = None, **kwargs: Any) -> None:
        if step_scorer is not None and getattr(step_scorer, "format", None) != VALUE_FORMAT:
            what = getattr(step_scorer, "name", type(step_scorer).__name__)
            raise ValueError(f"CPL takes a CPL value head ({VALUE_FORMAT}), not {what!r}")
        super().__init__(problem, **kwargs)
        if step_scorer is not None and self.config.parallel > 1:
            raise ValueError("CPL's value-head loop expands one leaf at a time: run it with parallel = 1")
        self.step_scorer = step_scorer  # the core's slot for a step scorer: here the value head
        self.policy = CPLPolicy(self.state.problem, self.engine, self.config)
        self.expansions = 0

    # --- the value head's loop: one leaf per iteration (official) ----------------------

    def _start(self) -> None:
        super()._start()
        if self.step_scorer is not None:  # say what the budget counts: leaves, not walks
            if self.config.expansions:
                budget = f"{self.config.expansions} expansions"
            else:
                budget = (
                    f"{self.leaf_budget()} leaves (rollouts {self.config.rollouts} × max_depth "
                    f"{self.config.max_depth})"
                )
            self.emit(
                ev.Note,
                level="info",
                message=f"value head on: one leaf per iteration (official), budget {budget}",
                node=self.root.id,
            )

    def _iterate(self) -> None:
        if self.step_scorer is None:
            super()._iterate()
            return
        it = self.state.iteration
        node, path, levels = self.root, [self.root.id], []
        try:
            while node.expanded and not node.terminal:
                rows = selection_scores(node, self.config.c, self.config.selection)
                index = self._forced_index(node, rows)
                index = pick(rows) if index is None else index
                if index is None:  # official: a node with only terminal children becomes terminal
                    self._mark_dead(node)
                    return
                node = self.nodes[rows[index]["id"]]
                path.append(node.id)
                levels.append(rows)
                self.emit(ev.NodeSelected, iteration=it, path=list(path), children=[list(r) for r in levels])
            if node.terminal or node.dead:
                return
            value = self._leaf_value(node)
            self._backprop(node, value, to_root=True)  # official: backed up before the expansion
            self._expand(node)
        finally:
            self.state.iteration += 1
            self._iteration_done(it)

    def _leaf_value(self, node: MNode) -> float:
        """The value head's estimate of ``node`` (a ``node_scored`` event, source "value_head")."""
        t = time.monotonic()
        (value,) = self.step_scorer.score_steps([self.policy.value_text(node)])
        self.ppm_s += time.monotonic() - t
        self.emit(ev.NodeScored, id=node.id, score=round(float(value), 6), source="value_head")
        return float(value)

    def _value_steps(self, kids: Sequence[MNode]) -> dict[int, float]:
        """Not rStar's first value per new step: CPL values a leaf when it is selected."""
        return {}

    def answer_choice(self) -> str:
        """A value head does not score answers: ``auto`` stays the vote (or the config's)."""
        how = self.config.answer_choice
        return "vote" if how == "auto" else how

    def children_for(self, node: MNode) -> int:
        return self.config.root_children if node.parent is None else self.config.children

    def _grow(self, node: MNode, specs: Sequence[NodeSpec]) -> None:
        self.expansions += 1
        super()._grow(node, specs)

    def iteration_budget(self) -> int:
        return self.leaf_budget() if self.step_scorer is not None else super().iteration_budget()

    def leaf_budget(self) -> int:
        """Iterations a value-head search may run when ``expansions`` does not bound it.

        A head's iteration expands ONE leaf, where a rollout without a head walks from the
        root to a terminal, expanding every new node on its way: up to ``max_depth`` of them.
        So each rollout of the budget buys ``max_depth`` leaves; counted one leaf per rollout,
        a small budget (``--rollouts 6``) never got past the third plan step and the search
        ended with no answer at all (found in a real evolve round, 2026-12-05)."""
        return self.config.rollouts * self.config.max_depth

    def _exhausted(self) -> str | None:
        limit = self.config.expansions
        if limit and self.expansions >= limit:
            return "expansions"
        return super()._exhausted()

    def check_stop(self) -> None:
        """Also refuse an engine call once the expansion budget is spent (mid-rollout)."""
        super().check_stop()
        if self.config.expansions and self.expansions >= self.config.expansions:
            raise Stopped()


__all__ = ["PRESETS", "VALUE_FORMAT", "CPLConfig", "CPLPolicy", "CPLSearch", "policy_prefix"]
