"""Hand-made evolve run directories (the files ``stages.py`` and ``rounds.py`` write, with
made-up numbers): a finished 2-round run, a run in the middle of round 2's search, and the
pieces to break one. Shared by tests/evolve/test_runs_index.py and the Training tab's tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from backend.evolve.manifest import EvolveSettings, new_manifest, write_json
from backend.evolve.report import round_report

TRAIN = [f"gsm8k-train/{i}" for i in range(5)]
TEST = [f"gsm8k/{100 + i}" for i in range(2)]


def _eval(accuracy_greedy: float, accuracy_search: float) -> dict[str, Any]:
    return {"problems": len(TEST), "greedy": {"accuracy": accuracy_greedy, "correct": 1, "seconds": 3.0},
            "search": {"accuracy": accuracy_search, "correct": 1, "seconds": 9.0}}


def _fake_weights(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text("{}", encoding="utf-8")
    (folder / "model.safetensors").write_bytes(b"not real weights")


def write_round(run: Path, number: int, *, ppm: bool, loss: tuple[float, float]) -> dict[str, Any]:
    """Every stage file of round ``number`` (a trained policy, a PPM when ``ppm``)."""
    folder = run / f"round-{number}"
    for i in range(len(TRAIN)):
        (folder / "trees").mkdir(parents=True, exist_ok=True)
        (folder / "trees" / f"gsm8k-train_{i}.jsonl.gz").write_bytes(b"")
    search = {"problems": 5, "right_answer_in_tree": 2 + number, "search_answer_right": 1 + number,
              "nodes": 40, "seconds": 50.0}
    data = {"sft_examples": 3 * number, "ppm_pairs": 30 + number, "seconds": 0.1}
    policy = {"trained": True, "policy": str(folder / "policy"), "steps": 2, "first_loss": loss[0],
              "last_loss": loss[1], "seconds": 20.0}
    _fake_weights(folder / "policy")
    if ppm:
        made = {"trained": True, "ppm": str(folder / "ppm"), "heldout_pairwise_accuracy": 0.6, "seconds": 5.0}
        _fake_weights(folder / "ppm")
        marker = '{"format": "canopy-ppm", "version": 1}'  # what runspec checks before a run
        (folder / "ppm" / "canopy_ppm.json").write_text(marker, encoding="utf-8")
    else:
        made = {"trained": False, "ppm": None, "why": "12 PPM pairs; a PPM needs at least 30", "seconds": 0.0}
    evaluation = _eval(0.5, 0.5 if number == 1 else 1.0)
    for name, content in (("search", search), ("data", data), ("policy", policy), ("ppm", made),
                          ("eval", evaluation)):
        write_json(folder / f"{name}.json", content)
    row = round_report(number, "terminal-guided", policy_in=None, ppm_in=None, search=search, data=data,
                       policy=policy, ppm=made, evaluation=evaluation)
    write_json(folder / "report.json", row)
    return row


def start_run(run: Path, rounds: int = 2) -> None:
    """A run's manifest and round 0 (the base policy's held-out evaluation)."""
    settings = EvolveSettings(rounds=rounds, train_count=len(TRAIN), test_count=len(TEST))
    manifest = new_manifest(settings, train_ids=TRAIN, test_ids=TEST,
                            base={"engine": "llamacpp", "model": "embedded", "sha256": "0" * 64})
    write_json(run / "manifest.json", manifest)
    write_json(run / "round-0" / "eval.json", _eval(0.0, 0.5))


def finished_run(run: Path) -> Path:
    """Two rounds done: round 1 trained a policy and no PPM, round 2 a policy and a PPM."""
    start_run(run)
    rows = [write_round(run, 1, ppm=False, loss=(1.2, 0.8)), write_round(run, 2, ppm=True, loss=(0.9, 0.5))]
    write_json(run / "report.json", {"rounds": rows})
    return run


def mid_search_run(run: Path, searched: int = 3) -> Path:
    """Round 1 done; round 2 has searched ``searched`` of the 5 training problems."""
    start_run(run)
    write_round(run, 1, ppm=False, loss=(1.2, 0.8))
    trees = run / "round-2" / "trees"
    trees.mkdir(parents=True)
    for i in range(searched):
        (trees / f"gsm8k-train_{i}.jsonl.gz").write_bytes(b"")
    return run


def break_json(path: Path) -> None:
    path.write_text(json.dumps({"rounds": 1})[:-3], encoding="utf-8")


def cpl_run(run: Path) -> Path:
    """A CPL run (``--algo cpl``): round 1 finished (SFT, Step-APO and value head trained),
    round 2 between its SFT and its Step-APO stage."""
    start_run(run)
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    manifest["settings"]["algo"] = "cpl"
    write_json(run / "manifest.json", manifest)
    for number in (1, 2):
        folder = run / f"round-{number}"
        write_json(folder / "search.json", {"problems": 5})
        write_json(folder / "data.json", {"sft_examples": 4})
        write_json(folder / "policy.json", {"trained": True, "policy": str(folder / "policy")})
        _fake_weights(folder / "policy")
    one = run / "round-1"
    write_json(one / "apo.json", {"trained": True, "policy": str(one / "policy-apo")})
    _fake_weights(one / "policy-apo")
    write_json(one / "value.json", {"trained": True, "value": str(one / "value")})
    _fake_weights(one / "value")
    write_json(one / "eval.json", _eval(0.5, 0.5))
    row = {"round": 1, "heldout_greedy_accuracy": 0.5, "heldout_search_accuracy": 0.5}
    write_json(one / "report.json", row)
    return run


def export_gguf_stub(run: Path, number: int, *, records: str = "0" * 64) -> Path:
    """What ``canopy evolve --policy-engine llamacpp`` adds to a round: ``policy.gguf`` (here a
    real GGUF file with the metadata alone, no tensors) recording the checksum ``records``,
    and ``policy.json`` naming it with the policy folder's checksum ``"0" * 64``."""
    import gguf

    from backend.evolve.gguf_export import SOURCE_SHA_KEY

    folder = run / f"round-{number}"
    out = folder / "policy.gguf"
    writer = gguf.GGUFWriter(str(out), "qwen2")
    writer.add_string(SOURCE_SHA_KEY, records)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    stage = json.loads((folder / "policy.json").read_text(encoding="utf-8"))
    write_json(folder / "policy.json", {**stage, "sha256": "0" * 64, "gguf": str(out)})
    return out



def eval_result(
    run: Path, number: int, kind: str, index: int, right: Any, cpu: str = "Xeon (avx512)"
) -> None:
    """One per-problem held-out result file (``stages.held_out_accuracy``) of round ``number``."""
    folder = run / f"round-{number}" / "eval" / kind
    folder.mkdir(parents=True, exist_ok=True)
    problem = TEST[index]
    (folder / f"{problem.replace('/', '_')}.json").write_text(
        json.dumps({"id": problem, "correct": right, "cpu": cpu}), encoding="utf-8")


def mid_eval_run(run: Path) -> Path:
    """Two rounds; round 2 is in its held-out evaluation: greedy done on both test problems
    (right on both), search done on the first (right). Rounds 0 and 1 evaluated both problems,
    round 1 on another CPU: greedy right on one each, search right on both (round 0) and
    on none (round 1)."""
    finished_run(run)
    for name in ("eval.json", "report.json"):
        (run / "round-2" / name).unlink()
    (run / "report.json").unlink()
    results = (("greedy", ((True, False), (False, True))), ("search", ((True, True), (False, False))))
    for kind, rights in results:
        for number, cpu in ((0, "Xeon (avx512)"), (1, "EPYC (avx2)")):
            for i, right in enumerate(rights[number]):
                eval_result(run, number, kind, i, right, cpu)
    for i in range(2):
        eval_result(run, 2, "greedy", i, True)
    eval_result(run, 2, "search", 0, True)
    return run
