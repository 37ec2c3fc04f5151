"""The Solve screen's algorithm controls (generated from the search registry), presets,
the problem preview and the example picker."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ui.escape import md_code, md_esc
from ui.inspector import md_text
from ui.services import Services

NO_PRESET = "(defaults)"


@dataclass(frozen=True)
class Control:
    """One config field of one algorithm, as the Solve screen shows it."""

    algorithm: str
    name: str
    type: str  # "int", "float", "bool", "str", "choice"
    default: Any
    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] | None = None
    help: str = ""

    @property
    def widget(self) -> str:
        """slider for small numeric ranges, number for wide ones, else by type."""
        if self.type in ("int", "float") and self.min is not None and self.max is not None:
            span = self.max - self.min
            if (self.type == "float" and span <= 10) or (self.type == "int" and span <= 64):
                return "slider"
            return "number"
        return {"bool": "checkbox", "choice": "dropdown"}.get(
            self.type, "number" if self.type in ("int", "float") else "text"
        )


def algorithm_controls(names: Sequence[str]) -> list[Control]:
    from backend.search.registry import config_fields

    out = []
    for name in names:
        for f in config_fields(name):
            choices = tuple(f["choices"]) if f["choices"] else None
            out.append(
                Control(name, f["name"], f["type"], f["default"], f["min"], f["max"], choices, f["help"])
            )
    return out


def algorithm_info(name: str) -> dict[str, Any]:
    """Description, presets (default first) and rewards of an algorithm."""
    from backend.search.registry import algorithm_spec

    spec = algorithm_spec(name)
    presets = list(spec.presets)
    if spec.default_preset in presets:
        presets.remove(spec.default_preset)
        presets.insert(0, spec.default_preset)
    if spec.default_preset is None:
        presets.insert(0, NO_PRESET)
    return {
        "description": spec.description,
        "presets": presets,
        "default_preset": spec.default_preset or NO_PRESET,
        "rewards": ["auto", *spec.rewards],
    }


def preset_values(algorithm: str, preset: str, controls: Sequence[Control]) -> list[Any]:
    """The values the algorithm's controls take under ``preset`` (in ``controls`` order)."""
    from backend.search.registry import make_config

    cfg = make_config(algorithm, None if preset in (NO_PRESET, "", None) else preset)
    return [getattr(cfg, c.name) for c in controls if c.algorithm == algorithm]


def problem_preview(text: str, algorithm: str = "") -> str:
    """The problem rendered; for LIPS also how its parser reads the text (or why it cannot),
    so a misread (``ab`` as one variable, a missing ``prove``) shows before Run."""
    if not text.strip():
        return "_The problem, rendered with Markdown and LaTeX, shows here._"
    if algorithm != "lips":
        return md_text(text)
    from backend.search.lips.problem import parse_problem
    from backend.search.lips.reading import ProblemParseError, reading_lines

    try:
        lines = reading_lines(parse_problem(text))
    except ProblemParseError as exc:
        return f"{md_text(text)}\n\n**LIPS cannot read this:** {md_esc(exc)}"
    read = "  \n".join(f"{md_esc(label)}: {md_code(value)}" for label, value in lines)
    return f"{md_text(text)}\n\n**LIPS reads:**  \n{read}"


def example_choices(services: Services, dataset: str, limit: int = 60) -> list[tuple[str, str]]:
    """(label, problem id) pairs for the examples picker: the problem, never its answer (a
    student sees the picker; ``pick_example`` fills the known answer in, which grades the run)."""
    if not dataset:
        return []
    out = []
    for p in services.problems(dataset, limit):
        q = " ".join(p.question.split())
        out.append((f"{p.id}: {q[:80]}{'…' if len(q) > 80 else ''}", p.id))
    return out


def pick_example(services: Services, dataset: str, problem_id: str, limit: int = 60) -> tuple[str, str]:
    """(problem text, known answer or '') for a picked example."""
    for p in services.problems(dataset, limit):
        if p.id == problem_id:
            return p.question, p.answer or ""
    return "", ""
