"""Headless solving: one problem (``solve_spec``) or a problem set (``evaluate_spec``).

Both run a ``RunSpec`` through the one builder (``backend/runspec.py: build_search``), as the
web app's Run does; ``solve``/``evaluate`` take the same settings as keyword arguments (tests,
benchmarks). The known answer is used to grade the finished run (``RunFinished.reference`` /
``correct``); the search reads it only in a ``truth`` run, a rule kept by the builder alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from backend import events as ev
from backend.reward import DEFAULT_REWARD
from backend.runspec import RunSpec, build_search, model_checksum, search_config
from backend.search.config import config_dict
from backend.search.registry import algorithm_spec
from backend.tree import Tree

EventHook = Callable[[ev.Event], None]


@dataclass
class SolveResult:
    run_id: str
    algorithm: str
    problem: str
    reward: str
    answer: str | None
    reference: str | None
    correct: bool | None
    status: str
    best_path: list[int]
    steps: list[dict[str, Any]]  # the best path as readable steps
    votes: dict[str, float]
    stats: dict[str, Any]
    config: dict[str, Any]
    events: list[ev.Event] = field(repr=False, default_factory=list)
    proof: str = ""  # the proof as justified steps, for searches that prove (LIPS: proof_text)
    #: the proof as a NeqLIPS tactic script under its Lean statement (LIPS: tactic_script)
    tactic_script: str = ""

    @property
    def tokens(self) -> int:
        return int(self.stats.get("tokens", 0))

    @property
    def wall_s(self) -> float:
        return float(self.stats.get("wall_s", 0.0))

    def to_dict(self, with_events: bool = False) -> dict[str, Any]:
        out = asdict(self)
        out.pop("events")
        if with_events:
            out["events"] = [e.to_dict() for e in self.events]
        return out


def _grade(answer: str | None, reference: str | None) -> bool | None:
    if reference is None:
        return None
    if answer is None:
        return False
    from backend.verify.answers import answers_equal

    return answers_equal(answer, reference)


def readable_steps(tree: Tree, path: list[int]) -> list[dict[str, Any]]:
    """The nodes of ``path`` after the root: text, code, output, status, answer, N, Q."""
    steps = []
    for node_id in path[1:]:
        n = tree.nodes[node_id]
        steps.append(
            {
                "id": n.id,
                "kind": n.kind,
                "text": n.text,
                "code": n.code,
                "output": n.output,
                "status": n.status,
                "answer": n.answer,
                "n": n.n,
                "q": round(n.q, 4),
            }
        )
    return steps


def spec_for(
    problem: str,
    *,
    algorithm: str = "rstar",
    engine: Any,
    config: Any = None,
    preset: str | None = None,
    reward: str = DEFAULT_REWARD,
    reference: str | None = None,
    ppm: str | Path | None = None,
    seed: int = 0,
) -> RunSpec:
    """The RunSpec of a library call: ``config`` is a config object (taken whole), a dict of
    overrides or None; the engine object names the engine and model."""
    info = getattr(engine, "info", None)
    name, model = (getattr(info, key, None) for key in ("name", "model"))
    name, model = (v if isinstance(v, str) else None for v in (name, model))
    return RunSpec(
        problem=problem,
        algorithm=algorithm,
        preset=preset,
        config=_overrides(algorithm, config, preset),
        reward=reward,
        ppm=ppm,
        engine=name,
        model=model,
        model_sha256=model_checksum(name, model),
        seed=seed,
        reference=reference,
    )


def _overrides(algorithm: str, config: Any, preset: str | None) -> dict[str, Any]:
    """Config overrides from a config object (every field), a dict, or nothing."""
    cls = algorithm_spec(algorithm).config_cls
    if isinstance(config, cls):
        if preset is not None:
            raise ValueError("give either a config object or a preset, not both")
        return config_dict(config)
    if config is not None and not isinstance(config, Mapping):
        raise TypeError(f"config must be a {cls.__name__} or a dict, got {type(config).__name__}")
    return dict(config or {})


def solve(
    problem: str,
    *,
    algorithm: str = "rstar",
    engine: Any,
    config: Any = None,
    preset: str | None = None,
    reward: str = DEFAULT_REWARD,
    reference: str | None = None,
    ppm: str | Path | None = None,
    on_event: EventHook | None = None,
    seed: int = 0,
    log: ev.EventLog | None = None,
    run_id: str | None = None,
    **search_options: Any,
) -> SolveResult:
    """Run ``algorithm`` on ``problem`` to the end and return its answer, graded when
    ``reference`` is given: ``solve_spec(spec_for(...))``. ``search_options`` go to the
    search class (``executor`` in tests)."""
    spec = spec_for(
        problem,
        algorithm=algorithm,
        engine=engine,
        config=config,
        preset=preset,
        reward=reward,
        reference=reference,
        ppm=ppm,
        seed=seed,
    )
    return solve_spec(spec, engine=engine, on_event=on_event, log=log, run_id=run_id, **search_options)


def solve_spec(
    spec: RunSpec,
    *,
    engine: Any,
    on_event: EventHook | None = None,
    log: ev.EventLog | None = None,
    run_id: str | None = None,
    **search_options: Any,
) -> SolveResult:
    """Run ``spec`` to the end (built by ``backend/runspec.py: build_search``) and grade it
    with ``spec.reference``. ``on_event`` sees every event as it is emitted (a progress line,
    a live tree)."""
    log = log if log is not None else ev.EventLog()
    if on_event is not None:
        log.subscribe(on_event)
    search = build_search(spec, engine, run_id, log=log, **search_options)
    finished = _drive(search, spec.reference)
    return SolveResult(
        run_id=search.state.run_id,
        algorithm=spec.algorithm,
        problem=search.state.problem,
        reward=search.reward.name,
        answer=finished.answer,
        reference=spec.reference,
        correct=finished.correct,
        status=finished.status,
        best_path=list(finished.best_path),
        steps=readable_steps(Tree.from_events(log.events), list(finished.best_path)),
        votes=dict(search.outcome().votes),
        stats=dict(finished.stats),
        config=config_dict(search.config),
        events=log.events,
        proof=search.proof_text() if hasattr(search, "proof_text") else "",
        tactic_script=search.tactic_script() if hasattr(search, "tactic_script") else "",
    )


def _drive(search: Any, reference: str | None) -> ev.RunFinished:
    """Step to the end and finish; a failure or Ctrl-C still closes the run, then re-raises."""
    try:
        search.start()
        while not search.done:
            search.step()
    except KeyboardInterrupt:
        search.request_stop()
        _finish(search, reference, status="stopped")
        raise
    except Exception as exc:
        _finish(search, reference, status="error", error=f"{type(exc).__name__}: {exc}")
        raise
    return _finish(search, reference)


def _finish(
    search: Any, reference: str | None, status: str | None = None, error: str | None = None
) -> ev.RunFinished:
    answer = search.outcome().answer if status != "error" else None
    return search.finish(status=status, reference=reference, correct=_grade(answer, reference), error=error)


#: problems in a row whose search may raise before an eval stops: one is that problem's (a
#: goal grown past the model's context), several in a row are the engine's (a dead server)
MAX_ERRORS_IN_A_ROW = 3


@dataclass
class EvalReport:
    algorithm: str
    dataset: str
    reward: str
    config: dict[str, Any]
    results: list[dict[str, Any]]
    wall_s: float
    #: why the eval stopped before its last problem (None: it ran them all)
    stopped: str | None = None

    @property
    def total(self) -> int:
        return len(self.results)

    @property
    def correct(self) -> int:
        return sum(1 for r in self.results if r.get("correct"))

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    def summary(self) -> dict[str, Any]:
        n = max(self.total, 1)
        return {
            "accuracy": round(self.accuracy, 4),
            "correct": self.correct,
            "total": self.total,
            "answered": sum(1 for r in self.results if r.get("answer") is not None),
            "mean_tokens": round(sum(r.get("tokens", 0) for r in self.results) / n, 1),
            "mean_wall_s": round(sum(r.get("wall_s", 0.0) for r in self.results) / n, 3),
            "wall_s": round(self.wall_s, 3),
            #: problems where some terminal stated the known answer (the ceiling of a perfect verifier)
            "in_tree": sum(1 for r in self.results if r.get("in_tree")),
            "errors": sum(1 for r in self.results if r.get("status") == "error"),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "algorithm": self.algorithm,
            "dataset": self.dataset,
            "reward": self.reward,
            "config": self.config,
            "problems": self.results,
            **({"stopped": self.stopped} if self.stopped else {}),
        }


def evaluate(
    problems: Iterable[Any],
    *,
    algorithm: str = "rstar",
    engine: Any,
    config: Any = None,
    preset: str | None = None,
    reward: str = DEFAULT_REWARD,
    ppm: str | Path | None = None,
    seed: int = 0,
    dataset: str = "",
    on_result: Callable[[int, Any, SolveResult], None] | None = None,
    on_event: EventHook | None = None,
    **search_options: Any,
) -> EvalReport:
    """``evaluate_spec`` with the RunSpec these arguments describe (each problem brings its
    own text and known answer)."""
    spec = spec_for(
        "",
        algorithm=algorithm,
        engine=engine,
        config=config,
        preset=preset,
        reward=reward,
        ppm=ppm,
        seed=seed,
    )
    return evaluate_spec(
        problems,
        spec,
        engine=engine,
        dataset=dataset,
        on_result=on_result,
        on_event=on_event,
        **search_options,
    )


def evaluate_spec(
    problems: Iterable[Any],
    spec: RunSpec,
    *,
    engine: Any,
    dataset: str = "",
    on_result: Callable[[int, Any, SolveResult], None] | None = None,
    on_event: EventHook | None = None,
    on_error: Callable[[int, Any, str], None] | None = None,
    **search_options: Any,
) -> EvalReport:
    """Solve each problem with ``spec``'s settings: problem ``i`` runs as
    ``spec.fork(problem=..., reference=..., seed=spec.seed + i)`` and is graded.

    A problem whose search raises is an ``error`` line (``error_row``; ``on_error`` hears of
    it) and the eval goes on: one problem's failure must not throw away the others' hours
    (MO-INT P19's grown goal once ended a 12-minute eval with nothing written). After
    ``MAX_ERRORS_IN_A_ROW`` such problems in a row the eval stops (``EvalReport.stopped``)."""
    cfg = search_config(spec)  # a bad setting fails before the first problem
    results: list[dict[str, Any]] = []
    t0 = time.monotonic()
    reward = spec.reward
    in_a_row = 0
    stopped = None
    for i, prob in enumerate(problems):
        one = spec.fork(problem=prob.question, reference=prob.answer, seed=spec.seed + i)
        t = time.monotonic()
        try:
            res = solve_spec(one, engine=engine, on_event=on_event, **search_options)
        except Exception as exc:  # any search failure: that problem's line says which
            reason = f"{type(exc).__name__}: {exc}"
            results.append(error_row(prob, reason, time.monotonic() - t))
            if on_error is not None:
                on_error(i, prob, reason)
            in_a_row += 1
            if in_a_row >= MAX_ERRORS_IN_A_ROW:
                stopped = f"stopped after {in_a_row} problems in a row ended in error; the last: {reason}"
                break
            continue
        in_a_row = 0
        reward = res.reward
        results.append(result_row(prob, res))
        if on_result is not None:
            on_result(i, prob, res)
    wall = time.monotonic() - t0
    return EvalReport(spec.algorithm, dataset, reward, config_dict(cfg), results, wall, stopped)


def error_row(problem: Any, reason: str, wall_s: float = 0.0) -> dict[str, Any]:
    """The report line of a problem that has no result: no answer, no run, and why (a search
    that raised here, or on Ray a problem no worker finished)."""
    return {
        "id": problem.id,
        "question": problem.question,
        "reference": problem.answer,
        "answer": None,
        "correct": False,
        "status": "error",
        "error": reason,
        "votes": {},
        "tokens": 0,
        "wall_s": round(wall_s, 3),
        "iterations": 0,
        "nodes": 0,
        "in_tree": None,
        "run_id": None,
    }


def result_row(prob: Any, res: SolveResult) -> dict[str, Any]:
    """One problem's line of an eval report (the in-process eval and ``backend/scale`` share it)."""
    return {
        "id": prob.id,
        "question": prob.question,
        "reference": prob.answer,
        "answer": res.answer,
        "correct": res.correct,
        "status": res.status,
        "votes": res.votes,
        "tokens": res.tokens,
        "wall_s": res.wall_s,
        "iterations": res.stats.get("iterations", 0),
        "nodes": res.stats.get("nodes", 0),
        "in_tree": right_answer_in_tree(res.events, prob.answer),
        # LIPS: the proof as a NeqLIPS tactic script (which chain closed it), "" otherwise
        **({"tactic_script": res.tactic_script} if res.tactic_script else {}),
    }


def right_answer_in_tree(events: Iterable[ev.Event], reference: str | None) -> bool | None:
    """Whether some terminal of the run states the known answer (what a perfect verifier
    could have picked); None without a known answer. Grading only: the search never sees it."""
    if reference is None:
        return None
    from backend.verify.answers import answers_equal

    answers = {e.answer for e in events if isinstance(e, ev.NodeVerified) and e.terminal and e.answer}
    return any(answers_equal(a, reference) for a in answers)
