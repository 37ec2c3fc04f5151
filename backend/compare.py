"""Batch compare: every method on the same problems, seeds and budget (``canopy compare``).

A method is an algorithm with optional config overrides (``rstar``, ``rstar:children=3``).
Each method runs as one ``RunSpec`` through ``backend/solve.py: evaluate_spec`` (so through
the one builder, ``backend/runspec.py: build_search``), forked per problem with the same
seed for every method (``seed + i`` on problem ``i``). The known answer grades each run
afterwards; no search is given it (a ``truth`` reward is refused here).

The budget is one number for all methods, applied the way each algorithm can take it
(``budget_overrides``; the report states the rule per method):

- ``tokens=N``: MCTS searches (rStar, CPL) stop after N generated tokens (``token_budget``)
  with rollouts raised to their maximum, so the budget is what ends them; the samplers
  (``sc``, ``bon``) draw as many samples as fit N at their ``max_tokens`` each (at least one),
  ``greedy`` writes one answer of at most ``min(max_tokens, N)`` tokens;
- ``iterations=N``: rollouts for MCTS, samples for the samplers, pops for LIPS.

Pairwise, method A "won" a problem from B when A's answer was right and B's wrong.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from backend import __version__
from backend.runspec import RunSpec, search_config, search_parts
from backend.search.registry import algorithm_names, config_fields

BUDGET_KINDS = ("tokens", "iterations")
#: what the report keeps of each method's run on each problem
PROBLEM_FIELDS = ("answer", "correct", "status", "tokens", "wall_s", "nodes", "iterations", "in_tree")


@dataclass(frozen=True)
class Method:
    """One column of a comparison: a label, an algorithm and its config overrides."""

    label: str
    algorithm: str
    overrides: dict[str, Any] = field(default_factory=dict, hash=False)


def parse_methods(text: str) -> list[Method]:
    """``"greedy,sc,rstar:children=3"`` -> methods; unknown algorithms, repeated labels and
    malformed overrides are a ValueError that says which."""
    known = set(algorithm_names())
    out: list[Method] = []
    for item in (s.strip() for s in text.split(",")):
        if not item:
            continue
        algorithm, *sets = item.split(":")
        if algorithm not in known:
            choices = ", ".join(sorted(known))
            raise ValueError(f"unknown algorithm {algorithm!r} in --algos (known: {choices})")
        overrides: dict[str, Any] = {}
        for s in sets:
            key, sep, value = s.partition("=")
            if not sep or not key.strip():
                raise ValueError(f"--algos: {item!r}: settings are ALGO:KEY=VALUE, got {s!r}")
            overrides[key.strip()] = value.strip()
        if any(m.label == item for m in out):
            raise ValueError(f"--algos names {item!r} twice")
        out.append(Method(item, algorithm, overrides))
    if len(out) < 1:
        raise ValueError("--algos names no method")
    return out


def parse_budget(text: str | None) -> tuple[str, int] | None:
    """``"tokens=1500"`` -> ("tokens", 1500); None for no budget."""
    if not text:
        return None
    kind, sep, value = text.partition("=")
    kind = kind.strip()
    if not sep or kind not in BUDGET_KINDS:
        raise ValueError(f"--budget takes tokens=N or iterations=N, got {text!r}")
    try:
        n = int(value)
    except ValueError:
        raise ValueError(f"--budget {kind} must be a whole number, got {value.strip()!r}") from None
    if n < 1:
        raise ValueError(f"--budget {kind} must be at least 1, got {n}")
    return kind, n


def _field(algorithm: str, name: str) -> dict[str, Any] | None:
    return next((f for f in config_fields(algorithm) if f["name"] == name), None)


def budget_overrides(base: RunSpec, budget: tuple[str, int] | None) -> tuple[dict[str, Any], str]:
    """(config overrides that put ``base``'s algorithm on ``budget``, the rule in words).
    The method's own overrides win where they name the same field."""
    if budget is None:
        return {}, "no budget: the method's own settings"
    kind, n = budget
    algo = base.algorithm
    names = {f["name"] for f in config_fields(algo)}
    if kind == "tokens":
        if "token_budget" in names:
            most = (_field(algo, "rollouts") or {}).get("max") or 10_000
            return {"token_budget": n, "rollouts": most}, f"stops after {n} tokens (rollouts up to {most})"
        cfg = search_config(base)
        if "samples" in names:
            samples = max(1, n // max(int(cfg.max_tokens), 1))
            rule = f"{samples} samples of at most {cfg.max_tokens} tokens (≤ {n} in all)"
            return {"samples": samples}, rule
        if "max_tokens" in names:
            most = min(int(cfg.max_tokens), n)
            return {"max_tokens": most}, f"one answer of at most {most} tokens"
        return {}, "takes no token budget (its own settings)"
    for name in ("rollouts", "samples", "max_iterations"):
        if name in names:
            return {name: n}, f"{name} = {n}"
    return {}, "takes no iteration budget (one pass)"


def method_spec(base: RunSpec, method: Method, budget: tuple[str, int] | None) -> tuple[RunSpec, str]:
    """The RunSpec of ``method`` on ``budget`` (checked: a bad setting fails before any run).
    The budget is worked out on the method's own settings (``sc:max_tokens=200`` fits more
    samples); where both name a field, the method's setting wins. ``ppm=...`` is the run's
    PPM (``default``, ``none`` or a directory), not a config field: ``rstar,rstar:ppm=none``."""
    settings = dict(method.overrides)
    ppm = {"ppm": str(settings.pop("ppm"))} if "ppm" in settings else {}
    spec = base.fork(algorithm=method.algorithm, config=settings, preset=None, **ppm)
    search_parts(spec)
    extra, rule = budget_overrides(spec, budget)
    spec = spec.fork(config={**extra, **settings})
    search_config(spec)
    return spec, rule


@dataclass
class MethodResult:
    method: Method
    rule: str
    report: Any  # backend.solve.EvalReport

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.method.label,
            "algorithm": self.method.algorithm,
            "overrides": dict(self.method.overrides),
            "budget_rule": self.rule,
            "reward": self.report.reward,
            "config": self.report.config,
            **self.report.summary(),
        }


def pairwise(results: Sequence[MethodResult]) -> list[dict[str, Any]]:
    """For each pair (A, B): problems A got right and B wrong (A won), the reverse (B won),
    and both right / both wrong."""
    return pairwise_rows(
        [(r.method.label, [bool(x.get("correct")) for x in r.report.results]) for r in results]
    )


def pairwise_rows(named: Sequence[tuple[str, Sequence[bool]]]) -> list[dict[str, Any]]:
    """``pairwise`` over (label, right or wrong per problem) lists of the same problems."""
    out = []
    for i, (la, ra) in enumerate(named):
        for lb, rb in named[i + 1 :]:
            pairs = list(zip(ra, rb, strict=True))
            out.append(
                {
                    "a": la,
                    "b": lb,
                    "a_won": sum(x and not y for x, y in pairs),
                    "b_won": sum(y and not x for x, y in pairs),
                    "both": sum(x and y for x, y in pairs),
                    "neither": sum(not x and not y for x, y in pairs),
                }
            )
    return out


@dataclass
class CompareReport:
    dataset: str
    budget: tuple[str, int] | None
    base: RunSpec
    methods: list[MethodResult]
    wall_s: float

    def to_dict(self) -> dict[str, Any]:
        first = self.methods[0].report.results if self.methods else []
        problems = []
        for k, prob in enumerate(first):
            row = {key: prob[key] for key in ("id", "question", "reference")}
            row["results"] = {
                m.method.label: {key: m.report.results[k].get(key) for key in PROBLEM_FIELDS}
                for m in self.methods
            }
            problems.append(row)
        spec = self.base.to_dict()
        return {
            "format": "canopy-compare",
            "version": 1,
            "canopy": __version__,
            "dataset": self.dataset,
            "budget": None if self.budget is None else {self.budget[0]: self.budget[1]},
            "engine": spec["engine"],
            "model": spec["model"],
            "model_sha256": spec["model_sha256"],
            "seed": spec["seed"],
            "ppm": spec["ppm"],
            "wall_s": round(self.wall_s, 3),
            "methods": [m.to_dict() for m in self.methods],
            "pairwise": pairwise(self.methods),
            "problems": problems,
        }


def compare(
    problems: Sequence[Any],
    methods: Sequence[Method],
    base: RunSpec,
    *,
    engine: Any,
    budget: tuple[str, int] | None = None,
    dataset: str = "",
    on_result: Callable[[Method, int, Any, Any], None] | None = None,
    on_error: Callable[[Method, int, Any, str], None] | None = None,
    **search_options: Any,
) -> CompareReport:
    """Run every method on every problem (same seeds, same budget, same engine) and grade them.
    A problem whose search raised is an error row of that method (``solve.evaluate_spec``),
    counted wrong in the pairwise table."""
    from backend.solve import evaluate_spec

    if base.reward == "truth":
        raise ValueError("a comparison grades with the known answer; a truth reward hands it to the search")
    specs = [method_spec(base, m, budget) for m in methods]  # every setting checked before the first run
    t0 = time.monotonic()
    results = []
    for method, (spec, rule) in zip(methods, specs, strict=True):
        hook = None if on_result is None else (lambda i, p, r, m=method: on_result(m, i, p, r))
        fail = None if on_error is None else (lambda i, p, why, m=method: on_error(m, i, p, why))
        rep = evaluate_spec(problems, spec, engine=engine, dataset=dataset, on_result=hook, on_error=fail,
                            **search_options)
        results.append(MethodResult(method, rule, rep))
    return CompareReport(dataset, budget, base, results, time.monotonic() - t0)
