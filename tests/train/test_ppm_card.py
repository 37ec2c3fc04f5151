"""A built PPM's model card is written from its marker, and the measured effect on accuracy
is recorded into the marker and the card without touching what the build wrote."""

from __future__ import annotations

import json

import numpy as np
import pytest

from backend.reward.ppm_head import check_marker, save_head
from backend.reward.step_scorer import MARKER
from backend.train.build_ppm import PPM_LOSS
from backend.train.ppm_card import CARD_FILE, id_ranges, record_effect, render_card, write_card

SHA = "ab" * 32


def about():
    """A marker's training record as ``build_top_layers_ppm`` writes it (without the files)."""
    return {
        "backbone": {"sha256": SHA, "name": "tiny.gguf", "hidden_size": 4},
        "trained_by": "canopy build-ppm --top-layers (backend/train/build_top_layers_ppm.py)",
        "data": {"set": "gsm8k-train", "problems": ["gsm8k-train_3", "gsm8k-train_1", "gsm8k-train_2",
                                                    "gsm8k-train_7", "gsm8k-train_300"],
                 "pairs": 412, "pair_filter": "official", "tree_folders": ["assets/ppm-data/trees"],
                 "equivalent_pairs_left_out": 71},
        "training": {"top_layers": 4, "lora_rank": 16, "lr": 5e-4, "epochs": 4, "loss": PPM_LOSS},
        "heldout": {"problems": ["gsm8k-train_7"], "pairs": 83, "pairwise_accuracy": 0.6145,
                    "prefer_longer_step": 0.5602},
        "train_pairwise_accuracy": 0.98,
        "llamacpp_check": {"pairs": 60, "same_order_as_trained": 0.95},
        "seconds": {"states": 250.4, "train": 1700.0},
        "machine": "x86_64, Python 3.12",
        "command": "canopy build-ppm --no-search --top-layers 4",
    }


def test_problem_ids_become_ranges_per_set():
    ids = ["gsm8k-train_3", "gsm8k-train_1", "gsm8k-train_2", "gsm8k-train_7", "gsm8k-train/9", "toy/0",
           "odd"]
    assert id_ranges(ids) == "gsm8k-train 1-3, 7, 9 (5 problems); toy 0 (1 problem); odd"
    assert id_ranges([]) == "none"


def test_the_card_says_what_the_marker_says():
    card = render_card(about())
    assert "top 4 layers fine-tuned (LoRA r 16" in card
    assert "gsm8k-train 1-3, 7, 300 (5 problems)" in card
    assert "412 used; 71 left out whose two steps compute the same thing" in card
    assert "**0.615** on 83 pairs of 1 problem " in card
    assert "'prefer the longer step' on the same pairs: 0.560" in card
    assert "order 0.950 of 60 pairs" in card
    assert "states 250 s, train 1700 s" in card
    assert "**not measured yet**" in card  # no effect recorded: the card must not imply one
    assert "canopy build-ppm --no-search --top-layers 4" in card


def test_the_card_names_the_embedded_model_only_when_it_is_the_backbone():
    """A round's PPM over an evolved policy (its policy.gguf) is not over the embedded model."""
    from backend.engines.embedded import EMBEDDED

    assert "a value head over its backbone's (below) last-token state" in render_card(about())
    embedded = {**about(), "backbone": {"sha256": EMBEDDED.sha256, "name": "x.gguf", "hidden_size": 896}}
    assert "a value head over the embedded model's last-token state" in render_card(embedded)


def test_a_table_cell_cannot_break_the_card():
    marker = about()
    marker["trained_by"] = "a | b"
    row = next(line for line in render_card(marker).splitlines() if line.startswith("| trained by"))
    assert row.count("|") == 3


def test_the_effect_is_recorded_into_the_marker_and_the_card(tmp_path):
    save_head(tmp_path, np.ones(4), 0.0, about())
    write_card(tmp_path)
    assert "not measured yet" in (tmp_path / CARD_FILE).read_text()
    before = json.loads((tmp_path / MARKER).read_text())
    record_effect(tmp_path, "GSM8K train 3027-3066: rStar with this PPM 12/40, with the vote 11/40")
    after = json.loads((tmp_path / MARKER).read_text())
    check_marker(after)  # still a PPM a run loads
    assert {k: v for k, v in after.items() if k != "effect"} == before
    card = (tmp_path / CARD_FILE).read_text()
    assert "rStar with this PPM 12/40" in card and "not measured yet" not in card
    assert "`value_head.json` 0.0 MB" in card
    with pytest.raises(ValueError, match="must say what was measured"):
        record_effect(tmp_path, "  ")
