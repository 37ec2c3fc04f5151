"""The Training tab in real chromium over a runs folder an attacker could write into: a run
folder named with markup, a manifest whose text fields hold every attack in
``tests/security/hostile.py``, and a broken run whose reason names it. The run list (a
dropdown's labels), the summary, the progress and the charts show it all as text: no dialog,
no element carrying a URL or handler from content, no request off the server."""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.evolve.run_dirs import finished_run
from tests.security.hostile import EVIL, HOSTILE_LINE
from tests.security.test_browser_hostile import TAINTED
from tests.ui import server as srv
from ui.app import serve
from ui.training_runs import TrainingSettings

pytestmark = [pytest.mark.browser]
pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")

NAME = "<img src=x onerror=alert(1)> [l](javascript:alert(1))"  # a folder name ('/' is not allowed)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not srv.CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    root = tmp_path_factory.mktemp("runs")
    run = finished_run(root / NAME)
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    manifest.update(created=HOSTILE_LINE, canopy=HOSTILE_LINE, train_set=HOSTILE_LINE)
    manifest["models"]["base"]["model"] = HOSTILE_LINE
    manifest["settings"]["search"] = {HOSTILE_LINE: HOSTILE_LINE}
    (run / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    (run / "round-1" / "ppm.json").write_text(json.dumps({"trained": False, "why": HOSTILE_LINE}))
    broken = finished_run(root / (NAME + " broken"))
    (broken / "round-1" / "report.json").write_text(json.dumps({"round": HOSTILE_LINE}), encoding="utf-8")
    services = srv.demo_services()
    services.training = TrainingSettings(root)
    port = srv.free_port()
    demo = serve(services, port=port, block=False)
    yield f"http://127.0.0.1:{port}/"
    srv.stop(demo, services)


def test_hostile_run_folders_and_manifests_show_as_text_in_the_training_tab(server):
    with srv.chromium() as browser:
        context, page, requests = srv.recorded_page(browser)
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        try:
            page.goto(server)
            page.get_by_role("tab", name="Training").click()
            page.wait_for_function("document.querySelector('#training-about').innerText.includes('onerror')",
                                   timeout=60_000)
            page.click("#training-run input")  # the list's labels: both runs, the broken one's reason
            options = page.get_by_role("option").all_inner_texts()
            assert any(NAME + " · finished" in o for o in options), options
            assert any(NAME + " broken · unreadable" in o for o in options), options
            page.get_by_role("option", name=NAME + " · finished: 2 round(s)", exact=True).click()
            page.wait_for_function("document.querySelector('#training-about').innerText.includes('created')",
                                   timeout=60_000)
            assert "<img src=http://evil.example/img" in page.inner_text("#training-about")  # as text
            assert "no PPM trained" in page.inner_text("#training-progress")
            time.sleep(1.0)
            page.keyboard.press("Escape")
            assert not dialogs, dialogs
            assert not page.evaluate(TAINTED)
            here = re.escape(server.rstrip("/"))
            outside = [u for u in requests if not re.match(rf"^({here}[:/]|{here}$|data:|blob:|about:)", u)]
            assert not outside and EVIL not in "".join(requests), outside[:5]
        finally:
            context.close()
