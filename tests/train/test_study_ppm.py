"""The study PPM in assets/ppm-study/top4 (docs/PPM.md, "A PPM-guided search, measured"): a
real top-4-layers PPM a user can watch (`python app.py --ppm assets/ppm-study/top4`), never the
default. Its files must stay what its marker records, for the embedded model, with its card."""

from __future__ import annotations

import json

import pytest

from backend import events as ev
from backend.engines.embedded import EMBEDDED
from backend.paths import assets_dir
from backend.reward.ppm_head import HEAD_FILE, adapter_path, check_marker, read_head
from backend.reward.step_scorer import MARKER
from backend.runspec import shipped_ppm_dir

STUDY = assets_dir() / "ppm-study" / "top4"


def test_the_study_ppm_is_intact_for_the_embedded_model_and_not_the_default():
    about = check_marker(json.loads((STUDY / MARKER).read_text()), STUDY / MARKER)
    assert about["backbone"]["sha256"] == EMBEDDED.sha256  # a run with the embedded model loads it
    assert adapter_path(STUDY, about) == STUDY / "ppm_lora.gguf"  # size and sha256 as recorded
    weight, _ = read_head(STUDY / HEAD_FILE, about["backbone"]["hidden_size"])
    assert weight.shape == (896,) and weight.any()
    assert STUDY.resolve() != shipped_ppm_dir().resolve()  # studied, not shipped as the default
    card = (STUDY / "MODEL_CARD.md").read_text()
    held = about["heldout"]
    assert f"**{held['pairwise_accuracy']:.3f}** on {held['pairs']} pairs" in card
    assert "/work/" not in card and "/work/" not in json.dumps(about)  # portable paths only


@pytest.mark.model
@pytest.mark.slow
def test_a_search_with_the_study_ppm_scores_every_step_on_the_real_model(embedded_engine):
    """One rollout of rStar-Math with the study PPM (about a minute on 2 cores)."""
    from backend.runspec import RunSpec
    from backend.solve import solve_spec
    from backend.tree import Tree

    spec = RunSpec(problem="A box holds 6 eggs. How many eggs are in 7 boxes?", algorithm="rstar",
                   ppm=str(STUDY), seed=0, config={"rollouts": 1, "children": 2})
    res = solve_spec(spec, engine=embedded_engine)
    tree = Tree.from_events(res.events)
    scored = {e.id for e in res.events if isinstance(e, ev.NodeScored) and e.source == "ppm"}
    failed = {n.id for n in tree.nodes.values() if n.terminal and n.answer is None}  # not valued
    valid = {n.id for n in tree.nodes.values() if n.parent is not None} - failed
    assert valid and scored == valid
    assert all(-1 < tree.nodes[i].ppm < 1 for i in scored)
    assert res.config.get("answer_choice") in ("auto", "max_q") and res.stats.get("ppm_s", 0) > 0
