"""Measure an evolve run's held-out evaluation again, on this machine, with the run's own specs.

llama.cpp's kernels differ by CPU (AVX2, AVX-512, AMX): the same model, prompt and greedy
decoding can pick another token at a near-tie and then write another program. On GSM8K test
100-199 the embedded model's greedy answers differed on 19 of 100 problems between two
machines (docs/EVOLVE.md). A round compared with round 0 must therefore be measured on the
same kind of machine; a run carried between machines may not have been. This script re-runs
one round's held-out evaluation (``greedy`` or ``search``: the RunSpec, problems and seeds of
``backend/evolve/stages.py: eval_stage``) into ``--out``, one JSON per problem with the CPU it ran
on (resumable: files there are kept), then prints the accuracy and the problems won and lost
against the run's own files of another round.

    python -m bench.evolve_same_machine assets/evolve-300 --round 0 --kind search \
        --out bench/results/evo300-round0-search-avx2 --versus 1 --threads 2

``--kind sc`` measures the round's self-consistency at its search's tokens (what ``canopy evolve
--eval-sc`` adds) outside the run, and ``--kind search --ppm run`` the search with the PPM the
round used; without ``--ppm run`` a PPM round's search runs without it (the policy alone). A
round's policy is ``RUN/round-N/policy`` (a committed run has adapters only: run it from the
``runs/`` copy that ``canopy evolve`` rebuilt).

It grades with the known answers only; no search here sees them (the search's reward is the
vote, as in the run).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from backend.evolve.machine import cpu_name


def main(argv: list[str] | None = None) -> int:
    from backend.evolve.manifest import EvolveSettings, read_json
    from backend.evolve.models import LocalModels
    from backend.evolve.rounds import problem_sets
    from backend.evolve.run_paths import anchored
    from backend.evolve.stages import correct_by_id, held_out_accuracy, sc_samples
    from backend.runspec import RunSpec

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path, help="an evolve run folder (its manifest.json)")
    ap.add_argument("--round", type=int, default=0, help="0: the base policy; N: round N's policy folder")
    ap.add_argument("--kind", choices=("greedy", "search", "sc"), default="greedy",
                    help="sc: self-consistency with k = the round's search tokens / greedy tokens "
                         "(stages.sc_samples, from the run's own files), as `canopy evolve --eval-sc`")
    ap.add_argument("--ppm", choices=("none", "run"), default="none",
                    help="the search's PPM: none (default), or run: the one the round's own held-out "
                         "search used (eval.json's ppm; rounds 3-4)")
    ap.add_argument("--out", type=Path, required=True, help="one JSON per problem (kept: resumable)")
    ap.add_argument("--versus", type=int, default=None, help="a round whose own eval files to compare with")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--policy-engine", default="llamacpp")
    args = ap.parse_args(argv)

    manifest = read_json(args.run / "manifest.json")
    settings = EvolveSettings.from_dict(manifest["settings"])
    _, test = problem_sets(settings)
    policy = None if args.round == 0 else str(args.run / f"round-{args.round}" / "policy")
    models = LocalModels("llamacpp", None, args.threads, policy_engine=args.policy_engine)
    about = models.describe(None) if policy is None else {"engine": args.policy_engine, "model": policy}
    folder = args.run / f"round-{args.round}"
    config = {"greedy": {}, "search": dict(settings.eval_search)}.get(args.kind)
    if args.kind == "sc":
        config = {"samples": sc_samples(folder)}
    ppm = "none"
    if args.kind == "search" and args.ppm == "run":
        ppm = anchored(read_json(folder / "eval.json"), args.run).get("ppm") or "none"
    algorithm = {"greedy": "greedy", "search": "rstar", "sc": "sc"}[args.kind]
    spec = RunSpec(problem="", algorithm=algorithm, config=config, ppm=ppm, engine=about["engine"],
                   model=about["model"], seed=settings.seed)
    print(f"spec: {algorithm} {json.dumps(config, sort_keys=True)}, PPM {ppm}", flush=True)
    print(f"{args.run} round {args.round} {args.kind} on {len(test)} held-out problems; CPU: {cpu_name()}",
          flush=True)
    args.out.mkdir(parents=True, exist_ok=True)

    def progress(i: int) -> None:
        if i % 10 == 0 or i == len(test):
            print(f"  {i}/{len(test)}", flush=True)

    summary = held_out_accuracy(args.out, spec, test, lambda: models.engine(policy), settings.seed, progress)
    models.close()
    print(f"{args.kind}, round {args.round}, this machine: {summary['correct']}/{len(test)}")
    if args.versus is not None:
        here = correct_by_id(args.out)
        there = correct_by_id(args.run / f"round-{args.versus}" / "eval" / args.kind)
        both = here.keys() & there.keys()
        won = sum(there[i] and not here[i] for i in both)
        lost = sum(here[i] and not there[i] for i in both)
        print(f"round {args.versus} (the run's files) vs this: {sum(there[i] for i in both)}/{len(both)} "
              f"vs {sum(here[i] for i in both)}/{len(both)}; round {args.versus} won {won}, lost {lost}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
