"""Which scaling candidates an expansion checks: the best by symbolic score, and the best of
every other lemma that applies (``expand.pick_candidates``)."""

from __future__ import annotations

from types import SimpleNamespace

from backend.search.lips.expand import pick_candidates, scale_candidates
from backend.search.lips.problems import load_inequalities


def test_the_best_step_of_each_lemma_below_the_cut_is_kept():
    steps = [SimpleNamespace(lemma=name, n=i) for i, name in enumerate("AAAABBCCD")]
    scores = [1, 2, 3, 4, 5, 6, 7, 8, 9]
    picked = pick_candidates(steps, scores, 2)
    # the two best (both A), then the best B only: limit // 2 = 1 extra
    assert [s.n for s in picked] == [0, 1, 4]
    assert [s.n for s in pick_candidates(steps, scores, 4)] == [0, 1, 2, 3, 4, 6]
    assert [s.n for s in pick_candidates(steps, scores, 20)] == list(range(9))


def test_mo_int_p4_root_tries_the_muirhead_step_its_proof_starts_with():
    """The three Muirhead_Qeq0_div_onestep steps rank 61-63 of 269 at P4's root, below the
    48-candidate cut; the proof (Muirhead steps, then SOS) goes through them."""
    p = next(q for q in load_inequalities("mo-int") if q.id == "mo-int-P4")
    lemmas = {c.meta["lemma"] for c in scale_candidates(p.goal, 48, lambda: None)}
    assert "Muirhead_Qeq0_div_onestep_left_2vars" in lemmas
