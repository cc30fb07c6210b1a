"""Watch in real Chromium: a gap the worker filled from the simulated camera plays in a page."""

import os
import re
import subprocess
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.anr.conftest import FAST_ENGINE
from tests.anr.conftest import gap_now
from tests.anr.conftest import recent
from tests.anr.conftest import run_worker
from tests.anr.conftest import sim_camera
from webapp import create_app
from webapp.anr.indexer import index_all
from webapp.anr.media import ffmpeg_bin
from webapp.devtools.simcam import SimCam
from webapp.extensions import db

from .conftest import PASSWORD
from .conftest import SCREENSHOTS
from .conftest import LiveServer
from .conftest import sign_in
from .test_accessibility import FAILING
from .test_accessibility import run_axe

HAVE_ENOUGH_DATA = 4


@pytest.fixture
def filled_live(tmp_path, monkeypatch, browser):
    """The app on loopback with one gap the worker filled from the simulated camera."""
    monkeypatch.setenv("REPLENISH_INSTANCE", str(tmp_path / "instance"))
    app = create_app(
        {
            "SECRET_KEY": "e2e-secret",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'e2e.db'}",
            "ANR_RECORDINGS_DIR": str(tmp_path / "recordings"),
            "PASSWORD_HASH_METHOD": "scrypt:1024:8:1",
            **FAST_ENGINE,
            "ANR_CHUNK_SECONDS": 6,  # the 12 s window comes back as two files, played in turn
        }
    )
    cam = SimCam("127.0.0.1", 0).start()
    try:
        with app.app_context():
            db.create_all()
            sim_camera(cam, "lobby", name="Lobby entrance", site="HQ Berlin",
                       timezone="Europe/Berlin")  # fmt: skip
            gap = factories.make_gap("lobby", recent(), seconds=12)
            run_worker(app)
            gap = gap_now(gap.id)
            assert gap.fill_state == "filled", gap.last_error
            gap_id = gap.id
            server_hevc = _hevc_gap(app)
            for role in ("manager", "viewer"):
                factories.make_user(role, role, None, PASSWORD)
    finally:
        cam.stop()
    with LiveServer(app) as server:
        server.gap_id = gap_id
        server.hevc_gap_id = server_hevc
        yield server


def _hevc_gap(app) -> str:
    """A filled gap of camera ``dock`` whose one archive file is H.265 (indexed as found)."""
    factories.make_camera("dock", name="Loading dock")
    start = recent(60)
    path = Path(app.config["ANR_RECORDINGS_DIR"]) / "dock" / start.strftime("%Y%m%d_%H%M%S.mp4")
    path.parent.mkdir(parents=True)
    cmd = [ffmpeg_bin(), "-nostdin", "-loglevel", "error", "-f", "lavfi"]
    cmd += ["-i", "testsrc=size=320x180:rate=5", "-t", "4", "-c:v", "libx265", "-tag:v", "hvc1"]
    cmd += ["-x265-params", "log-level=error", "-movflags", "+faststart", str(path)]
    subprocess.run(cmd, check=True, timeout=60)
    old = time.time() - 3600
    os.utime(path, (old, old))
    index_all()
    return factories.make_gap("dock", start, 4, "filled").id


def _wait(tab, condition: str, timeout_s: float = 15.0) -> None:
    """Poll ``condition`` in the page (wait_for_function would need eval, which the CSP bars)."""
    for _ in range(int(timeout_s * 10)):
        if tab.evaluate(f"() => {condition}"):
            return
        tab.wait_for_timeout(100)
    raise AssertionError(f"not reached in {timeout_s} s: {condition}")


def _plays(tab) -> None:
    video = tab.locator("video#player")
    expect(video).to_be_visible()
    _wait(tab, f"document.getElementById('player').readyState >= {HAVE_ENOUGH_DATA}")
    tab.evaluate("document.getElementById('player').muted = true")
    tab.locator("#to-gap-start").click()  # the keyboard-usable control, not an autoplay
    start = tab.evaluate("document.getElementById('player').currentTime")
    _wait(tab, f"document.getElementById('player').currentTime > {start} + 1.0")
    assert tab.locator("#cannot-play").is_hidden()


def test_watch_plays_the_filled_gap_in_the_page_and_in_embed(browser, filled_live):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        tab = context.new_page()
        errors = []
        tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        sign_in(tab, filled_live, "manager", "/cameras/lobby/gaps")
        row = tab.locator(f"#gap-{filled_live.gap_id}")
        expect(row.get_by_role("button", name="Export evidence")).to_be_visible()
        row.get_by_role("link", name="Watch").click()
        expect(tab.get_by_role("heading", level=1)).to_contain_text("Footage of the gap")
        _plays(tab)
        expect(tab.locator("#now-playing")).to_contain_text("File 1 of 2")
        tab.evaluate(
            "v => { v.currentTime = v.duration - 0.3; }", tab.locator("#player").element_handle()
        )
        expect(tab.locator("#now-playing")).to_contain_text("File 2 of 2")
        _wait(tab, "document.getElementById('player').currentTime > 0.5")
        tab.evaluate("document.getElementById('player').pause()")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        tab.screenshot(caret="initial", path=str(SCREENSHOTS / "watch.png"), full_page=True)
        serious = [v["id"] for v in run_axe(tab) if v["impact"] in FAILING]
        assert not serious, serious
        tab.goto(f"{filled_live.url}/cameras/lobby/gaps")
        tab.locator(f"#gap-{filled_live.gap_id} .history-toggle").click()
        expect(tab.locator(f"#detail-{filled_live.gap_id}")).to_contain_text("Archive files")
        tab.screenshot(
            caret="initial", path=str(SCREENSHOTS / "watch-row-and-detail.png"), full_page=True
        )
        tab.goto(f"{filled_live.url}/cameras/lobby/gaps/{filled_live.gap_id}/watch")
        # The Export evidence button downloads the signed ZIP.
        with tab.expect_download() as download:
            tab.get_by_role("button", name="Export evidence").click()
        assert download.value.suggested_filename.startswith("evidence-lobby-")
        assert not [e for e in errors if "Content Security Policy" in e], errors
    finally:
        context.close()

    embedded = browser.new_context(viewport={"width": 600, "height": 900})
    try:
        tab = embedded.new_page()
        sign_in(tab, filled_live, "viewer")
        tab.goto(f"{filled_live.url}/embed/cameras/lobby/gaps/{filled_live.gap_id}/watch")
        assert tab.locator("header.topbar").count() == 0
        _plays(tab)
        assert tab.get_by_role("button", name="Export evidence").count() == 0
        tab.evaluate("document.getElementById('player').pause()")
        tab.screenshot(caret="initial", path=str(SCREENSHOTS / "embed-watch.png"), full_page=True)
        serious = [v["id"] for v in run_axe(tab) if v["impact"] in FAILING]
        assert not serious, serious
        width = tab.evaluate("document.documentElement.scrollWidth")
        assert width <= 600, width
    finally:
        embedded.close()


def test_footage_the_browser_cannot_decode_says_so_instead_of_a_black_box(browser, filled_live):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        tab = context.new_page()
        sign_in(tab, filled_live, "viewer")
        tab.goto(f"{filled_live.url}/cameras/dock/gaps/{filled_live.hevc_gap_id}/watch")
        message = tab.get_by_role("alert")
        expect(message).to_contain_text("cannot show this footage")
        expect(tab.locator("video#player")).to_be_hidden()
        expect(tab.get_by_role("link", name=re.compile(r"\d{8}_\d{6}\.mp4"))).to_be_visible()
        tab.screenshot(
            caret="initial", path=str(SCREENSHOTS / "watch-cannot-play.png"), full_page=True
        )
    finally:
        context.close()
