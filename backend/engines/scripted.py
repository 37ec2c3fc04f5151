"""A deterministic engine that replays canned completions, for unit tests only.

It is never a default and never presented as a model: its info says "scripted".
Rules map a prompt to completions: the first rule whose ``match`` (a substring
of the prompt, or a predicate) fits answers. Each rule holds a list of texts
handed out in turn (cycling), so n > 1 gives different continuations exactly
like sampling would, but reproducibly. A call with a seed repeats exactly: the
texts a (prompt, seed) pair drew first are remembered and handed out again, as
the engine contract's seed clause asks; new seeds (or none) go on cycling. Stop
strings and ``max_tokens`` (counted in whitespace-separated words) are applied as a
real engine would.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from backend.engines.base import Completion, EngineInfo, check_sampling, cut_at_stop, plain_chat_prompt

Matcher = str | Callable[[str], bool]


@dataclass
class Rule:
    match: Matcher
    texts: Sequence[str]
    #: log-probability per token reported for these texts (lets tests drive priors)
    logprob_per_token: float = -0.5
    cursor: int = field(default=0, repr=False)

    def fits(self, prompt: str) -> bool:
        return self.match in prompt if isinstance(self.match, str) else bool(self.match(prompt))


class ScriptedEngine:
    """Replays canned completions; ``calls`` records every request for assertions."""

    def __init__(self, rules: Sequence[Rule | tuple[Matcher, Sequence[str]]], *, default: str | None = None):
        self.rules = [r if isinstance(r, Rule) else Rule(r[0], list(r[1])) for r in rules]
        self.default = default
        self.calls: list[dict] = []
        self.info = EngineInfo(name="scripted", model="scripted (test double, not a model)")
        self._lock = threading.Lock()
        #: (prompt, seed) -> raw texts drawn for it, so a repeated seeded call repeats its answers
        self._seeded: dict[tuple[str, int], list[tuple[str, float]]] = {}

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
        check_sampling(n, max_tokens, temperature, top_p)
        with self._lock:
            self.calls.append({"prompts": list(prompts), "n": n, "stop": list(stop), "seed": seed})
            return [[self._finish(*raw, max_tokens, stop) for raw in self._draw(p, n, seed)] for p in prompts]

    def _draw(self, prompt: str, n: int, seed: int | None) -> list[tuple[str, float]]:
        """n raw (text, logprob per token) pairs: the next ones in the cycle, or a seed's remembered ones."""
        if seed is None:
            return [self._next(prompt) for _ in range(n)]
        drawn = self._seeded.setdefault((prompt, seed), [])
        while len(drawn) < n:
            drawn.append(self._next(prompt))
        return drawn[:n]

    def _next(self, prompt: str) -> tuple[str, float]:
        rule = next((r for r in self.rules if r.fits(prompt)), None)
        if rule is None:
            if self.default is None:
                raise LookupError(f"scripted engine has no rule for prompt ending {prompt[-120:]!r}")
            return self.default, -0.5
        raw = rule.texts[rule.cursor % len(rule.texts)]
        rule.cursor += 1
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
