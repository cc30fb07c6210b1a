"""ONVIF Profile G fills against a real Profile G server.

The device, search and replay services are the SOAP double (``webapp/devtools/onvif_double.py``,
WS-Security checked); the RTSP side is GStreamer's own RTSPOnvifServer
(``webapp/devtools/onvif_camera.py``), serving any clock range and honouring ``Rate-Control: no``.
"""

import logging
import time

import pytest
from sqlalchemy import select

from tests import factories
from tests.anr.conftest import CAMERA_PASSWORD
from tests.anr.conftest import FAST_ENGINE
from tests.anr.conftest import archive_path
from tests.anr.conftest import background_worker
from tests.anr.conftest import gap_now
from tests.anr.conftest import playable_seconds
from tests.anr.conftest import recent
from tests.anr.conftest import run_worker
from tests.anr.conftest import wait_for
from webapp.anr import onvif_replay
from webapp.extensions import db
from webapp.models import Camera
from webapp.models import FillRun

pytestmark = [pytest.mark.ffmpeg, pytest.mark.rtsp, pytest.mark.slow]

WRONG_PASSWORD = "Wr0ng:p@ss/word"


@pytest.fixture
def onvif_app(make_app):
    app = make_app(**{**FAST_ENGINE, "ANR_IO_TIMEOUT_S": 5.0, "ANR_LEASE_SECONDS": 10})
    with app.app_context():
        yield app


def onvif_row(device, camera_id="cam1", **fields):
    """An ONVIF camera: its device service on the double, no replay template of its own."""
    fields.setdefault("username", "operator")
    fields.setdefault("password", CAMERA_PASSWORD)
    return factories.make_camera(
        camera_id, vendor="onvif", address="127.0.0.1", http_port=device.port,
        anr_enabled=True, **fields,
    )  # fmt: skip


def runs_of(gap_id):
    return db.session.execute(select(FillRun).where(FillRun.gap_id == gap_id)).scalars().all()


def test_two_minute_window_comes_back_at_several_times_real_speed(onvif_app, onvif_camera):
    device, rtsp = onvif_camera()
    onvif_row(device)
    gap = factories.make_gap("cam1", recent(30), seconds=120)

    began = time.monotonic()
    run_worker(onvif_app)
    took = time.monotonic() - began

    gap = gap_now(gap.id)
    assert gap.fill_state == "filled", gap.last_error
    assert took < 40, took  # at real time it would take 120 s; generous for a loaded machine
    path = archive_path(onvif_app, "cam1", gap.gap_start)
    assert playable_seconds(path) >= 118
    (run,) = runs_of(gap.id)
    assert run.method == "onvif-replay" and run.outcome == "filled"
    setup, play = rtsp.requests()
    assert setup["require"] == "onvif-replay" and play["require"] == "onvif-replay"
    start, end = gap.gap_start, gap.gap_start.timestamp() + 120
    assert play["range"] == f"clock={start:%Y%m%dT%H%M%S}Z-" + time.strftime(
        "%Y%m%dT%H%M%SZ", time.gmtime(end)
    )
    assert play["rate_control"] == "no"
    assert {"FindRecordings", "GetRecordingInformation", "GetReplayUri"} <= set(device.calls)


def test_a_strict_camera_is_filled_and_ffmpeg_cannot_replay_it(onvif_app, onvif_camera):
    device, rtsp = onvif_camera(strict=True)
    onvif_row(device, "onvif")
    # The same camera through ffmpeg (a plain RTSP template): no Require header, refused.
    onvif_row(device, "plain", anr_replay_url_template=rtsp.replay_uri)
    ours = factories.make_gap("onvif", recent(30), seconds=10)
    theirs = factories.make_gap("plain", recent(30), seconds=10)

    run_worker(onvif_app)

    assert gap_now(ours.id).fill_state == "filled", gap_now(ours.id).last_error
    refused = gap_now(theirs.id)
    assert refused.fill_state in ("pending", "failed") and refused.recovered_seconds == 0
    assert not archive_path(onvif_app, "plain", theirs.gap_start).exists()


def test_a_window_older_than_the_card_expires_without_an_attempt(onvif_app, onvif_camera):
    oldest = recent(10)
    device, rtsp = onvif_camera(card_from=oldest)
    onvif_row(device)
    gap = factories.make_gap("cam1", recent(30), seconds=20)

    run_worker(onvif_app)

    gap = gap_now(gap.id)
    assert gap.fill_state == "expired" and gap.fill_attempts == 0
    assert f"holds footage from {oldest:%Y-%m-%d %H:%M:%S} UTC" in gap.last_error
    assert rtsp.requests() == []
    assert db.session.get(Camera, "cam1").card_holds_from == oldest


def test_a_wrong_password_says_so_writes_nothing_and_logs_no_password(
    onvif_app, onvif_camera, caplog
):
    device, rtsp = onvif_camera()
    onvif_row(device, password=WRONG_PASSWORD)
    gap = factories.make_gap("cam1", recent(30), seconds=10)

    with caplog.at_level(logging.DEBUG):
        run_worker(onvif_app)

    gap = gap_now(gap.id)
    assert gap.fill_state in ("pending", "failed")
    assert "refused the username or password" in gap.last_error
    assert rtsp.requests() == []
    folder = archive_path(onvif_app, "cam1", gap.gap_start).parent
    assert not folder.exists() or not any(folder.iterdir())
    for secret in (WRONG_PASSWORD, CAMERA_PASSWORD):
        assert secret not in caplog.text and secret not in gap.last_error
        assert all(secret not in (run.error or "") for run in runs_of(gap.id))


def test_a_camera_refusing_rate_control_is_replayed_at_real_time(onvif_app, onvif_camera):
    device, rtsp = onvif_camera(rate_control=False)
    onvif_row(device)
    gap = factories.make_gap("cam1", recent(30), seconds=6)

    run_worker(onvif_app)

    gap = gap_now(gap.id)
    assert gap.fill_state == "filled", gap.last_error
    assert "Rate-Control: no" in gap.last_error and "real time" in gap.last_error
    plays = [r for r in rtsp.requests() if r["method"] == "PLAY"]
    assert [p.get("rate_control") for p in plays] == ["no", "yes"]


def test_stop_mid_fill_keeps_the_part_copied(make_app, onvif_camera, login_as):
    app = make_app(**{**FAST_ENGINE, "ANR_IO_TIMEOUT_S": 5.0, "ANR_LEASE_SECONDS": 10})
    manager = login_as("manager", username="mona")
    with app.app_context():
        device, rtsp = onvif_camera(rate_control=False)  # real time: there is time to stop
        onvif_row(device)
        gap = factories.make_gap("cam1", recent(30), seconds=40)
        with background_worker(app) as worker:
            wait_for(lambda: gap_now(gap.id).fill_state == "filling" and worker.jobs, 20)
            wait_for(lambda: (gap_now(gap.id).progress or 0) > 0.15, timeout=30)
            child = worker.jobs[gap.id].job.proc
            resp = manager.post(f"/api/v1/cameras/cam1/recording-gaps/{gap.id}/stop")
            assert resp.status_code == 200, resp.get_data(as_text=True)
            wait_for(lambda: gap_now(gap.id).fill_state != "filling", timeout=20)
            assert child.poll() is not None  # the GStreamer helper has ended
        stopped = gap_now(gap.id)
        assert stopped.fill_state == "partial" and stopped.last_error == "stopped by mona"
        assert 0 < stopped.recovered_seconds < 40
        kept = archive_path(app, "cam1", gap.gap_start)
        assert playable_seconds(kept) == pytest.approx(stopped.recovered_seconds, abs=1.5)
        assert not list(kept.parent.glob("*.part"))
        (run,) = runs_of(gap.id)
        assert run.method == "onvif-replay" and run.outcome == "stopped"


def test_without_gstreamer_onvif_is_replayed_through_ffmpeg(make_app, onvif_camera, caplog):
    app = make_app(**{**FAST_ENGINE, "ANR_GST_PYTHON": "/nonexistent/python3"})
    with app.app_context():
        device, rtsp = onvif_camera()
        onvif_row(device)
        gap = factories.make_gap("cam1", recent(30), seconds=5)
        with caplog.at_level(logging.WARNING):
            run_worker(app)
        assert "ONVIF replay is not available" in caplog.text
        (run,) = runs_of(gap.id)
        assert run.method == "replay"  # ffmpeg, at real time
        assert all("require" not in r for r in rtsp.requests())
    onvif_replay.gstreamer_problem.cache_clear()


def test_g711_audio_comes_back_as_aac_beside_the_video(onvif_app, onvif_camera):
    """The audio rule of the RTSP replay holds for ONVIF replay: G.711 kept, as AAC."""
    from tests.anr.test_rtsp import streams

    device, _rtsp = onvif_camera(audio="mulaw")
    onvif_row(device)
    gap = factories.make_gap("cam1", recent(30), seconds=30)

    run_worker(onvif_app)

    gap = gap_now(gap.id)
    assert gap.fill_state == "filled", gap.last_error
    path = archive_path(onvif_app, "cam1", gap.gap_start)
    found = streams(path)
    assert "h264" in found and "aac" in found, found
    assert playable_seconds(path) >= 29
    (run,) = runs_of(gap.id)
    assert run.method == "onvif-replay" and not run.error


def test_audio_drop_fetches_video_only(make_app, onvif_camera):
    # Time enough for GStreamer's helper to start on a busy machine (a full suite run timed out
    # its 5 s here once and fell back to a real-time replay).
    app = make_app(
        **{**FAST_ENGINE, "ANR_IO_TIMEOUT_S": 15.0, "ANR_LEASE_SECONDS": 30, "ANR_AUDIO": "drop"}
    )
    with app.app_context():
        from tests.anr.test_rtsp import streams

        device, _rtsp = onvif_camera(audio="mulaw")
        onvif_row(device)
        gap = factories.make_gap("cam1", recent(30), seconds=20)
        run_worker(app)
        gap = gap_now(gap.id)
        assert gap.fill_state == "filled", gap.last_error
        found = streams(archive_path(app, "cam1", gap.gap_start))
        assert "h264" in found and "Audio" not in found, found
