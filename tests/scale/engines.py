"""Test engines for Ray workers: importable by name (Ray workers start in the repo root), so
an engine factory travels to a worker as a reference, not as code."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend.engines.scripted import Rule, ScriptedEngine


class WatchedEngine(ScriptedEngine):
    """The scripted engine that writes each prompt's question to ``log`` and, once (while
    ``sentinel`` does not exist), kills its own process on a prompt holding ``crash_on``."""

    log: Path | None = None
    crash_on: str | None = None
    sentinel: Path | None = None
    raise_on: str | None = None

    def generate(self, prompts: Any, **kw: Any) -> Any:
        for prompt in prompts:
            if self.raise_on and self.raise_on in prompt:  # a prompt the engine refuses
                raise ValueError("prompt has 6847 tokens; n_ctx is 4096: load with a larger n_ctx")
            if self.log is not None:
                with self.log.open("a", encoding="utf-8") as fh:
                    fh.write(prompt.rsplit("Question: ", 1)[-1].split("\n", 1)[0] + "\n")
            if self.crash_on and self.crash_on in prompt and self.sentinel and not self.sentinel.exists():
                self.sentinel.touch()
                os._exit(1)  # a worker killed mid-problem
        return super().generate(prompts, **kw)


@dataclass(frozen=True)
class WatchedFactory:
    """RunSpec -> a WatchedEngine over the spec's rules file."""

    log: Path | None = None
    crash_on: str | None = None
    sentinel: Path | None = None
    raise_on: str | None = None

    def __call__(self, spec: Any) -> WatchedEngine:
        engine = WatchedEngine.from_file(spec.model)
        engine.log, engine.crash_on, engine.sentinel = self.log, self.crash_on, self.sentinel
        engine.raise_on = self.raise_on
        return engine


def hanging(engine: ScriptedEngine, always: str | None = None, once: str | None = None,
            sentinel: Path | None = None) -> ScriptedEngine:
    """``engine``, except that a prompt holding ``always`` never gets an answer (a server that
    never answers), and one holding ``once`` gets none the first time (while ``sentinel`` does
    not exist: the hang creates it)."""
    answer = engine.generate

    def generate(prompts: Any, **kw: Any) -> Any:
        text = "\n".join(prompts)
        first = bool(once and once in text and sentinel and not sentinel.exists())
        if (always and always in text) or first:
            if first:
                sentinel.touch()  # type: ignore[union-attr]
            time.sleep(3600)  # hung: only a kill ends it
        return answer(prompts, **kw)

    engine.generate = generate  # type: ignore[method-assign]
    return engine


@dataclass(frozen=True)
class HangingFactory:
    """RunSpec -> the scripted engine over the spec's rules file, :func:`hanging` as told."""

    always: str | None = None
    once: str | None = None
    sentinel: Path | None = None

    def __call__(self, spec: Any) -> ScriptedEngine:
        return hanging(ScriptedEngine.from_file(spec.model), self.always, self.once, self.sentinel)


@dataclass(frozen=True)
class GpuLoggingFactory:
    """RunSpec -> the scripted engine, after writing down which GPUs Ray gave the worker that
    builds it (``ray.get_gpu_ids()`` and the ``CUDA_VISIBLE_DEVICES`` Ray set), a line per
    worker in ``log``: what a real GPU engine on that worker would load onto. ``together``:
    each worker then waits (up to 60 s) until that many have written, so they hold their GPU
    shares at the same time (otherwise a fast first worker may take every job before a
    second one has loaded, and the pool stops that one unloaded)."""

    log: Path
    together: int = 0

    def __call__(self, spec: Any) -> ScriptedEngine:
        import ray

        ids = ",".join(str(i) for i in ray.get_gpu_ids())
        with self.log.open("a", encoding="utf-8") as fh:
            fh.write(f"{os.getpid()} gpu_ids={ids} cuda_visible={os.environ.get('CUDA_VISIBLE_DEVICES')}\n")
        deadline = time.monotonic() + 60
        while len(self.log.read_text().splitlines()) < self.together and time.monotonic() < deadline:
            time.sleep(0.05)
        return ScriptedEngine.from_file(spec.model)


STEP = "<code>\n# Step 1: start from one\nx = 1\n<end_of_step>"


def evolve_rules(cases: tuple[tuple[str, str], ...]) -> list[Rule]:
    """Per (question, answer): a first step, then a right and a wrong final step (the wrong
    one first for every other problem, so the searches differ); as tests/evolve's rules."""
    rules = []
    for i, (question, answer) in enumerate(cases):
        right = f"\n# Now print the final answer\nprint(x + {answer} - 1)\n<end_of_code>"
        wrong = f"\n# Now print the final answer\nprint(x + {answer})\n<end_of_code>"
        finals = [right, wrong] if i % 2 == 0 else [wrong, right]
        rules.append(Rule(lambda t, q=question: q in t and t.endswith("<end_of_step>"), finals))
        rules.append(Rule(lambda t, q=question: q in t and t.endswith("assistant\n"), [STEP + right]))
    return rules


@dataclass(frozen=True)
class ScriptedPolicies:
    """The evolve Models seam over the scripted engine (search only: nothing to train)."""

    cases: tuple[tuple[str, str], ...]

    def engine(self, policy: str | None) -> ScriptedEngine:
        return ScriptedEngine(evolve_rules(self.cases))

    def describe(self, policy: str | None) -> dict[str, Any]:
        return {"engine": "scripted", "model": policy or "base", "sha256": None}

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class HangingPolicies(ScriptedPolicies):
    """ScriptedPolicies whose engine never answers a prompt holding ``always``."""

    always: str = ""

    def engine(self, policy: str | None) -> ScriptedEngine:
        return hanging(super().engine(policy), always=self.always)
