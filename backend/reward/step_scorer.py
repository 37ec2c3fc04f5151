"""What a search asks a process preference model: the value of each new step, in context.

rStar-Math's PPM (official ``rm_generate``) gives every step a value tanh(v / 5) ∈ (−1, 1).
The MCTS core (``backend/search/mcts.py``) calls :meth:`StepScorer.score_steps` once per
expansion with every new step's text in context (``ppm_input.py``: the problem, then the
path's steps), takes each value as the new node's initial Q with N = 1, and, with the ``ppm``
reward, values terminal answers the same way. Two kinds of PPM directory exist, told apart by
their marker file's ``format``:

- ``canopy-ppm-head`` (``ppm_head.py``): a value head over the embedded model's own
  last-token hidden state, computed by llama.cpp in a second context on the policy's model
  (the fast CPU path; what ships in ``assets/ppm``);
- ``canopy-ppm`` (``ppm.py``): the paper's full PPM, a fine-tuned backbone plus head, run by
  transformers (or vLLM on a GPU).

No torch here: the core imports this module.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

MARKER = "canopy_ppm.json"
#: a marker holds settings and ids, never weights: anything bigger is not one
MAX_MARKER_BYTES = 4 << 20


class StepScorer(Protocol):
    """A PPM as the search sees it."""

    #: the ``source`` of its ``node_scored`` events
    name: str

    def score_steps(self, texts: Sequence[str]) -> list[float]:
        """One value in (−1, 1) per text (problem + steps so far; the last step is judged),
        in order, from one batched call."""
        ...


def read_marker(directory: str | Path) -> dict[str, Any]:
    """The marker of a PPM directory; a ValueError says what is missing."""
    where = Path(directory).expanduser()
    path = where / MARKER
    if not path.is_file():
        raise ValueError(f"{where} is not a Canopy PPM directory (no {MARKER}; see `canopy build-ppm`)")
    try:
        if path.stat().st_size > MAX_MARKER_BYTES:
            raise ValueError(f"{path} is larger than {MAX_MARKER_BYTES} bytes: not a PPM marker")
        about = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"{path} is not readable JSON: {type(exc).__name__}") from None
    if not isinstance(about, dict) or not isinstance(about.get("format"), str):
        raise ValueError(f"{path} does not say which kind of PPM it is (no 'format')")
    return about


def load_step_scorer(directory: str | Path, engine: Any) -> StepScorer:
    """The PPM in ``directory``, ready to score: a head PPM reads ``engine``'s hidden states
    (it must be the llama.cpp engine over the model the head was trained on); a full PPM
    loads its own backbone with transformers."""
    about = read_marker(directory)
    kind = about["format"]
    if kind == "canopy-ppm-head":
        from backend.reward.ppm_head import HeadPPM

        return HeadPPM.load(directory, engine)
    if kind == "canopy-ppm":
        from backend.reward.ppm import FullPPM

        # a vLLM policy engine says how much GPU memory a PPM beside it may take
        inner = getattr(engine, "inner", engine)
        share = getattr(inner, "ppm_gpu_memory_utilization", None)
        return FullPPM.load(directory, gpu_memory_utilization=share)
    raise ValueError(f"{Path(directory) / MARKER}: unknown PPM format {kind!r} (canopy-ppm-head, canopy-ppm)")
