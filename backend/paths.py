"""Where Canopy's shipped files are: the one place that knows the ``assets/`` folder."""

from __future__ import annotations

from pathlib import Path

_ASSETS = Path(__file__).resolve().parents[1] / "assets"


def assets_dir() -> Path:
    """The ``assets/`` folder: ``<repo root>/assets``, next to the ``backend`` package.

    This holds in a source checkout and in an editable install. A wheel must ship
    ``assets/`` at that same place relative to ``backend/`` (pyproject's job); nothing else
    is searched, so a missing folder fails loudly where a file is read. A function, not a
    constant, so that tests can point the problem catalogue at a folder of their own.
    """
    return _ASSETS
