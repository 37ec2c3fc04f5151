"""Canopy backend: search algorithms, engines, verification and the event-stream tree.

Nothing here imports the UI (``ui/``); the UI consumes events only.
"""

__version__ = "0.1.0"
