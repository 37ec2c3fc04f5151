"""Baselines on the same engine and prompt family as rStar-Math: whole solutions, no tree.

Each sample is one code-augmented solution in rStar-Math's format, generated in one go
(stop at ``<end_of_code>`` / ``<end_of_answer>``, as the official ``sft_eval_greedy.yaml``),
its program run in the sandbox, its answer read from what it prints (or from its
``\\boxed{}`` when it states one without code). All k samples come from ONE engine call.

- ``greedy``: one solution at temperature 0 (chain-of-thought-with-code baseline);
- ``sc``: self-consistency (Wang et al. 2022): k samples, majority of their answers;
- ``bon``: best-of-N: k samples, the one the run's reward scores highest. With the ``vote``
  reward that is a member of the largest answer group, so it agrees with ``sc``; the two
  differ once a learned scorer (the PPM) exists.

They emit events like any search (a root with k answer leaves, each verified, scored and
backed up), so the UI draws them next to a tree search.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from backend import events as ev
from backend.reward import Candidate, choose_answer
from backend.search.base import Outcome, Search, Stopped
from backend.search.config import check_config, knob
from backend.search.rstar import Executor, sandbox_executor
from backend.search.rstar_format import SOLUTION_STOPS, extract_code, final_answer, load_prompt
from backend.verify.answers import normalize_answer

_MAX_OUTPUT = 2000


@dataclass(frozen=True)
class GreedyConfig:
    max_tokens: int = knob(400, "most tokens of the whole solution", min=16, max=8192)
    few_shot: int = knob(2, "worked examples in the prompt (same prompt as rstar)", min=0, max=2)
    exec_timeout_s: float = knob(10.0, "wall-clock limit of the program run", min=0.1, max=120.0)

    def __post_init__(self) -> None:
        check_config(self)


@dataclass(frozen=True)
class SampleConfig:
    samples: int = knob(8, "solutions sampled in one batched call", min=1, max=256)
    temperature: float = knob(0.7, "sampling temperature", min=0.0, max=2.0)
    top_p: float = knob(1.0, "nucleus sampling mass", min=0.01, max=1.0)
    max_tokens: int = knob(400, "most tokens of one solution", min=16, max=8192)
    few_shot: int = knob(2, "worked examples in the prompt (same prompt as rstar)", min=0, max=2)
    exec_timeout_s: float = knob(10.0, "wall-clock limit of one program run", min=0.1, max=120.0)
    per_call: int = knob(
        0,
        "samples per engine call: 0 = all in one batched call (fastest); llama.cpp and transformers "
        "end a call at a Stop anyway, so fewer only helps engines that cannot (HTTP, vLLM)",
        min=0,
        max=256,
    )

    def __post_init__(self) -> None:
        check_config(self)


@dataclass
class Sample:
    node: int
    answer: str | None
    score: float = 0.0


def chunks(n: int, temperature: float, per_call: int = 0) -> list[int]:
    """The sizes of the engine calls that draw ``n`` samples: all at once unless ``per_call``
    (a Stop ends a call under way where the engine can, and always skips the calls after it);
    greedy: one call."""
    if temperature == 0 or not per_call or n <= per_call:
        return [n]
    return [per_call] * (n // per_call) + ([n % per_call] if n % per_call else [])


class SampleSearch(Search):
    """k whole solutions from one call; subclasses choose the answer."""

    name = "sc"
    description = "self-consistency: majority answer of k sampled code solutions"
    Config = SampleConfig
    rewards = ("vote", "truth")

    def __init__(self, problem: str, *, executor: Executor | None = None, **kwargs: Any) -> None:
        super().__init__(problem, **kwargs)
        self.executor = executor or sandbox_executor
        self.samples: list[Sample] = []
        prompt = load_prompt()
        self.prefix = self.engine.chat_prompt(prompt.messages(self.state.problem, self.config.few_shot))

    def sampling(self) -> dict[str, Any]:
        c = self.config
        return {"n": c.samples, "temperature": c.temperature, "top_p": c.top_p}

    def _start(self) -> None:
        self.root = self.state.new_id()
        self.emit(ev.NodeAdded, id=self.root, parent=None, kind="root", text=self.state.problem)

    def _exhausted(self) -> str | None:
        return "samples" if self.state.iteration >= 1 else None

    def _iterate(self) -> None:
        params = self.sampling()
        outs: list[Any] = []
        try:
            sizes = chunks(params.pop("n"), params["temperature"], getattr(self.config, "per_call", 0))
            for k, n in enumerate(sizes):
                try:  # a stop ends the call early; the samples drawn so far are kept
                    [part] = self.generate(
                        [self.prefix],
                        n=n,
                        seed=self.state.call_seed(k, self.root),
                        max_tokens=self.config.max_tokens,
                        stop=list(SOLUTION_STOPS),
                        **params,
                    )
                except Stopped as cut:  # samples finished before the stop are kept
                    outs += cut.partial[0] if cut.partial else []
                    if not outs:
                        raise
                    break
                outs += part
        finally:
            self.state.iteration += 1
        ids = []
        for c in outs:
            node = self.state.new_id()
            ids.append(node)
            text = c.text + (c.stop_reason or "")
            meta = {"finish_reason": c.finish_reason, "stop": c.stop_reason}
            self.emit(
                ev.NodeAdded,
                id=node,
                parent=self.root,
                kind="answer",
                text=text,
                code=extract_code(text) or None,
                tokens=c.tokens,
                gen_ms=round(c.gen_ms / max(len(outs), 1), 3),
                terminal=True,
                meta=meta,
            )
        self._verify(ids, [c.text + (c.stop_reason or "") for c in outs])
        out = self.outcome()
        self.emit(
            ev.IterationDone, iteration=0, best_answer=out.answer, votes=out.votes, tokens=self.state.tokens
        )

    def _verify(self, ids: list[int], texts: list[str]) -> None:
        codes = [extract_code(t.split("<answer>", 1)[0]) for t in texts]
        runnable = [i for i, code in enumerate(codes) if code.strip()]
        t = time.monotonic()
        results = (
            self.executor([codes[i] + "\n" for i in runnable], self.config.exec_timeout_s) if runnable else []
        )
        self.state.exec_s += time.monotonic() - t
        by_index = dict(zip(runnable, results, strict=True))
        for i, node in enumerate(ids):
            status, output, ms, answer = self._judge(texts[i], by_index.get(i))
            self.samples.append(Sample(node, answer))
            self.emit(
                ev.NodeVerified,
                id=node,
                status=status,
                method="python" if i in by_index else "answer",
                output=output,
                ms=round(ms, 3),
                answer=None if answer is None else normalize_answer(answer),
                terminal=True,
                detail={} if answer is None else {"raw_answer": answer},
            )
        valid = [s for s in self.samples if s.answer is not None]
        scores = self.reward.score([s.answer for s in valid]) if valid else []
        for s, score in zip(valid, scores, strict=True):
            s.score = score
            self.emit(ev.NodeScored, id=s.node, score=round(score, 6), source=self.reward.name)
        for s in self.samples:
            value = s.score if s.answer is not None else -1.0
            self.emit(
                ev.Backprop,
                iteration=0,
                path=[self.root, s.node],
                reward=round(value, 6),
                updated=[[s.node, 1, round(value, 6)]],
            )

    @staticmethod
    def _judge(text: str, res: Any) -> tuple[str, str, float, str | None]:
        """(status, output, ms, raw answer) of one sample."""
        boxed = final_answer(text) if ("boxed" in text or "<answer>" in text) else None
        if res is None:
            return ("answered" if boxed else "unknown"), (boxed or "no code and no answer"), 0.0, boxed
        if res.status == "timeout":
            return "timeout", (res.stdout or "")[-_MAX_OUTPUT:], res.ms, None
        if res.status != "ok":
            return "error", ((res.stderr or "").strip() or res.status)[-_MAX_OUTPUT:], res.ms, None
        stdout = (res.stdout or "")[-_MAX_OUTPUT:]
        return "ok", stdout, res.ms, final_answer(stdout) or boxed

    def outcome(self) -> Outcome:
        cands = [Candidate(s.node, s.answer, s.score, 1) for s in self.samples if s.answer is not None]
        best, votes = choose_answer(cands, "vote")
        if best is None:
            return Outcome(None, [self.root], votes)
        return Outcome(normalize_answer(best.answer), [self.root, best.node], votes, best.node)


class GreedySearch(SampleSearch):
    name = "greedy"
    description = "greedy: one code-augmented solution at temperature 0"
    Config = GreedyConfig

    def sampling(self) -> dict[str, Any]:
        return {"n": 1, "temperature": 0.0, "top_p": 1.0}


class BestOfNSearch(SampleSearch):
    name = "bon"
    description = "best-of-N: k sampled code solutions, the one the reward scores highest"

    def outcome(self) -> Outcome:
        valid = [s for s in self.samples if s.answer is not None]
        _, votes = choose_answer([Candidate(s.node, s.answer, s.score, 1) for s in valid], "vote")
        if not valid:
            return Outcome(None, [self.root], votes)
        best = max(valid, key=lambda s: (s.score, -s.node))
        return Outcome(normalize_answer(best.answer), [self.root, best.node], votes, best.node)
