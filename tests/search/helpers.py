"""Shared pieces of the search tests: a toy policy over the MCTS core, seeded fake engines."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from backend.engines.base import Completion, EngineInfo, plain_chat_prompt
from backend.search.mcts import MCTSConfig, MCTSSearch, MNode, NodeSpec, Verdict

Q = "What is 2 + 3?"


@dataclass(frozen=True)
class Toy:
    """One scripted child: kind "step" (non-terminal), "answer" (valid terminal) or "bad"."""

    label: str
    kind: str = "step"
    answer: str | None = None


class ToyPolicy:
    """Children per node label from a dict; one engine call per expansion, as the core demands."""

    def __init__(self, tree: dict[str, list[Toy]]):
        self.tree = tree

    def root(self) -> NodeSpec:
        return NodeSpec(kind="root", text=Q, state={"label": "root"})

    def propose(self, search: MCTSSearch, node: MNode, n: int, seed: int) -> list[NodeSpec]:
        label = node.state["label"]
        search.generate([label], n=n, seed=seed, max_tokens=8)  # counted like a real call
        kids = self.tree.get(label, [])[:n]
        return [
            NodeSpec(
                kind="answer" if k.kind == "answer" else "step",
                text=k.label,
                tokens=1,
                state={"toy": k, "label": k.label},
            )
            for k in kids
        ]

    def verify(self, search: MCTSSearch, nodes: Sequence[MNode]) -> list[Verdict]:
        out = []
        for node in nodes:
            toy: Toy = node.state["toy"]
            if toy.kind == "answer":
                out.append(Verdict("answered", "answer", answer=toy.answer, terminal=True))
            elif toy.kind == "bad":
                out.append(Verdict("error", "python", "NameError", terminal=True, reason="error"))
            else:
                out.append(Verdict("ok", "python"))
        return out


class EchoEngine:
    """Returns n one-token completions; records calls."""

    def __init__(self) -> None:
        self.calls: list[dict] = []
        self.info = EngineInfo("fake", "echo (test double)")

    def generate(self, prompts, *, n=1, max_tokens=256, temperature=0.7, top_p=1.0, stop=(), seed=None):
        self.calls.append({"prompts": list(prompts), "n": n, "seed": seed})
        return [[Completion("x", 1, -1.0, "stop") for _ in range(n)] for _ in prompts]

    def chat_prompt(self, messages, *, add_generation_prompt=True):
        return plain_chat_prompt(messages, add_generation_prompt=add_generation_prompt)

    def close(self) -> None:
        pass


class ToySearch(MCTSSearch):
    name = "toy"
    rewards = ("vote", "truth")

    def __init__(self, tree: dict[str, list[Toy]], *, config: MCTSConfig | None = None, **kw):
        kw.setdefault("engine", EchoEngine())
        super().__init__(Q, config=config or MCTSConfig(), **kw)
        self.policy = ToyPolicy(tree)


class SeededEngine:
    """Picks each completion from ``texts`` with the call's seed: same seed, same picks."""

    def __init__(self, texts: Sequence[str]):
        self.texts = list(texts)
        self.info = EngineInfo("fake", "seeded (test double)")
        self.calls: list[dict] = []

    def generate(self, prompts, *, n=1, max_tokens=256, temperature=0.7, top_p=1.0, stop=(), seed=None):
        self.calls.append({"prompts": list(prompts), "n": n, "seed": seed})
        rng = np.random.default_rng(seed)
        out = []
        for _ in prompts:
            row = []
            for _ in range(n):
                text = self.texts[int(rng.integers(len(self.texts)))]
                cut = (
                    min((text.find(s), s) for s in stop if s in text)
                    if any(s in text for s in stop)
                    else None
                )
                if cut:
                    row.append(Completion(text[: cut[0]], 5, -2.0, "stop", cut[1]))
                else:
                    row.append(Completion(text, 5, -2.0, "stop", None))
            out.append(row)
        return out

    def chat_prompt(self, messages, *, add_generation_prompt=True):
        return plain_chat_prompt(messages, add_generation_prompt=add_generation_prompt)

    def close(self) -> None:
        pass


def sandbox(codes, timeout_s):
    from backend.verify.sandbox import run_code

    return [run_code(c, timeout_s=timeout_s) for c in codes]
