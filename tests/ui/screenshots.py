"""The screenshots of docs/UI.md: real runs with the embedded model (rStar-Math, CPL, LIPS), taken
by headless chromium. Not a test (no ``test_`` name): run it by hand after a change to the page.

    python -m tests.ui.screenshots            # docs/img/run-{rstar,cpl,lips,lips-proof}.png
    python -m tests.ui.screenshots cpl lips   # only those
    python -m tests.ui.screenshots rstar-ppm  # docs/img/run-rstar-ppm.png: the app with --ppm STUDY_PPM

It starts ``app.py`` on a free port with a fresh history under a temporary folder, runs each
algorithm from the page as a user would, clicks a node so the inspector shows it, and saves a
PNG of the page quantised to 256 colours (each well under 300 KB).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from tests.ui import server as srv
from tests.ui.test_browser import choose, click_node, set_settings, status, wait_until

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "img"
GSM8K_0 = (
    "Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins "
    "for her friends every day with four. She sells the remainder at the farmers' market daily for $2 "
    "per fresh duck egg. How much in dollars does she make every day at the farmers' market?"
)
INEQUALITY = "a, b, c > 0; prove a^2 + b^2 + c^2 >= ab + bc + ca"
SCHUR = "a,b,c >= 0; prove a^3+b^3+c^3 + 3*a*b*c >= a*b*(a+b) + b*c*(b+c) + c*a*(c+a)"
#: which screenshots to take (all but rstar-ppm by default): python -m tests.ui.screenshots cpl lips
WHICH = sys.argv[1:] or ["rstar", "cpl", "lips", "lips-proof"]
#: ``rstar-ppm`` starts the app with this PPM given as ``--ppm DIR`` (the shipped one, which a
#: default run loads anyway): take it on its own, since every rStar-Math run of that app is valued by it
STUDY_PPM = ROOT / "assets" / "ppm"


def shoot(page, name: str) -> Path:
    """A PNG of the page, quantised (256 colours) so it stays small."""
    raw = OUT / f"{name}.raw.png"
    page.screenshot(path=str(raw), full_page=True)
    out = OUT / f"{name}.png"
    img = Image.open(raw).convert("RGB")
    img.thumbnail((1200, 2400))
    img.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
    raw.unlink()
    print(f"{out.relative_to(ROOT)}: {out.stat().st_size // 1024} KB", flush=True)
    return out


def start_run(page, problem: str, algorithm: str, reference: str = "") -> None:
    page.fill("#problem textarea", problem)
    page.fill("#reference input, #reference textarea", reference)
    if page.input_value("#algorithm input") != algorithm:
        choose(page, algorithm)
    href = lambda: page.evaluate("window.location.href")  # noqa: E731
    before = href()
    page.click("#run-btn")
    wait_until(lambda: "run=" in href() and href() != before, timeout=60, what="the new run id")
    wait_until(lambda: "running" in status(page), timeout=60, what="the new run's status")


def finish(page, timeout: float = 900) -> None:
    wait_until(lambda: "finished" in status(page), timeout=timeout, every=1, what="the run to end")
    time.sleep(2)


def inspect_some_node(page, *picks: str) -> None:
    """Click the first drawn node whose trace name contains the first of ``picks`` (a style's
    label) that any node has."""
    for pick in picks:
        node = page.evaluate(
            """(pick) => { const el = document.querySelector('#tree .canopy-plot');
            const t = (el.data || []).find((d) => String(d.name).includes(pick));
            return t ? t.customdata[0][0] : null; }""",
            pick,
        )
        if node is not None:
            click_node(page, node)
            time.sleep(2)
            return


def lips_run(page, problem: str, preset: str) -> None:
    page.fill("#problem textarea", problem)
    if page.input_value("#algorithm input") != "lips":
        choose(page, "lips")
    if not page.is_visible("#preset-lips"):
        page.locator("#settings").get_by_text("Settings", exact=True).click()
    wait_until(lambda: page.is_visible("#preset-lips"), what="the lips settings")
    page.click("#preset-lips input")
    page.get_by_role("option", name=preset, exact=True).click()
    time.sleep(1.5)  # the preset's values land before ours
    set_settings(page, "lips", {"min_proof_depth": 1})
    start_run(page, problem, "lips")
    finish(page)
    inspect_some_node(page, "goal closed", "counterexample")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    port = srv.free_port()
    with tempfile.TemporaryDirectory() as tmp:
        ppm = ["--ppm", str(STUDY_PPM)] if "rstar-ppm" in WHICH else []
        app = subprocess.Popen(
            [sys.executable, "app.py", "--port", str(port), "--db", str(Path(tmp) / "shots.sqlite"), *ppm],
            cwd=ROOT,
        )
        try:
            with srv.chromium() as browser:
                context, page, _ = srv.recorded_page(browser)
                url = f"http://127.0.0.1:{port}/"
                wait_until(lambda: _up(page, url), timeout=120, every=1, what="the app")
                if "rstar" in WHICH:
                    start_run(page, GSM8K_0, "rstar", "18")
                    finish(page)
                    inspect_some_node(page, "answer")
                    shoot(page, "run-rstar")
                if "rstar-ppm" in WHICH:  # coloured by the PPM, the inspector on an answer
                    start_run(page, GSM8K_0, "rstar", "18")
                    finish(page)
                    inspect_some_node(page, "answer")
                    shoot(page, "run-rstar-ppm")
                if "cpl" in WHICH:
                    start_run(page, GSM8K_0, "cpl", "18")
                    finish(page)
                    inspect_some_node(page, "plan step")
                    shoot(page, "run-cpl")
                if "lips" in WHICH:  # with the model: rewrites asked of it (quick preset)
                    lips_run(page, INEQUALITY, "quick")
                    shoot(page, "run-lips")
                if "lips-proof" in WHICH:  # the symbolic preset asks no model
                    lips_run(page, SCHUR, "symbolic")
                    shoot(page, "run-lips-proof")
                context.close()
        finally:
            app.terminate()
            app.wait(30)


def _up(page, url: str) -> bool:
    try:
        page.goto(url)
        page.wait_for_selector("#run-btn", timeout=5000)
        return True
    except Exception:  # not up yet
        return False


if __name__ == "__main__":
    main()
