"""The worker as a real process: SIGTERM returns claims uncounted; a SIGKILL'd worker's lease
expires and another run takes the gap back."""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests import factories
from tests.anr.conftest import archive_path
from tests.anr.conftest import gap_now
from tests.anr.conftest import recent
from tests.anr.conftest import rtsp_camera_row
from tests.anr.conftest import run_worker
from tests.anr.conftest import sim_camera
from tests.anr.conftest import wait_for
from webapp.anr.worker import Worker
from webapp.models import Camera
from webapp.models import FillRun
from webapp.models import WorkerHeartbeat

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def worker_process(anr_app, tmp_path):
    """Start ``flask anr worker`` on the test's database; killed at the end if still running."""
    procs = []

    def start(**extra_env):
        env = {
            **os.environ,
            "REPLENISH_INSTANCE": str(tmp_path / "instance"),
            "DATABASE_URL": anr_app.config["SQLALCHEMY_DATABASE_URI"],
            "ANR_RECORDINGS_DIR": anr_app.config["ANR_RECORDINGS_DIR"],
            "SECRET_KEY": anr_app.config["SECRET_KEY"],
            "ANR_INTERVAL_S": "0.2",
            "ANR_LEASE_SECONDS": "3",
            "ANR_IO_TIMEOUT_S": "5",
            **extra_env,
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "anr", "worker"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def _part_files(app, camera_id):
    return list((Path(app.config["ANR_RECORDINGS_DIR"]) / camera_id).glob("*.part"))


def _filling_with_part(app, gap_id):
    def filling_with_part():
        return gap_now(gap_id).fill_state == "filling" and _part_files(app, "cam1")

    return filling_with_part


def test_sigterm_during_a_fill_returns_the_claim_uncounted(anr_app, anr_db, simcam, worker_process):
    sim_camera(simcam)
    simcam.set("cam1", "ok", speed=1.0)  # a 20 s window takes 20 s: still running at SIGTERM
    gap = factories.make_gap("cam1", recent(), seconds=20)
    proc = worker_process()
    wait_for(_filling_with_part(anr_app, gap.id), timeout=20)

    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=15)

    assert proc.returncode == 0, output
    gap = gap_now(gap.id)
    assert (gap.fill_state, gap.fill_attempts, gap.claimed_by) == ("pending", 0, None)
    assert _part_files(anr_app, "cam1") == []
    assert not archive_path(anr_app, "cam1", gap.gap_start).exists()
    run = anr_db.session.execute(select(FillRun)).scalar_one()
    assert run.outcome == "returned"
    beat = anr_db.session.execute(select(WorkerHeartbeat)).scalar_one()
    assert beat.running == 0
    assert "returned to the queue" in output


def test_sigkilled_worker_loses_its_lease_and_another_run_takes_the_gap(
    anr_app, anr_db, simcam, worker_process
):
    sim_camera(simcam)
    simcam.set("cam1", "ok", speed=1.0)
    gap = factories.make_gap("cam1", recent(), seconds=20)
    proc = worker_process()
    wait_for(_filling_with_part(anr_app, gap.id), timeout=20)

    proc.kill()
    proc.communicate(timeout=10)
    assert gap_now(gap.id).fill_state == "filling"  # nobody told the database
    lease_until = gap_now(gap.id).lease_until
    wait_for(lambda: time.time() > lease_until.timestamp() + 0.2, timeout=10)
    simcam.set("cam1", "ok", speed=0.0)

    run_worker(anr_app)

    gap = gap_now(gap.id)
    assert gap.fill_state == "filled", gap.last_error
    assert gap.fill_attempts == 2  # the killed worker's attempt counts
    assert _part_files(anr_app, "cam1") == []
    runs = anr_db.session.execute(select(FillRun).order_by(FillRun.id)).scalars().all()
    # The killed worker's run is closed when its lease is reclaimed, not left running.
    assert [(r.outcome, r.ended_at is not None) for r in runs] == [("lost", True), ("filled", True)]


def _ffmpeg_children(pid: int) -> list[int]:
    """The ffmpeg processes whose parent is ``pid``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            comm = stat.read_text().split("(", 1)[1].rsplit(")", 1)[0]
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid and comm.startswith("ffmpeg"):
            found.append(int(stat.parent.name))
    return found


def _running(pid: int) -> bool:
    """Alive and not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _lease_over(gap_id):
    lease_until = gap_now(gap_id).lease_until

    def lease_over():
        return time.time() > lease_until.timestamp() + 0.2

    return lease_over


@pytest.mark.rtsp
@pytest.mark.slow
def test_kill_9_of_the_worker_leaves_no_ffmpeg_and_the_reclaim_removes_the_part(
    anr_app, anr_db, rtsp_camera, worker_process
):
    cam = rtsp_camera()
    camera = rtsp_camera_row(cam, "hikvision")
    gap = factories.make_gap("cam1", recent(), seconds=20)
    proc = worker_process()
    wait_for(_filling_with_part(anr_app, gap.id), timeout=20)
    children = _ffmpeg_children(proc.pid)
    assert children, "the fill's ffmpeg should be running"

    proc.kill()
    proc.communicate(timeout=10)

    # The parent-death signal ends ffmpeg with its worker: nothing is left copying.
    wait_for(lambda: not any(_running(pid) for pid in children), timeout=5)
    assert _part_files(anr_app, "cam1"), "the dead fill's .part is still on disk"
    camera = anr_db.session.get(Camera, camera.id)
    camera.anr_enabled = False  # so the sweep below takes the gap back without refetching it
    anr_db.session.commit()
    wait_for(_lease_over(gap.id), timeout=10)

    with anr_app.app_context():
        Worker(anr_app).sweep_and_claim()

    gap = gap_now(gap.id)
    assert gap.fill_state == "pending" and gap.last_error.startswith("the worker running")
    assert _part_files(anr_app, "cam1") == []


@pytest.mark.rtsp
@pytest.mark.slow
def test_a_crash_between_chunks_resumes_without_fetching_a_chunk_again(
    anr_app, anr_db, rtsp_camera, worker_process
):
    cam = rtsp_camera()
    rtsp_camera_row(cam, "hikvision")
    start = recent()
    gap = factories.make_gap("cam1", start, seconds=10)
    first = archive_path(anr_app, "cam1", start)
    proc = worker_process(ANR_CHUNK_SECONDS="4")
    wait_for(first.exists, timeout=20)  # the first chunk is archived, the second under way

    proc.kill()
    proc.communicate(timeout=10)
    wait_for(_lease_over(gap.id), timeout=10)
    anr_app.config["ANR_CHUNK_SECONDS"] = 4
    run_worker(anr_app)

    gap = gap_now(gap.id)
    assert gap.fill_state == "filled", gap.last_error
    assert abs(gap.recovered_seconds - 10) <= 1.0
    folder = first.parent
    assert sorted(p.name for p in folder.iterdir()) == [
        archive_path(anr_app, "cam1", start + timedelta(seconds=s)).name for s in (0, 4, 8)
    ]
    first_chunk = start.strftime("%Y-%m-%dT%H:%M:%S")
    assert [r["start"] for r in cam.requests()].count(first_chunk) == 1
