"""ANR fixtures: a simulated camera on loopback, an app with short engine timings, helpers."""

import threading
import time
from contextlib import contextmanager
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import pytest

from tests import factories
from tests.rtsp.server import OnvifRtspCamera
from tests.rtsp.server import RtspCamera
from tests.rtsp.server import gstreamer_missing
from tests.rtsp.server import skip_or_fail
from webapp.anr.media import probe_duration
from webapp.anr.onvif_replay import gstreamer_problem
from webapp.anr.worker import Worker
from webapp.cli.demo import demo_template
from webapp.devtools.onvif_double import OnvifDouble
from webapp.devtools.simcam import SimCam
from webapp.extensions import db as _db
from webapp.models import RecordingGap

CAMERA_USER = "operator"
# A password no log line, error, page or JSON may ever show (it has URL-special characters).
CAMERA_PASSWORD = "Zq7:s3cr@t/pw"

FAST_ENGINE = {
    "ANR_INTERVAL_S": 0.2,
    "ANR_IO_TIMEOUT_S": 2.0,
    "ANR_LEASE_SECONDS": 4,
    "ANR_MAX_ATTEMPTS": 3,
    "ANR_MIN_GAP_SECONDS": 3.0,
    "ANR_WEBHOOK_BACKOFF_S": 0.2,
}


@pytest.fixture
def cardcam():
    """A simulated camera whose vendor APIs demand Digest auth; one-minute card files."""
    cam = SimCam("127.0.0.1", 0, credentials=(CAMERA_USER, CAMERA_PASSWORD), block_seconds=60)
    cam.start()
    yield cam
    cam.stop()


@pytest.fixture
def simcam():
    """A simulated camera on 127.0.0.1 (an unused port), stopped after the test.

    It demands Digest auth with the cameras' credentials on every endpoint, as ``make run``'s does.
    """
    cam = SimCam("127.0.0.1", 0, credentials=(CAMERA_USER, CAMERA_PASSWORD)).start()
    yield cam
    cam.stop()


@pytest.fixture(scope="session")
def _gstreamer_missing():
    return gstreamer_missing()


@pytest.fixture
def rtsp_camera(_gstreamer_missing, tmp_path):
    """Start GStreamer RTSP test cameras on 127.0.0.1: ``rtsp_camera(auth="digest", ...)``.

    Skipped with a reason where GStreamer is missing (a failure under REQUIRE_RTSP=1).
    """
    if _gstreamer_missing:
        skip_or_fail(_gstreamer_missing)
    started = []

    def start(auth="none", user=CAMERA_USER, password=CAMERA_PASSWORD, **control):
        folder = tmp_path / f"rtsp{len(started)}"
        folder.mkdir()
        cam = RtspCamera(folder, auth, user, password)
        started.append(cam)
        if control:
            cam.set(**control)
        return cam

    yield start
    for cam in started:
        cam.stop()


@pytest.fixture
def onvif_camera(_gstreamer_missing, tmp_path):
    """A Profile G test camera: the SOAP double plus GStreamer's ONVIF RTSP server, on loopback.

    ``onvif_camera(strict=True, rate_control=False, card_from=datetime)``; returns (device,
    rtsp). Skipped where GStreamer is missing (a failure under REQUIRE_RTSP=1).
    """
    missing = _gstreamer_missing or gstreamer_problem()  # the server's and the client's
    if missing:
        skip_or_fail(missing)
    started: list = []

    def start(card_from=None, **options):
        folder = tmp_path / f"onvif{len(started)}"
        folder.mkdir()
        rtsp = OnvifRtspCamera(folder, CAMERA_USER, CAMERA_PASSWORD, **options)
        started.append(rtsp)
        device = OnvifDouble(CAMERA_USER, CAMERA_PASSWORD).start()
        started.append(device)
        device.data_from = card_from or datetime.now(UTC) - timedelta(hours=6)
        device.replay_uri = rtsp.replay_uri
        return device, rtsp

    yield start
    for thing in started:
        thing.stop()


@pytest.fixture
def anr_app(make_app):
    """An app whose engine timings suit a test (seconds, not minutes)."""
    return make_app(**FAST_ENGINE)


@pytest.fixture
def anr_db(anr_app):
    with anr_app.app_context():
        yield _db


def sim_camera(simcam, camera_id: str = "cam1", **fields):
    """An ANR camera whose replay template points at the simulated camera."""
    fields.setdefault("anr_enabled", True)
    fields.setdefault("anr_replay_url_template", demo_template(simcam.url, camera_id))
    fields.setdefault("username", CAMERA_USER)
    fields.setdefault("password", CAMERA_PASSWORD)
    fields.setdefault("address", "127.0.0.1")
    return factories.make_camera(camera_id, **fields)


def rtsp_camera_row(cam, vendor: str, camera_id: str = "cam1", **fields):
    """A camera row pointing at an RTSP test camera with the vendor's default replay URL."""
    fields.setdefault("username", CAMERA_USER)
    fields.setdefault("password", CAMERA_PASSWORD)
    fields.setdefault("anr_enabled", True)
    return factories.make_camera(
        camera_id, vendor=vendor, address="127.0.0.1", rtsp_port=cam.port, **fields
    )


def recent(minutes_ago: float = 30) -> datetime:
    """A whole-second UTC time inside the cameras' edge retention."""
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).replace(microsecond=0)


def run_worker(app, **kw) -> Worker:
    """One ``anr worker --once`` pass in this process; returns the worker."""
    worker = Worker(app, **kw)
    worker.run(once=True)
    return worker


@contextmanager
def background_worker(app):
    """A worker running in a thread of this process until the block ends."""
    worker = Worker(app)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        worker.request_shutdown()
        thread.join(timeout=15)
        assert not thread.is_alive(), "the worker did not shut down"


def gap_now(gap_id: str) -> RecordingGap:
    """The gap as the database has it now: ends the session's transaction, so no stale snapshot."""
    _db.session.commit()
    return _db.session.get(RecordingGap, gap_id)


def archive_path(app, camera_id: str, start: datetime) -> Path:
    return Path(app.config["ANR_RECORDINGS_DIR"]) / camera_id / start.strftime("%Y%m%d_%H%M%S.mp4")


def playable_seconds(path: Path) -> float | None:
    """Seconds ffmpeg decodes from the file: proof that it plays."""
    return probe_duration(path, decode=True)


def wait_for(predicate, timeout: float = 10.0, step: float = 0.1):
    """Poll ``predicate`` until it returns something true; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"gave up after {timeout} s waiting for {predicate.__name__}")
