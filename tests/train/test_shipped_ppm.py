"""The PPM that ships in assets/ppm and values every step of a default run with the embedded
model (docs/PPM.md): a top-4-layers PPM trained by Canopy's own pipeline on GSM8K train trees.
Its files must stay what its marker records, for the embedded model, with its card."""

from __future__ import annotations

import json

import pytest

from backend import events as ev
from backend.engines.embedded import EMBEDDED
from backend.paths import assets_dir
from backend.reward.ppm_head import HEAD_FILE, adapter_path, check_marker, read_head
from backend.reward.step_scorer import MARKER
from backend.runspec import shipped_ppm_dir

SHIPPED = assets_dir() / "ppm"


def test_the_shipped_ppm_is_intact_for_the_embedded_model_and_is_the_default():
    about = check_marker(json.loads((SHIPPED / MARKER).read_text()), SHIPPED / MARKER)
    assert about["backbone"]["sha256"] == EMBEDDED.sha256  # a run with the embedded model loads it
    assert adapter_path(SHIPPED, about) == SHIPPED / "ppm_lora.gguf"  # size and sha256 as recorded
    weight, _ = read_head(SHIPPED / HEAD_FILE, about["backbone"]["hidden_size"])
    assert weight.shape == (896,) and weight.any()
    assert SHIPPED.resolve() == shipped_ppm_dir().resolve()  # what `--ppm default` loads
    card = (SHIPPED / "MODEL_CARD.md").read_text()
    held = about["heldout"]
    assert f"**{held['pairwise_accuracy']:.3f}** on {held['pairs']} pairs" in card
    assert "/work/" not in card and "/work/" not in json.dumps(about)  # portable paths only
    assert "--out assets/ppm\n" in card  # the same command rebuilds it in place
    # trained on GSM8K train trees only, never a test problem
    assert about["data"]["set"] == "gsm8k-train" and about["data"]["problems"]
    assert all(p.startswith("gsm8k-train_") for p in about["data"]["problems"] + about["heldout"]["problems"])


def test_every_ppm_committed_under_assets_has_the_files_its_marker_names():
    """An evolve run's PPMs (assets/evolve-*) are kept for later rounds and the Solve screen;
    a LoRA GGUF the marker names but git ignored (``*.gguf``) left one unloadable before."""
    markers = sorted(assets_dir().glob("**/" + MARKER))
    assert SHIPPED / MARKER in markers and len(markers) > 1
    for marker in markers:
        about = check_marker(json.loads(marker.read_text()), marker)
        adapter_path(marker.parent, about)  # present, with the recorded size and sha256
        assert (marker.parent / HEAD_FILE).is_file(), marker


@pytest.mark.model
@pytest.mark.slow
def test_a_default_search_scores_every_step_with_the_shipped_ppm_on_the_real_model(embedded_engine):
    """One rollout of rStar-Math as shipped, `--ppm default` (about a minute on 2 cores)."""
    from backend.runspec import RunSpec
    from backend.solve import solve_spec
    from backend.tree import Tree

    spec = RunSpec(problem="A box holds 6 eggs. How many eggs are in 7 boxes?", algorithm="rstar",
                   seed=0, config={"rollouts": 1, "children": 2})
    res = solve_spec(spec, engine=embedded_engine)
    tree = Tree.from_events(res.events)
    scored = {e.id for e in res.events if isinstance(e, ev.NodeScored) and e.source == "ppm"}
    failed = {n.id for n in tree.nodes.values() if n.terminal and n.answer is None}  # not valued
    valid = {n.id for n in tree.nodes.values() if n.parent is not None} - failed
    assert valid and scored == valid
    assert all(-1 < tree.nodes[i].ppm < 1 for i in scored)
    # the cpu-demo preset answers by the vote even with a PPM (chosen on GSM8K train, docs/PPM.md)
    assert res.config.get("answer_choice") == "vote" and res.stats.get("ppm_s", 0) > 0
    notes = [e.message for e in res.events if isinstance(e, ev.Note)]
    assert any("Canopy's shipped PPM" in n for n in notes)
