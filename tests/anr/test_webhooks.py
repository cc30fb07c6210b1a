"""Failure alerts: signed with HMAC-SHA256, retried with back-off, never holding up a fill."""

import hashlib
import hmac
import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer

import pytest
from sqlalchemy import select
from sqlalchemy import update

from tests import factories
from tests.anr.conftest import FAST_ENGINE
from tests.anr.conftest import background_worker
from tests.anr.conftest import gap_now
from tests.anr.conftest import recent
from tests.anr.conftest import run_worker
from tests.anr.conftest import sim_camera
from tests.anr.conftest import wait_for
from webapp.anr.worker import Worker
from webapp.domain import segments
from webapp.extensions import db as _db
from webapp.models import Camera
from webapp.models import Segment
from webapp.models import WebhookDelivery
from webapp.models import rfc3339
from webapp.models import utcnow

SECRET = "hook-secret"


class Receiver:
    """A loopback webhook receiver answering each POST with the next status of ``statuses``."""

    def __init__(self, statuses, delay_s=0.0):
        self.statuses = list(statuses)
        self.delay_s = delay_s
        self.calls: list[tuple[bytes, dict]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append((body, dict(self.headers)))
                time.sleep(receiver.delay_s)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers():
    made = []

    def make(statuses, delay_s=0.0):
        made.append(Receiver(statuses, delay_s))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


def _app_with_hooks(make_app, *urls, attempts=3):
    return make_app(
        **{
            **FAST_ENGINE,
            "ANR_MAX_ATTEMPTS": 1,
            "ANR_WEBHOOK_URLS": " ".join(urls),
            "ANR_WEBHOOK_SECRET": SECRET,
            "ANR_WEBHOOK_ATTEMPTS": attempts,
            # Fills write footage from half an hour ago: only the camera tests watch staleness.
            "ANR_STALE_MINUTES": 10**6,
        }
    )


def test_failed_gap_alert_is_signed_and_verifies(make_app, simcam, receivers):
    receiver = receivers([200])
    app = _app_with_hooks(make_app, receiver.url)
    with app.app_context():
        sim_camera(simcam)
        simcam.set("cam1", "fail")
        gap = factories.make_gap("cam1", recent(), seconds=10)

        run_worker(app)

        assert gap_now(gap.id).fill_state == "failed"
    wait_for(lambda: receiver.calls, timeout=5)
    body, headers = receiver.calls[0]
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Replenish-Signature"], expected)
    event = json.loads(body)
    assert event["event"] == "recording_gap.failed"
    assert event["gap"]["id"] == gap.id and event["gap"]["fill_state"] == "failed"
    assert "claimed_by" not in event["gap"]


def test_failing_receiver_is_retried_without_blocking_fills(make_app, simcam, receivers, caplog):
    caplog.set_level("INFO", logger="webapp.anr.webhooks")
    flaky = receivers([500, 500, 200], delay_s=1.0)
    app = _app_with_hooks(make_app, flaky.url, attempts=4)
    with app.app_context():
        sim_camera(simcam)
        sim_camera(simcam, "cam2")
        simcam.set("cam1", "fail")
        failing = factories.make_gap("cam1", recent(), seconds=10)
        with background_worker(app):
            wait_for(lambda: gap_now(failing.id).fill_state == "failed")
            good = factories.make_gap("cam2", recent(), seconds=6)
            wait_for(lambda: gap_now(good.id).fill_state == "filled")
            # The alert is still being retried (each try takes 1 s) while the next fill is done.
            assert len(flaky.calls) < 3
            wait_for(lambda: len(flaky.calls) == 3, timeout=10)
            wait_for(lambda: delivery_states() == ["delivered"], timeout=5)
    assert len({body for body, _ in flaky.calls}) == 1  # the same signed document each time
    wait_for(lambda: "delivered (HTTP 200, try 3)" in caplog.text, timeout=5)
    assert "try 1/4 failed: HTTP 500" in caplog.text


def delivery_states() -> list[str]:
    _db.session.commit()
    return [row.state for row in _db.session.execute(select(WebhookDelivery)).scalars()]


def test_alerts_queued_before_a_restart_are_delivered_after_it(make_app, simcam, receivers):
    """A worker stops while a receiver is failing; the next worker process delivers the alert."""
    receiver = receivers([500])
    app = _app_with_hooks(make_app, receiver.url, attempts=5)
    app.config["ANR_WEBHOOK_BACKOFF_S"] = 30.0  # the retry falls after the restart
    with app.app_context():
        sim_camera(simcam)
        simcam.set("cam1", "fail")
        gap_id = factories.make_gap("cam1", recent(), seconds=10).id
        with background_worker(app):
            wait_for(lambda: gap_now(gap_id).fill_state == "failed")
            wait_for(lambda: len(receiver.calls) == 1, timeout=5)
        row = _db.session.execute(select(WebhookDelivery)).scalar_one()
        assert (row.state, row.attempts, row.last_status) == ("pending", 1, "HTTP 500")
        # Nothing left in memory: the row alone carries the alert into the next process.
        _db.session.execute(
            update(WebhookDelivery).values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )
        _db.session.commit()
    restarted = _app_with_hooks(make_app, receiver.url, attempts=5)
    with restarted.app_context():
        with background_worker(restarted):
            wait_for(lambda: len(receiver.calls) == 2, timeout=10)
            wait_for(lambda: delivery_states() == ["delivered"], timeout=5)
        row = _db.session.execute(select(WebhookDelivery)).scalar_one()
        assert row.attempts == 2 and row.last_status == "HTTP 200"
    assert receiver.calls[0][0] == receiver.calls[1][0]
    assert json.loads(receiver.calls[1][0])["gap"]["id"] == gap_id


def test_camera_stale_and_recovered_fire_once_per_transition(make_app, receivers):
    """Quiet past ANR_STALE_MINUTES is one camera.stale; new footage is one camera.recovered."""
    receiver = receivers([])
    app = _app_with_hooks(make_app, receiver.url)
    app.config["ANR_STALE_MINUTES"] = 10
    with app.app_context():
        factories.make_camera("cam1", name="Gate")
        add_segment("cam1", utcnow() - timedelta(minutes=3))
        worker = Worker(app)
        worker.sweep_and_claim()  # first look: recording, no alert
        add_segment_end = utcnow() - timedelta(minutes=30)
        _db.session.execute(update(Camera).values(last_segment_end=add_segment_end))
        _db.session.commit()
        worker.sweep_and_claim()
        worker.sweep_and_claim()  # still stale: no second alert
        add_segment("cam1", utcnow() - timedelta(minutes=1))
        worker.sweep_and_claim()
        worker.sweep_and_claim()
        events = [row.event for row in _db.session.execute(select(WebhookDelivery)).scalars()]
        assert events == ["camera.stale", "camera.recovered"]
        worker.sender.start()
        wait_for(lambda: len(receiver.calls) == 2, timeout=10)
        worker.sender.stop()
    stale = json.loads(receiver.calls[0][0])
    assert stale["camera"]["id"] == "cam1" and stale["camera"]["recording_status"] == "stale"
    assert stale["camera"]["last_segment_end"] == rfc3339(add_segment_end)
    assert json.loads(receiver.calls[1][0])["camera"]["recording_status"] == "ok"


def test_camera_that_never_records_alerts_once_after_the_stale_limit(make_app, receivers):
    receiver = receivers([])
    app = _app_with_hooks(make_app, receiver.url)
    app.config["ANR_STALE_MINUTES"] = 10
    with app.app_context():
        camera = factories.make_camera("new1", name="New camera")
        worker = Worker(app)
        worker.sweep_and_claim()  # just added: it gets the stale limit to send footage
        assert not _db.session.execute(select(WebhookDelivery)).first()
        camera.created_at = utcnow() - timedelta(minutes=11)
        _db.session.commit()
        worker.sweep_and_claim()
        worker.sweep_and_claim()
        rows = _db.session.execute(select(WebhookDelivery)).scalars().all()
        assert [json.loads(r.body)["camera"]["recording_status"] for r in rows] == ["never"]
        assert [r.event for r in rows] == ["camera.stale"]


def add_segment(camera_id: str, end):
    segments.add_segment(
        Segment(
            camera_id=camera_id,
            path=f"x/{end:%Y%m%d_%H%M%S}.mp4",
            start_time=end - timedelta(seconds=60),
            end_time=end,
            duration_s=60.0,
        )
    )
    _db.session.commit()
