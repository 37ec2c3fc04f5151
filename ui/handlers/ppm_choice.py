"""The PPM control: which PPMs a run may use, the default's label, and why the shipped
one does or does not apply."""

from __future__ import annotations

from ui.services import Services

PPM_DEFAULT_LABEL = "default (shipped PPM)"


#: "default" where the shipped PPM does not apply (``default_ppm_applies``): the run has no PPM
PPM_DEFAULT_NONE_SHIPS = "default (none ships yet: no PPM)"


PPM_DEFAULT_OTHER_MODEL = "default (no PPM for this model)"


#: how the page names ``Services.step_scorer_override`` (a test fixture, never a trained model)
TEST_PPM = "a test PPM (rule table injected by the test harness)"


def ppm_choices(services: Services) -> list[tuple[str, str]]:
    """(label, RunSpec.ppm value) of the page's PPM control: the default (named for what it gives
    on this server: the shipped PPM, or no PPM when none ships or the model is another), none,
    and the app's ``--ppm`` directory when it gave one."""
    out = [(_default_ppm_label(services), "default"), ("none", "none")]
    mine = (services.ppm or "").strip()
    if mine.lower() not in ("", "default", "none"):
        out.append((f"{mine} (--ppm)", mine))
    return out


def ppm_default_value(services: Services) -> str:
    """The control's starting value: the app's ``--ppm`` ("default" when it named nothing)."""
    mine = (services.ppm or "").strip()
    if mine.lower() in ("", "default"):
        return "default"
    return "none" if mine.lower() == "none" else mine


def ppm_choice_info(services: Services) -> str:
    """The control's help line: what "default" gives on this server (the shipped PPM applies
    to rStar-Math on the llamacpp engine with the embedded model only, and only once it has
    been built), so a user learns before Run that default means no PPM here."""
    if services.step_scorer_override is not None:
        return "default here: a test PPM (a rule table the test harness injected), not a trained model."
    why_not = _default_ppm_missing(services)
    if why_not is None:
        return "default here: Canopy's shipped PPM values every new step (rStar-Math only)."
    return f"default here means no PPM: {why_not}."


def _default_ppm_missing(services: Services) -> str | None:
    """Why "default" gives no PPM on this server's engine (``default_ppm_applies``); None: the
    shipped PPM values the steps."""
    from types import SimpleNamespace

    from backend.runspec import RunSpec, default_ppm_applies

    slot = services.engine
    engine = SimpleNamespace(info=SimpleNamespace(name=slot.name, model=slot.model))
    try:
        return default_ppm_applies(RunSpec(problem="?", engine=slot.name, model=slot.model), engine)
    except (OSError, ValueError) as exc:
        return str(exc)


def _default_ppm_label(services: Services) -> str:
    """The control's name for "default": "shipped PPM" only where one ships and applies (it read
    "default (shipped PPM)" with none in assets/ppm, where the run has no PPM)."""
    from backend.reward.step_scorer import MARKER
    from backend.runspec import shipped_ppm_dir

    if services.step_scorer_override is not None:
        return "default (test PPM)"
    if _default_ppm_missing(services) is None:
        return PPM_DEFAULT_LABEL
    return PPM_DEFAULT_OTHER_MODEL if (shipped_ppm_dir() / MARKER).is_file() else PPM_DEFAULT_NONE_SHIPS
