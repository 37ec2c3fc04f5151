"""rStar-Math (Guan et al. 2025, arXiv 2501.04519): MCTS over code-augmented steps.

Official code: github.com/microsoft/rStar, branch rStar-math (``rstar_deepthink/``). This file
is the problem-specific policy over the shared core (``backend/search/mcts.py``):

- the prompt and step format of ``backend/search/rstar_format.py`` (``# Step k:`` comments +
  code, ``<end_of_step>``, a last step that prints the answer, ``<end_of_code>``,
  ``<output>``, ``<answer> … \\boxed{} …``), rendered with the model's chat template;
- each code step runs cumulatively in the sandbox: its ancestors' code plus its own
  (official ``agents/tree.py: code_execution``); the step that ends the program gets its
  printed output appended (``<output>…<end_of_output>``, official ``obs_wrap``);
- a step whose run fails (error or timeout) stays in the tree, marked with its error, and
  is terminal, so it is never expanded: under cumulative execution every child would re-run
  the failing code and fail the same way. This is the official ``errors_threshold`` rule at
  threshold 1 (``sft_eval_mcts.yaml``; the round-1 config's 2 only spends one expansion on
  children that must fail: docs/ALGORITHMS.md);
- a step that states a ``\\boxed{}`` answer (or an ``<answer>`` block) is a terminal answer;
  with ``answer_from_output`` (Canopy's CPU default) the step that prints the final answer
  is already the terminal and its printed value is the answer, saving one generation per
  path; with it off (the paper presets) the model writes the ``<answer>`` step as officially.

Presets: ``paper-data`` (sample_mcts.yaml), ``paper-inference`` (sft_eval_mcts.yaml) and
``cpu-demo`` (this machine: 2 cores, the embedded 0.5B model); sources in docs/ALGORITHMS.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from backend.engines.base import Completion
from backend.search.config import check_config, knob
from backend.search.mcts import MCTSConfig, MCTSSearch, MNode, NodeSpec, StepPolicy, Verdict
from backend.search.rstar_format import (
    ANSWER_END,
    SOLUTION_STOPS,
    STEP_STOPS,
    Step,
    final_answer,
    load_prompt,
    output_block,
    program,
    read_step,
)

#: runs programs: (codes, timeout_s) -> results with .status, .stdout, .stderr, .ms
Executor = Callable[[Sequence[str], float], Sequence[Any]]
_MAX_OUTPUT = 2000  # characters of stdout/stderr kept in an event


@dataclass(frozen=True)
class RStarConfig(MCTSConfig):
    # Defaults are the cpu-demo preset (the embedded 0.5B model on 2 CPU cores).
    rollouts: int = knob(
        8, "rollouts; each goes from the root to a terminal (official 48 / 12)", min=1, max=10000
    )
    children: int = knob(4, "candidates per expansion in one batched call (official 12 / 32)", min=1, max=64)
    max_depth: int = knob(8, "deepest step (official 16)", min=1, max=64)
    temperature: float = knob(0.7, "sampling temperature (official 0.7 round 1, 1.0 later)", min=0.0, max=2.0)
    max_step_tokens: int = knob(160, "most tokens one step may generate (official 2048)", min=1, max=8192)
    few_shot: int = knob(2, "worked examples in the prompt (official 2 in round 1)", min=0, max=2)
    answer_from_output: bool = knob(
        True, "the step that prints the final answer is the terminal (off: the model writes <answer>)"
    )
    exec_timeout_s: float = knob(
        10.0, "wall-clock limit of one program run (official 60 s)", min=0.1, max=120.0
    )
    greedy_program_tokens: int = knob(
        0,
        "0: off. Otherwise one candidate of each expansion is the greedy (temperature 0) rest of "
        "the whole program, at most this many tokens, so the tree holds the greedy answer",
        min=0,
        max=8192,
    )

    def __post_init__(self) -> None:
        check_config(self)


PRESETS: dict[str, dict[str, Any]] = {
    # config/sample_mcts.yaml: round-1 data generation (reward truth is its terminal reward)
    "paper-data": {
        "children": 12,
        "rollouts": 48,
        "max_depth": 16,
        "temperature": 0.7,
        "top_p": 1.0,
        "max_step_tokens": 2048,
        "few_shot": 2,
        "answer_from_output": False,
        "exec_timeout_s": 60.0,
    },
    # config/sft_eval_mcts.yaml: inference (the official uses the PPM; few-shot 0 there
    # because its policy is fine-tuned on the format; Canopy keeps 2 for base models)
    "paper-inference": {
        "children": 32,
        "rollouts": 12,
        "max_depth": 16,
        "temperature": 1.0,
        "top_p": 1.0,
        "max_step_tokens": 2048,
        "few_shot": 2,
        "answer_from_output": False,
        "exec_timeout_s": 60.0,
    },
    # measured on this machine (docs/BENCHMARKS.md): about a minute per GSM8K problem. The
    # answer is the vote even with the PPM: on 68 GSM8K *train* problems the shipped PPM's
    # highest-Q answer lost 6 and won 1 against the vote over the same trees (docs/PPM.md)
    "cpu-demo": {"answer_choice": "vote"},
}


def sandbox_executor(codes: Sequence[str], timeout_s: float) -> list[Any]:
    """Run programs in Canopy's sandbox pool, in parallel, results in order."""
    from backend.verify.sandbox import default_pool

    pool = default_pool()
    return list(pool.map(list(codes), timeout_s=timeout_s))


class RStarPolicy(StepPolicy):
    """Prompts, step reading and verification of rStar-Math's code-augmented steps."""

    stops = STEP_STOPS

    def __init__(self, problem: str, engine: Any, cfg: RStarConfig, executor: Executor) -> None:
        self.problem = problem
        self.cfg = cfg
        self.executor = executor
        prompt = load_prompt()
        self.prefix = engine.chat_prompt(prompt.messages(problem, cfg.few_shot))

    def root(self) -> NodeSpec:
        return NodeSpec(kind="root", text=self.problem, meta={"prompt_chars": len(self.prefix)})

    def context(self, node: MNode) -> str:
        """The prompt for ``node``'s children: prefix + the texts of the path so far."""
        return self.prefix + "".join(n.state.get("text", "") for n in node.path()[1:])

    def propose_many(
        self, search: MCTSSearch, nodes: Sequence[MNode], n: int, seed: int
    ) -> list[list[NodeSpec]]:
        """n candidate next steps for each node, from one batched engine call (plus one greedy
        call for all the nodes when ``greedy_program_tokens`` is on: its program leads each row)."""
        greedy = self.greedy_programs(search, nodes, seed) if self.cfg.greedy_program_tokens else None
        sampled = n - 1 if greedy else n
        batches = self.sample(search, nodes, sampled, seed) if sampled else [[] for _ in nodes]
        out = []
        for i, node in enumerate(nodes):
            lead = greedy[i][0] if greedy and greedy[i] else None
            row = batches[i]
            after_code = node.state.get("step_kind") == "final_code"
            kept = self._filter(([lead] if lead else []) + row, after_code=after_code)
            share = 1.0 / max(len(row), 1)  # an engine reports a prompt's wall time on each completion
            specs = []
            for c, dups in kept:
                spec = self._spec(c, dups, 1.0 if c is lead else share)
                if c is lead:
                    spec.meta["greedy_program"] = True
                specs.append(spec)
            out.append(specs)
        return out

    def greedy_programs(
        self, search: MCTSSearch, nodes: Sequence[MNode], seed: int
    ) -> list[list[Completion]]:
        """The rest of each node's program at temperature 0 in one call, stopping where a whole
        solution stops (the greedy baseline's stops): from the root it is the greedy baseline's
        own program, so the tree holds that answer (issue 14's "greedy candidate" setting)."""
        return search.generate(
            [self.context(node) for node in nodes],
            n=1,
            seed=seed,
            max_tokens=self.cfg.greedy_program_tokens,
            temperature=0.0,
            top_p=1.0,
            stop=list(SOLUTION_STOPS),
        )

    def _filter(self, outs: Sequence[Completion], *, after_code: bool) -> list[tuple[Completion, int]]:
        """Official ``llm_generate``: drop duplicate texts; after a finished program, keep
        only the first completion that ends the answer (Canopy applies that rule only there,
        where every candidate is an answer; docs/ALGORITHMS.md)."""
        if after_code:
            answers = [c for c in outs if c.stop_reason == ANSWER_END]
            if answers:
                return [(answers[0], len(outs) - 1)]
        if not self.cfg.dedup:
            return [(c, 0) for c in outs]
        return self.dedup(outs, key=lambda c: c.text + (c.stop_reason or ""))

    def _spec(self, c: Completion, dups: int, share: float) -> NodeSpec:
        step = read_step(c)
        is_answer = step.kind == "answer" or (step.kind == "final_code" and self.cfg.answer_from_output)
        meta = self.step_meta(c, step.kind, step.why, dups)
        if c.mean_logprob is not None:
            meta["mean_logprob"] = round(c.mean_logprob, 4)
        return NodeSpec(
            kind="answer" if is_answer else "step",
            text=step.text,
            code=step.code or None,
            tokens=c.tokens,
            # an engine reports the batch's wall time on each completion: share it out
            gen_ms=c.gen_ms * share,
            meta=meta,
            state={"step": step, "step_kind": step.kind, "text": step.text, "code": step.code},
        )

    # --- verification -----------------------------------------------------------------

    def verify(self, search: MCTSSearch, nodes: Sequence[MNode]) -> list[Verdict]:
        verdicts: list[Verdict | None] = [None] * len(nodes)
        runs: list[tuple[int, str]] = []
        for i, node in enumerate(nodes):
            step: Step = node.state["step"]
            if step.kind == "answer":
                verdicts[i] = self._answer_verdict(step)
            elif step.kind == "invalid":
                verdicts[i] = Verdict("error", "format", output=step.why, terminal=True, reason="invalid")
            else:
                codes = [n.state.get("code", "") for n in node.path()[1:]]
                runs.append((i, program(codes)))
        if runs:
            t = time.monotonic()
            results = self.executor([p for _, p in runs], self.cfg.exec_timeout_s)
            search.state.exec_s += time.monotonic() - t
            for (i, prog), res in zip(runs, results, strict=True):
                verdicts[i] = self._code_verdict(nodes[i], prog, res)
        return [v for v in verdicts if v is not None]

    @staticmethod
    def _answer_verdict(step: Step) -> Verdict:
        answer = final_answer(step.text)
        if answer is None:
            return Verdict(
                "unknown", "answer", output="no final answer found", terminal=True, reason="no_answer"
            )
        return Verdict("answered", "answer", output=answer, answer=answer, terminal=True)

    def _code_verdict(self, node: MNode, prog: str, res: Any) -> Verdict:
        stdout = (res.stdout or "")[-_MAX_OUTPUT:]
        detail = {"exec_status": res.status, "program_lines": prog.count("\n")}
        if res.status == "timeout":
            return Verdict(
                "timeout", "python", stdout, res.ms, terminal=True, reason="timeout", detail=detail
            )
        if res.status != "ok":
            err = ((res.stderr or "").strip() or res.status)[-_MAX_OUTPUT:]
            return Verdict("error", "python", err, res.ms, terminal=True, reason="error", detail=detail)
        step: Step = node.state["step"]
        if step.kind != "final_code":
            return Verdict("ok", "python", stdout, res.ms, detail=detail)
        node.state["text"] = step.text + output_block(stdout)  # official obs_wrap
        if not self.cfg.answer_from_output:
            return Verdict("ok", "python", stdout, res.ms, detail=detail)
        answer = final_answer(stdout)
        if answer is None:
            return Verdict("ok", "python", stdout, res.ms, terminal=True, reason="no_answer", detail=detail)
        return Verdict("ok", "python", stdout, res.ms, answer=answer, terminal=True, detail=detail)


class RStarSearch(MCTSSearch):
    """rStar-Math MCTS on one problem (one object per run)."""

    name = "rstar"
    description = "rStar-Math: MCTS over code-augmented steps executed in the sandbox (arXiv 2501.04519)"
    Config = RStarConfig
    presets = PRESETS
    default_preset = "cpu-demo"
    rewards = ("vote", "truth", "ppm")
    uses_ppm = True

    def __init__(self, problem: str, *, executor: Executor | None = None, **kwargs: Any) -> None:
        super().__init__(problem, **kwargs)
        self.policy = RStarPolicy(self.state.problem, self.engine, self.config, executor or sandbox_executor)


__all__ = ["PRESETS", "RStarConfig", "RStarPolicy", "RStarSearch", "sandbox_executor"]
