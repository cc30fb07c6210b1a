"""Operator control against a running worker: Stop ends ffmpeg; manual windows skip the wait."""

import time
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest

from tests import factories
from tests.anr.conftest import FAST_ENGINE
from tests.anr.conftest import archive_path
from tests.anr.conftest import background_worker
from tests.anr.conftest import gap_now
from tests.anr.conftest import playable_seconds
from tests.anr.conftest import recent
from tests.anr.conftest import run_worker
from tests.anr.conftest import sim_camera
from tests.anr.conftest import wait_for
from tests.anr.test_webhooks import Receiver
from webapp.extensions import db as _db
from webapp.models import Camera


def test_stop_keeps_the_footage_copied_so_far(make_app, simcam, login_as):
    receiver = Receiver([200])
    app = make_app(**FAST_ENGINE, ANR_WEBHOOK_URLS=receiver.url, ANR_WEBHOOK_SECRET="s")
    manager = login_as("manager", username="mona")
    try:
        with app.app_context(), background_worker(app) as worker:
            sim_camera(simcam)
            simcam.set("cam1", "ok", speed=1.0)
            gap = factories.make_gap("cam1", recent(), seconds=30)
            wait_for(lambda: gap_now(gap.id).fill_state == "filling" and worker.jobs)
            child = worker.jobs[gap.id].job.proc
            wait_for(lambda: (gap_now(gap.id).progress or 0) > 0.15, timeout=15)

            resp = manager.post(f"/api/v1/cameras/cam1/recording-gaps/{gap.id}/stop")
            asked = time.monotonic()
            assert resp.status_code == 200, resp.get_data(as_text=True)

            wait_for(lambda: gap_now(gap.id).fill_state != "filling", timeout=15)
            assert child.poll() is not None  # the ffmpeg child has ended
            assert time.monotonic() - asked <= app.config["ANR_LEASE_SECONDS"] / 2 + 5
            stopped = gap_now(gap.id)
            assert stopped.fill_state == "partial"
            assert stopped.last_error == "stopped by mona" and stopped.stopped_by == "mona"
            assert 0 < stopped.recovered_seconds < 30
            kept = archive_path(app, "cam1", gap.gap_start)
            assert playable_seconds(kept) == pytest.approx(stopped.recovered_seconds, abs=1.5)
            assert not list(kept.parent.glob("*.part"))

        # Not "needs attention", no alert: the operator chose this.
        fleet = manager.get("/api/v1/cameras").get_json()
        assert fleet[0]["counts"]["partial"] == 1
        with app.app_context():  # the gap puts the camera in no attention level
            assert _db.session.get(Camera, "cam1").attention == 0
        time.sleep(0.5)
        assert receiver.calls == []
        runs = manager.get(f"/api/v1/cameras/cam1/recording-gaps/{gap.id}/runs").get_json()
        assert runs[0]["outcome"] == "stopped" and runs[0]["recovered_seconds"] > 0
        assert runs[0]["bytes"] > 0
    finally:
        receiver.close()


def test_stop_before_any_footage_fails_the_gap_quietly(anr_app, anr_db, simcam, login_as):
    sim_camera(simcam)
    simcam.set("cam1", "stall")
    with background_worker(anr_app) as worker:
        gap = factories.make_gap("cam1", recent(), seconds=20)
        wait_for(lambda: gap_now(gap.id).fill_state == "filling" and worker.jobs)
        resp = login_as("manager", username="mona").post(
            f"/api/v1/cameras/cam1/recording-gaps/{gap.id}/stop"
        )
        assert resp.status_code == 200
        wait_for(lambda: gap_now(gap.id).fill_state != "filling", timeout=15)
    stopped = gap_now(gap.id)
    assert (stopped.fill_state, stopped.last_error) == ("failed", "stopped by mona")
    anr_db.session.commit()
    assert anr_db.session.get(Camera, "cam1").attention == 0


def test_retry_on_a_camera_with_anr_off_is_filled(anr_app, anr_db, simcam, login_as):
    sim_camera(simcam, anr_enabled=False)
    gap = factories.make_gap("cam1", recent(), seconds=6, state="failed", fill_attempts=3)
    run_worker(anr_app)
    assert gap_now(gap.id).fill_state == "failed"  # automatic ANR is off: nothing happens

    resp = login_as("manager", username="mona").post(
        f"/api/v1/cameras/cam1/recording-gaps/{gap.id}/retry"
    )
    assert resp.status_code == 200
    run_worker(anr_app)

    filled = gap_now(gap.id)
    assert filled.fill_state == "filled"
    assert playable_seconds(archive_path(anr_app, "cam1", gap.gap_start)) >= 5.5
    runs = login_as("viewer").get(f"/api/v1/cameras/cam1/recording-gaps/{gap.id}/runs").json
    assert [r["outcome"] for r in runs] == ["filled"]
    assert runs[0]["requested_by"] == "mona" and runs[0]["method"] == "replay"


def test_manual_window_fills_at_once_outside_the_fill_window(make_app, simcam, login_as):
    now = datetime.now(UTC)
    closed = f"{now + timedelta(hours=2):%H:%M}-{now + timedelta(hours=3):%H:%M}"
    app = make_app(ANR_FILL_WINDOW=closed, ANR_IO_TIMEOUT_S=2.0, ANR_INTERVAL_S=0.2)
    manager = login_as("manager")
    with app.app_context():
        sim_camera(simcam)
        auto_id = factories.make_gap("cam1", recent(minutes_ago=5), seconds=6).id
    start = recent(minutes_ago=20)
    resp = manager.post(
        "/api/v1/cameras/cam1/recording-gaps",
        json={
            "gap_start": f"{start:%Y-%m-%dT%H:%M:%SZ}",
            "gap_end": f"{start + timedelta(seconds=6):%Y-%m-%dT%H:%M:%SZ}",
        },
    )
    assert resp.status_code == 201, resp.get_data(as_text=True)
    manual_id = resp.get_json()["id"]

    with app.app_context():
        run_worker(app)

        assert gap_now(manual_id).fill_state == "filled"
        assert gap_now(auto_id).fill_state == "pending"  # automatic: waits for the window
        assert len(simcam.requests) == 1
