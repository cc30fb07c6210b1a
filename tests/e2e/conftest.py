"""Browser tests: the app served on loopback from a thread, driven by Debian's Chromium."""

import os
import re
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests import factories
from webapp import create_app
from webapp.domain import segments
from webapp.extensions import db
from webapp.models import FillRun
from webapp.models import RecordingGap
from webapp.models import Segment
from webapp.models import utcnow

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "correct horse 1"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
# Every screenshot is taken with caret="initial": Playwright hides the caret with an injected
# <style>, which the pages' Content Security Policy refuses (a console error a test would see).
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(items):
    """Every test in this folder is a browser test."""
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def browser():
    """One Chromium for the session; skipped (or failed under REQUIRE_BROWSER=1) when absent."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"REQUIRE_BROWSER=1 but {CHROMIUM} is not installed")
        pytest.skip(f"chromium not installed at {CHROMIUM} (browser tests)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


def seed_demo(now):
    """Cameras, a day of segments with holes, gaps in every state, and users of each role."""
    factories.make_camera(
        "lobby",
        name="Lobby entrance",
        site="HQ Berlin",
        timezone="Europe/Berlin",
        vendor="hikvision",
        address="10.0.0.7",
        anr_enabled=True,
    )
    factories.make_camera("dock", name="Loading dock", site="Newark", timezone="America/New_York")
    gaps = {}
    for state, hours_ago, seconds in (
        ("failed", 9.0, 900),
        ("filling", 1.2, 240),
        ("filled", 3.0, 600),
        ("pending", 0.5, 300),
        ("partial", 5.0, 420),
        ("expired", 20.0, 1200),
    ):
        start = (now - timedelta(hours=hours_ago)).replace(second=0)
        extra = {}
        if state == "failed":
            extra = dict(
                fill_attempts=3,
                last_attempt_at=now - timedelta(minutes=40),
                last_error="ffmpeg: rtsp://admin:hunter2@10.0.0.7/replay: Connection timed out",
            )
        elif state == "filling":
            extra = dict(fill_attempts=1, progress=0.45, last_attempt_at=now)
        elif state == "partial":
            extra = dict(fill_attempts=1, recovered_seconds=250.0, last_attempt_at=now)
        elif state == "filled":
            extra = dict(
                fill_attempts=1,
                recovered_seconds=600.0,
                filled_at=now - timedelta(hours=2),
                last_attempt_at=now - timedelta(hours=2),
            )
        gaps[state] = factories.make_gap("lobby", start, seconds, state, **extra).id
    # Old pending gaps every two hours from six days back: enough rows for "Load more", and
    # far enough apart to be separate marks on the 7-day timeline.
    factories.make_gaps("lobby", 60, "pending", step_s=7200, start=now - timedelta(days=6))
    holes = [
        (g.gap_start, g.gap_end)
        for g in db.session.execute(db.select(RecordingGap)).scalars()
        if g.fill_state != "filled"
    ]
    t = (now - timedelta(hours=30)).replace(second=0)
    rows = []
    while t < now - timedelta(minutes=2):
        end = t + timedelta(seconds=60)
        if not any(a < end and b > t for a, b in holes):
            for cam in ("lobby", "dock"):
                rows.append(
                    Segment(
                        camera_id=cam,
                        path=f"{t:%Y%m%d_%H%M%S}.mp4",
                        start_time=t,
                        end_time=end,
                        duration_s=60.0,
                    )
                )
        t = end
    segments.add_segments(rows)
    # Fill history: the failed gap's three attempts and the filled gap's one.
    timed_out = "ffmpeg: rtsp://***@10.0.0.7/replay: Connection timed out"
    for gap_key, n, outcome, method, error in (
        ("failed", 0, "failed", "replay", timed_out),
        ("failed", 1, "failed", "download", "camera answered 503 Service Unavailable"),
        ("failed", 2, "failed", "replay", timed_out),
        ("filled", 0, "filled", "replay", None),
    ):
        started = now - timedelta(hours=2, minutes=40 - 10 * n)
        db.session.add(
            FillRun(
                gap_id=gaps[gap_key],
                camera_id="lobby",
                worker_id="worker-1",
                started_at=started,
                ended_at=started + timedelta(seconds=42),
                duration_s=42.0,
                outcome=outcome,
                method=method,
                recovered_seconds=600.0 if outcome == "filled" else 0.0,
                bytes_written=585_100 if outcome == "filled" else 0,
                error=error,
                requested_by="manager" if n == 1 else None,
            )
        )
    db.session.commit()
    for role in ("admin", "manager", "viewer"):
        factories.make_user(role, role, None, PASSWORD)
    return gaps


class LiveServer:
    """The app on 127.0.0.1:<free port> in a thread, stopped by the fixture."""

    def __init__(self, app):
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.thread.join(timeout=10)


@pytest.fixture
def live(tmp_path, monkeypatch, browser):
    """A seeded app served on loopback; ``live.gaps`` maps a state to a gap id."""
    monkeypatch.setenv("REPLENISH_INSTANCE", str(tmp_path / "instance"))
    app = create_app(
        {
            "SECRET_KEY": "e2e-secret",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'e2e.db'}",
            "ANR_RECORDINGS_DIR": str(tmp_path / "recordings"),
            "PASSWORD_HASH_METHOD": "scrypt:1024:8:1",  # cheap in tests; see tests/conftest.py
        }
    )
    with app.app_context():
        db.create_all()
        gaps = seed_demo(utcnow().replace(microsecond=0))
    with LiveServer(app) as server:
        server.gaps = gaps
        yield server


@pytest.fixture
def page(browser, live, request):
    """A fresh browser tab at 1280 px; its screenshot is saved when the test ends.

    It depends on ``live`` so the screenshot is taken before the server stops.
    """
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    tab = context.new_page()
    errors = []
    tab.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    tab.console_errors = errors
    yield tab
    # Whatever the test did, nothing on the page may have needed an inline script or style.
    # Read before the screenshot: Playwright's own screenshot styles are not the page's.
    violations = [e for e in errors if "Content Security Policy" in e]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^a-z0-9_]+", "_", request.node.name.lower())
    try:
        tab.screenshot(caret="initial", path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    finally:
        context.close()
    assert not violations, violations


def sign_in(page, live, username: str, next_path: str = "/cameras"):
    """Sign in through the login form and land on ``next_path``."""
    page.goto(f"{live.url}/login?next={next_path}")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(re.escape(next_path.split("?")[0])))
