"""Screen logic as plain functions: data in, data out, no Gradio (tested directly).

The Gradio wiring (``ui/solve.py``, ``ui/history.py``, ``ui/compare.py``, ``ui/training.py``)
only adapts these to components, through this one import (``from ui import handlers as h``).
Every function takes the ``Services`` bundle first. One module per concern:

- ``controls``: the algorithm controls, presets, problem preview and examples;
- ``ppm_choice``: the PPM control and its default;
- ``run_facts``: a run's known answer, grader, length and replayed tree;
- ``runs``: starting, stopping and steering runs, and the status line;
- ``screens``: a run's snapshot, its live stream, the node inspector;
- ``history_file``: the history file's banner, read-only refusals, deleting a run;
- ``history``: the run list, replay and its caption, the PPM diagnostics over past runs.
"""

from __future__ import annotations

from ui.handlers.controls import (
    NO_PRESET,
    Control,
    algorithm_controls,
    algorithm_info,
    example_choices,
    pick_example,
    preset_values,
    problem_preview,
)
from ui.handlers.history import (
    HISTORY_HEADERS,
    PPM_HISTORY_RUNS,
    _what_happened,
    event_caption,
    history_rows,
    ppm_history,
    ppm_history_panel,
    replay,
    short,
)
from ui.handlers.history_file import (
    delete_run,
    history_banner,
    read_only_refusal,
)
from ui.handlers.ppm_choice import (
    PPM_DEFAULT_LABEL,
    PPM_DEFAULT_NONE_SHIPS,
    PPM_DEFAULT_OTHER_MODEL,
    TEST_PPM,
    ppm_choice_info,
    ppm_choices,
    ppm_default_value,
)
from ui.handlers.run_facts import (
    event_at,
    known_answer,
    replay_view,
    run_grader,
    run_length,
)
from ui.handlers.runs import (
    EARLY_END,
    KNOWN_ANSWER_BOX,
    REPLACED_WAIT_S,
    RunForm,
    UserFacingError,
    control_run,
    finished_state,
    page_message,
    pause_label,
    run_form,
    run_status,
    start_run,
    stop_runs,
)
from ui.handlers.screens import (
    POLL_S,
    STATUS_RESEND_S,
    Snapshot,
    inspect,
    proof_events,
    snapshot,
    stream_run,
)
from ui.inspector import md_text

__all__ = [
    "EARLY_END",
    "HISTORY_HEADERS",
    "KNOWN_ANSWER_BOX",
    "NO_PRESET",
    "POLL_S",
    "PPM_DEFAULT_LABEL",
    "PPM_DEFAULT_NONE_SHIPS",
    "PPM_DEFAULT_OTHER_MODEL",
    "PPM_HISTORY_RUNS",
    "REPLACED_WAIT_S",
    "STATUS_RESEND_S",
    "TEST_PPM",
    "Control",
    "RunForm",
    "Snapshot",
    "UserFacingError",
    "_what_happened",
    "algorithm_controls",
    "algorithm_info",
    "control_run",
    "delete_run",
    "event_at",
    "event_caption",
    "example_choices",
    "finished_state",
    "history_banner",
    "history_rows",
    "inspect",
    "known_answer",
    "md_text",
    "page_message",
    "pause_label",
    "pick_example",
    "ppm_choice_info",
    "ppm_choices",
    "ppm_default_value",
    "ppm_history",
    "ppm_history_panel",
    "preset_values",
    "problem_preview",
    "proof_events",
    "read_only_refusal",
    "replay",
    "replay_view",
    "run_form",
    "run_grader",
    "run_length",
    "run_status",
    "short",
    "snapshot",
    "start_run",
    "stop_runs",
    "stream_run",
]
