"""A deterministic engine that replays canned completions, for unit tests only.

It is never a default and never presented as a model: its info says "scripted".
Rules map a prompt to completions: the first rule whose ``match`` (a substring
of the prompt, or a predicate) fits answers. Each rule holds a list of texts
handed out in turn (cycling), so n > 1 gives different continuations exactly
like sampling would, but reproducibly. The engine keeps no state between calls:
a call's texts depend only on its prompt, ``n`` and seed (seed s starts at place
s·n of the cycle, so seeds 0, 1, 2, … walk through the texts as successive draws
would; no seed is seed 0). So a seeded call repeats exactly, as the engine
contract's seed clause asks, and one run's text never depends on what earlier runs
drew. Stop strings and ``max_tokens`` (counted in whitespace-separated words) are
applied as a real engine would; ``delay_s`` is a pretend generation time per call,
for tests that need a run to go slowly; ``sample_delay_s`` a pretend time per sample, during
which a stop ends the call as the real decode loops do (backend/engines/cancel.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from backend.engines.base import Completion, EngineInfo, GenerationRequest, cut_at_stop, plain_chat_prompt
from backend.engines.cancel import GenerationCancelled, cancel_requested

Matcher = str | Callable[[str], bool]


@dataclass
class Rule:
    match: Matcher
    texts: Sequence[str]
    #: log-probability per token reported for these texts (lets tests drive priors)
    logprob_per_token: float = -0.5

    def fits(self, prompt: str) -> bool:
        return self.match in prompt if isinstance(self.match, str) else bool(self.match(prompt))


class ScriptedEngine:
    """Replays canned completions; ``calls`` records every request for assertions."""

    def __init__(
        self,
        rules: Sequence[Rule | tuple[Matcher, Sequence[str]]],
        *,
        default: str | None = None,
        delay_s: float = 0.0,
        sample_delay_s: float = 0.0,
    ):
        self.rules = [r if isinstance(r, Rule) else Rule(r[0], list(r[1])) for r in rules]
        self.default = default
        #: seconds each call pretends to generate (outside the lock: parallel callers overlap)
        self.delay_s = delay_s
        #: seconds each sample pretends to take, the call's caller able to stop it between samples
        self.sample_delay_s = sample_delay_s
        self.calls: list[dict] = []
        self.info = EngineInfo(name="scripted", model="scripted (test double, not a model)")
        self._lock = threading.Lock()
        #: the place in the cycle of the prompt being drawn; set afresh for each prompt of each call
        self._cursor = 0

    @classmethod
    def from_file(cls, path: str) -> ScriptedEngine:
        """Rules from JSON: ``{"rules": [{"match": "...", "texts": ["..."]}], "default": "..."}``.

        This is how the CLI's ``--engine scripted --model rules.json`` drives a
        reproducible run in tests and demos of the pipeline (never of a model).
        """
        import json
        from pathlib import Path

        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            rules = [
                Rule(r["match"], list(r["texts"]), float(r.get("logprob_per_token", -0.5)))
                for r in data["rules"]
            ]
        except FileNotFoundError as exc:
            raise ValueError(f"scripted engine rules file not found: {path}") from exc
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: not a scripted-engine rules file ({exc})") from exc
        return cls(rules, default=data.get("default"))

    def generate(
        self,
        prompts: Sequence[str],
        *,
        n: int = 1,
        max_tokens: int = 256,
        temperature: float = 0.7,
        top_p: float = 1.0,
        stop: Sequence[str] = (),
        seed: int | None = None,
    ) -> list[list[Completion]]:
        req = GenerationRequest.make(
            prompts, n=n, max_tokens=max_tokens, temperature=temperature, top_p=top_p, stop=stop, seed=seed
        )
        if self.delay_s:
            time.sleep(self.delay_s)
        with self._lock:
            self.calls.append(
                {"prompts": list(req.prompts), "n": req.n, "stop": list(req.stop), "seed": req.seed}
            )
            rows = [
                [self._finish(*raw, req.max_tokens, req.stop) for raw in self._draw(p, req.n, req.seed)]
                for p in req.prompts
            ]
        if self.sample_delay_s:
            self._pretend_decoding(rows)
        return rows

    def _pretend_decoding(self, rows: list[list[Completion]]) -> None:
        """Spend ``sample_delay_s`` per sample, ending the call early once its caller stops."""
        drawn: list[list[Completion]] = [[] for _ in rows]
        for i, row in enumerate(rows):
            for c in row:
                time.sleep(self.sample_delay_s)
                if cancel_requested():  # a sample the stop interrupted is not a sample
                    raise GenerationCancelled(drawn, sum(d.tokens for r in drawn for d in r) + c.tokens)
                drawn[i].append(c)

    def _draw(self, prompt: str, n: int, seed: int | None) -> list[tuple[str, float]]:
        """n raw (text, logprob per token) pairs from the seed's place in the cycle; nothing
        carries over from earlier calls, so equal calls draw equal texts."""
        self._cursor = 0 if seed is None else seed * n
        return [self._next(prompt) for _ in range(n)]

    def _next(self, prompt: str) -> tuple[str, float]:
        """The text at this call's cursor (then moved on by one); subclasses may restyle it."""
        rule = next((r for r in self.rules if r.fits(prompt)), None)
        if rule is None:
            if self.default is None:
                raise LookupError(f"scripted engine has no rule for prompt ending {prompt[-120:]!r}")
            return self.default, -0.5
        raw = rule.texts[self._cursor % len(rule.texts)]
        self._cursor += 1
        return raw, rule.logprob_per_token

    @staticmethod
    def _finish(raw: str, lp: float, max_tokens: int, stop: Sequence[str]) -> Completion:
        text, hit = cut_at_stop(raw, stop)
        words = text.split(" ")
        finish = "stop"
        if len(words) > max_tokens:
            text, hit, finish = " ".join(words[:max_tokens]), None, "length"
        tokens = max(1, len(text.split()))
        return Completion(text, tokens, lp * tokens, finish, hit, 0.0)

    def chat_prompt(self, messages, *, add_generation_prompt: bool = True) -> str:
        return plain_chat_prompt(messages, add_generation_prompt=add_generation_prompt)

    def close(self) -> None:
        pass
