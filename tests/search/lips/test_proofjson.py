"""NeqLIPS proof.json import: the shipped 443-node tree becomes valid Canopy events."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backend import events as ev
from backend.search.lips.proofjson import is_proofjson, proofjson_to_events, proofjson_to_jsonl
from backend.tree import Tree

PROOF = Path(__file__).resolve().parents[3] / "assets" / "problems" / "neqlips" / "proof.json"


def test_shipped_tree_imports():
    events = proofjson_to_events(PROOF)
    assert isinstance(events[0], ev.RunStarted) and events[0].algorithm == "lips"
    tree = Tree.from_events(events)
    assert len(tree.nodes) == 443
    assert all(n.kind == "goal" for n in tree.nodes.values())
    depth = max(n.depth for n in tree.nodes.values())
    assert depth == 12
    best = events[-1].best_path
    assert best[0] == 0 and len(best) > 1
    assert all(tree.nodes[i].meta["golden"] for i in best)
    assert "≤" in tree.nodes[0].text and tree.nodes[1].meta["tactic_name"] == "make_homogeneous"
    assert events[-1].status != "proved"  # imported, not re-checked


def test_jsonl_roundtrip(tmp_path):
    out = tmp_path / "proof.jsonl"
    n = proofjson_to_jsonl(PROOF, out)
    header, events = ev.read_jsonl(out)
    assert header["format"] == "canopy-events" and len(events) == n
    assert len(Tree.from_events(events).nodes) == 443
    assert is_proofjson(PROOF) and not is_proofjson(out)


def test_small_and_bad_inputs(tmp_path):
    small = tmp_path / "p.json"
    small.write_text(
        json.dumps(
            {
                "name": "x : ℝ\n⊢ 0 ≤ x ^ 2",
                "children": [
                    {"name": "no goals", "children": [], "data": {"tactic": "positivity", "is_golden": True}}
                ],
                "data": {"tactic": "theorem", "is_golden": True},
            }
        ),
        encoding="utf-8",
    )
    events = proofjson_to_events(small)
    tree = Tree.from_events(events)
    assert len(tree.nodes) == 2 and tree.nodes[1].status == "proved" and events[-1].best_path == [0, 1]
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ValueError):
        proofjson_to_events(bad)
