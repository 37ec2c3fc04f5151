"""The words and symbols of a run's nodes, by algorithm (issue 15 item 5): the page's name for
``backend/vocabulary.py``, where the tables live so that the backend's HTML replay draws a run in
its own algorithm's words too (the backend may not import ``ui/``)."""

from __future__ import annotations

from backend.vocabulary import (  # noqa: F401  (the page's names for the backend's tables)
    BAD,
    BY_ALGORITHM,
    COMMON_TAIL,
    CPL,
    CPL_STYLES,
    GLYPHS,
    GOOD,
    LIPS,
    LIPS_STYLES,
    NONE,
    PLAIN,
    PRUNED,
    RSTAR,
    RSTAR_STYLES,
    UNVERIFIED,
    Grade,
    Style,
    Vocabulary,
    all_styles,
    drawn_status,
    node_style,
    of_tree,
    rounds_phrase,
    tactic_name,
    vocabulary,
)
