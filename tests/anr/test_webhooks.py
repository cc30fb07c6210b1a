"""Failure alerts: signed with HMAC-SHA256, retried with back-off, never holding up a fill."""

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer

import pytest

from tests import factories
from tests.anr.conftest import FAST_ENGINE
from tests.anr.conftest import background_worker
from tests.anr.conftest import gap_now
from tests.anr.conftest import recent
from tests.anr.conftest import run_worker
from tests.anr.conftest import sim_camera
from tests.anr.conftest import wait_for

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
    assert len({body for body, _ in flaky.calls}) == 1  # the same signed document each time
    wait_for(lambda: "delivered (HTTP 200, try 3)" in caplog.text, timeout=5)
    assert "try 1/4 failed: HTTP 500" in caplog.text
