"""The fill queue in Chromium: a real worker fills from the simulated camera while the page
polls; progress moves, Stop works and keeps the footage; a viewer gets no controls."""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.anr.conftest import FAST_ENGINE
from tests.anr.conftest import background_worker
from tests.anr.conftest import sim_camera
from webapp import create_app
from webapp.devtools.simcam import SimCam
from webapp.extensions import db
from webapp.models import RecordingGap
from webapp.models import utcnow

from .conftest import PASSWORD
from .conftest import SCREENSHOTS
from .conftest import LiveServer
from .conftest import sign_in


@pytest.fixture
def filling(tmp_path, monkeypatch, browser):
    """A live app, a simulated camera at real-time speed, a worker, and a 40 s gap to fill."""
    monkeypatch.setenv("REPLENISH_INSTANCE", str(tmp_path / "instance"))
    app = create_app(
        {
            "SECRET_KEY": "e2e-secret",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'e2e.db'}",
            "ANR_RECORDINGS_DIR": str(tmp_path / "recordings"),
            **FAST_ENGINE,
        }
    )
    cam = SimCam("127.0.0.1", 0).start()
    try:
        with app.app_context():
            db.create_all()
            camera = sim_camera(cam, "lobby", name="Lobby entrance", site="HQ Berlin")
            cam.set("lobby", "ok", speed=1.0)
            sim_camera(cam, "dock", name="Loading dock", site="Newark", anr_enabled=False)
            start = (utcnow() - timedelta(minutes=30)).replace(microsecond=0)
            gap = factories.make_gap(camera.id, start, 40)
            factories.make_gap("dock", start - timedelta(hours=1), 60)  # ANR off: not queued
            for role in ("manager", "viewer"):
                factories.make_user(role, role, None, PASSWORD)
            gap_id = gap.id
        with LiveServer(app) as server, background_worker(app):
            server.gap_id = gap_id
            server.app = app
            yield server
    finally:
        cam.stop()


def _progress(tab) -> int:
    text = tab.locator("#queue-view .progress-cell .pct").first.inner_text()
    return int(text.rstrip(" %"))


def test_queue_shows_a_running_fill_moving_and_stop_keeps_its_footage(browser, filling):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    tab = context.new_page()
    errors = []
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        sign_in(tab, filling, "manager", "/queue")
        row = tab.locator("#queue-view tr.run-row")
        expect(row).to_have_count(1)
        expect(row).to_contain_text("Lobby entrance")
        expect(row).to_contain_text("automatic")
        first = _progress(tab)
        # The page polls every 2 s while a fill runs: the bar moves without a reload.
        tab.wait_for_function(
            "p => { const e = document.querySelector('#queue-view .progress-cell .pct');"
            " return e && parseInt(e.textContent) >= p + 10; }",
            arg=first,
            timeout=20_000,
        )
        expect(row).to_contain_text("× real time")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        tab.screenshot(caret="initial", path=str(SCREENSHOTS / "queue-running.png"), full_page=True)

        row.get_by_role("button", name=re.compile("Stop the fill")).click()
        tab.get_by_role("dialog").get_by_role("button", name="OK").click()
        expect(tab.locator("#messages")).to_contain_text("Stop sent for Lobby entrance")
        # The worker ends the fill; the outcome list says it was stopped, with footage kept.
        recent = tab.locator("section[aria-labelledby=h-recent]")
        expect(recent).to_contain_text("Stopped", timeout=20_000)
        expect(tab.locator("#queue-view tr.run-row")).to_have_count(0)
        tab.screenshot(caret="initial", path=str(SCREENSHOTS / "queue-stopped.png"), full_page=True)
        with filling.app.app_context():
            gap = db.session.get(RecordingGap, filling.gap_id)
            assert gap.fill_state == "partial" and gap.recovered_seconds > 0
            assert gap.last_error == "stopped by manager"
        assert not [e for e in errors if "Content Security Policy" in e], errors
    finally:
        context.close()


def test_viewer_sees_the_queue_without_controls_and_fleet_pages_render(browser, filling):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        tab = context.new_page()
        sign_in(tab, filling, "viewer", "/queue")
        expect(tab.locator("#queue-view tr.run-row")).to_have_count(1, timeout=20_000)
        expect(tab.get_by_role("button", name=re.compile("Stop"))).to_have_count(0)
        expect(tab.locator("#queue-view")).to_contain_text("not queued (ANR off)")
        tab.goto(f"{filling.url}/cameras")
        tab.wait_for_selector("#fleet table")
        tab.screenshot(caret="initial", path=str(SCREENSHOTS / "fleet-paged.png"), full_page=True)
    finally:
        context.close()
    narrow = browser.new_context(viewport={"width": 600, "height": 900})
    try:
        tab = narrow.new_page()
        sign_in(tab, filling, "viewer", "/queue")
        tab.wait_for_selector("#queue-view")
        tab.screenshot(caret="initial", path=str(SCREENSHOTS / "queue-600.png"), full_page=True)
        width = tab.evaluate("document.documentElement.scrollWidth")
        assert width <= 600, width
        tab.goto(f"{filling.url}/embed/cameras")
        tab.wait_for_selector("#fleet table")
        tab.screenshot(
            caret="initial", path=str(SCREENSHOTS / "embed-fleet-600.png"), full_page=True
        )
        width = tab.evaluate("document.documentElement.scrollWidth")
        assert width <= 600, width
    finally:
        narrow.close()


def test_stop_is_in_reach_and_works_at_600_px(browser, filling):
    """At 600 px the running table scrolls in its own box; Stop sticks to its right edge."""
    context = browser.new_context(viewport={"width": 600, "height": 900})
    context.set_default_timeout(20_000)
    tab = context.new_page()
    try:
        sign_in(tab, filling, "manager", "/queue")
        stop = tab.get_by_role("button", name=re.compile("Stop the fill of Lobby entrance"))
        expect(stop).to_be_visible()
        box = stop.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 600, box
        # The click lands on the button itself, not on a cell scrolled over it.
        hit = tab.evaluate(
            "([x, y]) => document.elementFromPoint(x, y).closest('button')?.textContent",
            [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
        )
        assert hit == "Stop", hit
        assert tab.evaluate("document.documentElement.scrollWidth") <= 600
        tab.screenshot(
            caret="initial", path=str(SCREENSHOTS / "queue-stop-600.png"), full_page=True
        )
        stop.click()
        tab.get_by_role("dialog").get_by_role("button", name="OK").click()
        expect(tab.locator("#messages")).to_contain_text("Stop sent for Lobby entrance")
    finally:
        context.close()
