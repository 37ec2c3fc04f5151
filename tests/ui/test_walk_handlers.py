"""What a new user's walk through the page found (2026-12-03), at the handler level
(tests/ui/test_browser_walk.py has what only the page shows)."""

from __future__ import annotations

import gradio as gr

from tests.ui import test_vocabulary
from ui.solve import SolveHandlers

# test_vocabulary's module fixtures: a real LIPS proof and a CPL run
cpl_events, lips_events = test_vocabulary.cpl_events, test_vocabulary.lips_events


def test_typing_ones_own_problem_empties_the_known_answer_a_picked_example_filled(services):
    """A GSM8K pick filled "3"; the user then typed an inequality for LIPS and its proof read
    "✗ wrong (known 3)". The known answer goes with the example; one typed with no example
    picked stays."""
    hs = SolveHandlers(services, [])
    example, reference = hs.unpick("gsm8k/1")
    assert example is None and reference == ""
    example, reference = hs.unpick(None)
    assert example is None and isinstance(reference, type(gr.skip()))


def test_the_votes_are_a_paragraph_of_their_own_under_the_final_answer():
    """One newline ran "Votes: 6: 16, 3: 3" on after "known answer 3" in the rendered panel."""
    import markdown_it

    from backend.tree import Tree
    from tests.ui.test_figure import small_run
    from ui.inspector import answer_panel

    html = markdown_it.MarkdownIt().render(answer_panel(Tree.from_events(small_run())))
    assert "<p>Votes: 2: " in html


def test_colour_by_offers_only_what_means_something_for_the_algorithm(lips_events, cpl_events):
    """A LIPS run offered "Colour by Q" (and PPM, visits): its goals have none of them (N and Q
    stay 0, no PPM). LIPS is coloured by depth unless the user picks a cost; CPL runs no code,
    so it has no execution time; rStar keeps every mode."""
    from backend.tree import Tree
    from tests.factories import small_run
    from ui.figure import default_color_mode, tree_figure

    lips = tree_figure(Tree.from_events(lips_events))
    assert list(lips["colors"]) == ["depth", "tokens", "gen_ms", "verify_ms"]
    assert default_color_mode(lips) == "depth"
    cpl = tree_figure(Tree.from_events(cpl_events))
    assert "exec_ms" not in cpl["colors"] and {"q", "ppm", "visits"} <= set(cpl["colors"])
    assert default_color_mode(cpl) == "q"
    rstar = tree_figure(Tree.from_events(small_run()))
    assert list(rstar["colors"]) == ["q", "ppm", "visits", "depth", "tokens", "gen_ms", "exec_ms",
                                     "verify_ms"]
