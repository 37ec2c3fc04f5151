"""rStar-Math's PPM: pairs read off a tree as the official scripts build them, the value-head
model, its ranking loss, scoring, and short training runs (through ``train_ppm``, the wrapper
over the Trainer of backend/train/ppm_trainer.py, and ``canopy train-ppm``) on a tiny real
transformers model. The trainer itself: tests/train/test_ppm_trainer.py."""

from __future__ import annotations

import json
import math

import pytest

from backend import events as ev
from backend.events import EventLog
from backend.train.ppm_pairs import PPMPair, keep, ppm_pairs
from backend.tree import Tree
from tests.train.tiny import tiny_model_and_tokenizer


def tree_of(rows) -> Tree:
    """rows: (id, parent, kind, text, answer, q); answers are verified, every node visited once."""
    log = EventLog()
    log.emit(ev.RunStarted, run_id="r", algorithm="rstar", problem="P", reward="truth")
    log.emit(ev.NodeAdded, id=0, parent=None, kind="root", text="P")
    for nid, parent, kind, text, answer, q in rows:
        log.emit(ev.NodeAdded, id=nid, parent=parent, kind=kind, text=text)
        status = "answered" if answer else "ok"
        log.emit(ev.NodeVerified, id=nid, status=status, method="python", answer=answer)
        log.emit(ev.Backprop, iteration=1, path=[0, nid], reward=q, updated=[[nid, 1, q]])
    return Tree.from_events(log.events)


ROWS = [
    (1, 0, "step", "s1", None, 0.5),  # has a correct and a wrong answer below
    (2, 0, "step", "s2", None, 1.0),
    (3, 0, "step", "s3", None, -1.0),
    (4, 0, "step", "s4", None, -0.6),
    (5, 1, "answer", "a5", "2", 1.0),  # correct: Q = +1 from the ground truth
    (6, 1, "answer", "a6", "3", -1.0),  # wrong
    (7, 2, "answer", "a7", "2", 1.0),
    (8, 3, "answer", "a8", "4", -1.0),
    (9, 4, "answer", "a9", "5", -1.0),
]


def test_pairs_follow_the_official_search_all_traces():
    pairs = {(p.chosen_id, p.rejected_id): p for p in ppm_pairs(tree_of(ROWS))}
    # root: chosen = the 2 highest-Q children with a correct answer below (2, 1), rejected =
    # the 2 lowest-Q with a wrong one below (3, 4; 1 is third); then down into 1 (it has both)
    assert set(pairs) == {(2, 3), (2, 4), (1, 3), (1, 4), (5, 6)}
    assert pairs[(2, 4)].margin == pytest.approx(1.6)
    assert (pairs[(2, 3)].pos_count, pairs[(2, 3)].neg_count, pairs[(2, 3)].weight) == (2, 2, 0.25)
    assert pairs[(5, 6)].weight == 1.0
    assert pairs[(2, 3)].prefix == "P\n" and pairs[(5, 6)].prefix == "P\ns1"
    assert (pairs[(5, 6)].chosen, pairs[(5, 6)].rejected) == ("a5", "a6")


def test_one_chosen_takes_up_to_four_rejected():
    rows = [(1, 0, "answer", "good", "1", 1.0)]
    rows += [(k, 0, "answer", f"bad{k}", "9", -1.0) for k in range(2, 8)]
    pairs = ppm_pairs(tree_of(rows))
    assert [p.rejected_id for p in pairs] == [2, 3, 4, 5]  # 4 of the 6 (equal Q: in child order)
    assert {(p.pos_count, p.neg_count) for p in pairs} == {(1, 4)}


def test_a_chosen_step_whose_best_path_averages_lower_is_not_paired():
    rows = [
        (1, 0, "step", "A", None, 0.1),
        (2, 1, "step", "a1", None, -0.95),
        (3, 2, "step", "a2", None, -0.95),
        (4, 3, "answer", "a3", "1", 1.0),  # A's path: mean (0.1 - 0.95 - 0.95 + 1) / 4 = -0.2
        (5, 0, "step", "B", None, 0.05),
        (6, 5, "step", "b1", None, 0.9),
        (7, 6, "step", "b2", None, 0.9),
        (8, 7, "answer", "b3", "2", -1.0),  # B's path: mean (0.05 + 0.9 + 0.9 - 1) / 4 > -0.2
    ]
    assert ppm_pairs(tree_of(rows)) == []  # the margin 0.05 > 0 alone would pair them


def test_no_ground_truth_values_no_pairs():
    rows = [(1, 0, "answer", "x", "1", 0.5), (2, 0, "answer", "y", "2", -0.5)]  # vote-like values
    assert ppm_pairs(tree_of(rows)) == []
    assert ppm_pairs(Tree()) == []


def test_keep_wants_a_margin_of_half_and_twenty_edits():
    pytest.importorskip("rapidfuzz")
    far = "x = compute_the_total(apples)"
    pairs = [
        PPMPair("p", far, "y = 1", 0.4, 1, 1, 1, 2),  # margin too small
        PPMPair("p", "x = 10", "x = 11", 2.0, 1, 1, 3, 4),  # 1 edit apart
        PPMPair("p", far, "y = 1", 2.0, 1, 1, 5, 6),
    ]
    assert [p.chosen_id for p in keep(pairs)] == [5]


# --- the model ---------------------------------------------------------------------------

torch = pytest.importorskip("torch")


def _ppm(seed=0):
    from backend.reward.ppm import ProcessPreferenceModel

    backbone, tokenizer = tiny_model_and_tokenizer(seed)
    return ProcessPreferenceModel(backbone), tokenizer


def test_a_fresh_head_scores_near_zero_and_padding_changes_nothing():
    from backend.reward.ppm import score

    model, tokenizer = _ppm()
    alone = score(model, tokenizer, ["find x"])
    batched = score(model, tokenizer, ["find x", "find x plan isolate x step one add"])
    assert abs(alone[0]) < 1e-3  # the official near-zero init: training starts flat
    assert batched[0] == pytest.approx(alone[0], abs=1e-6)
    assert all(-1 < s < 1 for s in batched)


def test_the_score_is_tanh_of_the_value_over_five():
    from backend.reward.ppm import encode, score

    model, tokenizer = _ppm()
    model.eval()  # no dropout: the same value twice
    with torch.no_grad():
        model.v_head.summary.weight.normal_(0, 1.0)  # a head with something to say
        ids, mask = encode(tokenizer, ["find x plan"])
        value = model(ids, mask).item()
    assert score(model, tokenizer, ["find x plan"])[0] == pytest.approx(math.tanh(value / 5), abs=1e-6)


def test_the_loss_is_weighted_bradley_terry():
    from backend.reward.ppm import ppm_loss

    zero = torch.zeros(2)
    assert ppm_loss(zero, zero, torch.tensor([0.25, 1.0])).item() == pytest.approx(1.25 * math.log(2))
    better = ppm_loss(torch.tensor([2.0]), torch.tensor([-2.0]), torch.ones(1))
    assert better.item() == pytest.approx(math.log1p(math.exp(-4.0)))


def test_training_ranks_the_chosen_step_above_the_rejected():
    from backend.reward.ppm import score, train_ppm

    model, tokenizer = _ppm()
    pairs = [PPMPair("find x ", "isolate x step", "guess one", 2.0, 1, 1, 1, 2)] * 4
    seen = []
    losses = train_ppm(
        model, tokenizer, pairs, epochs=8, lr=1e-2, batch_size=2, progress=lambda *a: seen.append(a)
    )
    assert losses[-1] < losses[0]
    assert len(seen) == len(losses) == 16 and seen[-1][:2] == (16, 16)
    chosen, rejected = score(model, tokenizer, ["find x isolate x step", "find x guess one"])
    assert chosen > rejected
    with pytest.raises(ValueError, match="no PPM pairs"):
        train_ppm(model, tokenizer, [])


# --- the command line: pairs from stored runs, then training, then loading -----------------


def test_pairs_train_load_from_the_command_line(tmp_path, capsys):
    pytest.importorskip("rapidfuzz")
    from backend.cli import main
    from backend.events import write_jsonl
    from backend.reward.ppm import load_ppm, score

    rows = [
        (1, 0, "step", "isolate x step one add isolate x", None, 1.0),
        (2, 0, "step", "guess guess guess guess guess", None, -1.0),
        (3, 1, "answer", "good", "2", 1.0),
        (4, 2, "answer", "bad", "3", -1.0),
    ]
    log_events = _events(rows)
    db, src = str(tmp_path / "h.sqlite"), tmp_path / "run.jsonl"
    write_jsonl(log_events, src)
    assert main(["import", str(src), "--db", db]) == 0
    run_id = capsys.readouterr().out.strip().rsplit(" ", 1)[-1]
    pairs_file = tmp_path / "ppm.jsonl"
    assert main(["pairs", run_id, "--kind", "ppm", "--out", str(pairs_file), "--db", db]) == 0
    assert f"{run_id}: 1 pairs" in capsys.readouterr().out

    backbone, tokenizer = tiny_model_and_tokenizer()
    backbone.save_pretrained(tmp_path / "base")
    tokenizer.save_pretrained(tmp_path / "base")
    out = tmp_path / "ppm"
    args = ["train-ppm", str(pairs_file), "--out", str(out), "--base", str(tmp_path / "base")]
    assert main([*args, "--epochs", "12", "--lr", "0.01", "--threads", "1"]) == 0
    assert "saved the PPM" in capsys.readouterr().out
    about = json.loads((out / "canopy_ppm.json").read_text())
    assert about["format"] == "canopy-ppm" and about["trainer"].startswith("transformers.Trainer")
    recorded = (about["epochs"], about["lr"], about["steps"], about["lora"], about["max_length"])
    assert recorded == (12, 0.01, 12, None, 2048)  # 1 pair, batch 4: one step per epoch
    model, tok = load_ppm(out)
    chosen, rejected = score(
        model, tok, ["P\nisolate x step one add isolate x", "P\nguess guess guess guess guess"]
    )
    assert chosen > rejected
    top = ["train-ppm", str(pairs_file), "--out", str(tmp_path / "top"), "--base", str(tmp_path / "base")]
    assert main([*top, "--epochs", "1", "--lora", "--lora-top-layers", "1", "--threads", "1"]) == 0
    assert json.loads((tmp_path / "top" / "canopy_ppm.json").read_text())["lora"]["top_layers"] == 1

    assert main(["pairs", run_id, "--kind", "nope", "--db", db]) == 2
    assert main(["train-ppm", str(src), "--out", str(tmp_path / "x")]) == 2  # an events file is not pairs
    assert "not a PPMPair pair" in capsys.readouterr().err
    with pytest.raises(ValueError, match="not a Canopy PPM directory"):
        load_ppm(tmp_path / "base")


def _events(rows):
    log = EventLog()
    log.emit(ev.RunStarted, run_id="r", algorithm="rstar", problem="P", reward="truth")
    log.emit(ev.NodeAdded, id=0, parent=None, kind="root", text="P")
    for nid, parent, kind, text, answer, q in rows:
        log.emit(ev.NodeAdded, id=nid, parent=parent, kind=kind, text=text)
        log.emit(
            ev.NodeVerified, id=nid, status="answered" if answer else "ok", method="python", answer=answer
        )
        log.emit(ev.Backprop, iteration=1, path=[0, nid], reward=q, updated=[[nid, 1, q]])
    return log.events


def test_an_rstar_search_with_the_ppm_reward_scores_each_terminal_in_context(tmp_path):
    from backend.reward.ppm import FullPPM, ProcessPreferenceModel, load_ppm, save_ppm, score
    from backend.search.registry import make_config
    from backend.solve import solve
    from backend.train.ppm_pairs import prefix_text, step_text
    from tests.search.test_rstar import PROBLEM, engine

    backbone, tokenizer = tiny_model_and_tokenizer()
    model = ProcessPreferenceModel(backbone)
    with torch.no_grad():
        model.v_head.summary.weight.normal_(0, 1.0)  # scores that differ between texts
    save_ppm(model, tokenizer, tmp_path / "ppm")
    FullPPM.cache_clear()
    res = solve(
        PROBLEM,
        algorithm="rstar",
        engine=engine(),
        config=make_config("rstar", rollouts=2, children=3),
        reward="ppm",
        ppm=tmp_path / "ppm",
    )
    tree = Tree.from_events(res.events)
    assert tree.started.reward == "ppm"
    scored = [e for e in res.events if isinstance(e, ev.NodeScored)]
    assert scored and {e.source for e in scored} == {"ppm"}
    # the search scores exactly the text PPM pairs are built from: problem + path, in context
    m, tok = load_ppm(tmp_path / "ppm")
    texts = [prefix_text(tree, tree.nodes[e.id].parent) + step_text(tree.nodes[e.id]) for e in scored]
    assert [e.score for e in scored] == pytest.approx(score(m, tok, texts), abs=1e-5)
    assert len({round(e.score, 6) for e in scored}) > 1  # different terminals, different scores
    FullPPM.cache_clear()


def test_training_is_reproducible_with_a_seed():
    from backend.reward.ppm import ProcessPreferenceModel, train_ppm

    pairs = [PPMPair("find x ", "isolate x step", "guess one", 2.0, 1, 1, 1, 2)] * 3
    runs = []
    for k in range(2):
        backbone, tokenizer = tiny_model_and_tokenizer()
        model = ProcessPreferenceModel(backbone)
        torch.manual_seed(100 + k)  # whatever the caller did to the global RNG before
        runs.append(train_ppm(model, tokenizer, pairs, epochs=2, lr=1e-2, seed=7))
    assert runs[0] == runs[1]


def test_the_backbone_to_train_loads_in_float32_on_every_device(monkeypatch):
    # AdamW on bf16 weights rounds lr 7e-6 updates away: the trainer's bf16 mode does the mixing
    from backend.engines.transformers import TransformersEngine
    from backend.reward import ppm

    seen = {}

    def fake_load(base, **kw):
        seen.update(kw)
        return type("E", (), {"model": "m", "tokenizer": "t"})()

    monkeypatch.setattr(TransformersEngine, "load", staticmethod(fake_load))
    for cuda in (False, True):
        monkeypatch.setattr(torch.cuda, "is_available", lambda cuda=cuda: cuda)
        assert ppm.load_backbone("some/model") == ("m", "t")
        assert seen["dtype"] == "float32", cuda


def test_a_full_ppm_scores_through_vllm_when_vllm_and_a_gpu_are_there(monkeypatch, tmp_path):
    """``runtime="auto"`` (what ``--ppm DIR`` uses) picks vLLM's pooling runner when vLLM is
    installed and a CUDA GPU is visible, else transformers; the GPU share travels with it."""
    from backend.reward import ppm as ppm_module

    (tmp_path / ppm_module.MARKER).write_text(json.dumps({"format": ppm_module.FORMAT}))
    (tmp_path / ppm_module.HEAD_FILE).write_bytes(b"")
    loads = []
    monkeypatch.setattr(ppm_module, "_load_cached", lambda *args: loads.append(args) or "ppm")
    for gpu in (True, False):
        monkeypatch.setattr(ppm_module, "_vllm_usable", lambda gpu=gpu: gpu)
        ppm_module.FullPPM.load(tmp_path, gpu_memory_utilization=0.3)
    assert [(a[2], a[3]) for a in loads] == [("vllm", 0.3), ("transformers", 0.3)]
