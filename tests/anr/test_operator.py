"""Operator control against a running worker: Stop ends ffmpeg; manual windows skip the wait."""

import time
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest

from tests import factories
from tests.anr.conftest import archive_path
from tests.anr.conftest import background_worker
from tests.anr.conftest import gap_now
from tests.anr.conftest import recent
from tests.anr.conftest import run_worker
from tests.anr.conftest import sim_camera
from tests.anr.conftest import wait_for


@pytest.fixture
def running_worker(anr_app):
    with background_worker(anr_app) as worker:
        yield worker


def test_stop_from_the_api_ends_the_ffmpeg_child(anr_app, anr_db, simcam, login_as, running_worker):
    sim_camera(simcam)
    simcam.set("cam1", "ok", speed=1.0)
    gap = factories.make_gap("cam1", recent(), seconds=20)
    wait_for(lambda: gap_now(gap.id).fill_state == "filling" and running_worker.jobs)
    child = running_worker.jobs[gap.id].job.proc
    wait_for(lambda: (gap_now(gap.id).progress or 0) > 0, timeout=10)
    manager = login_as("manager")

    resp = manager.post(f"/api/v1/cameras/cam1/recording-gaps/{gap.id}/stop")
    asked = time.monotonic()
    assert resp.status_code == 200, resp.get_data(as_text=True)

    wait_for(lambda: gap_now(gap.id).fill_state == "failed", timeout=10)
    elapsed = time.monotonic() - asked
    assert elapsed <= anr_app.config["ANR_LEASE_SECONDS"] / 2 + 0.5
    assert child.poll() is not None  # the ffmpeg child has ended
    stopped = gap_now(gap.id)
    assert stopped.last_error == "stopped by manager1"
    folder = archive_path(anr_app, "cam1", gap.gap_start).parent
    assert list(folder.glob("*")) == []


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
