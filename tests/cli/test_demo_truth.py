"""The demo stays true (SPEC §19): its recorder keeps cameras Recording; reset starts over."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import PASSWORD
from tests.factories import make_user
from webapp.anr import indexer
from webapp.cli import demo
from webapp.extensions import db as _db
from webapp.models import Camera
from webapp.models import RecordingGap


def _fleet(app):
    client = app.test_client()
    with app.app_context():
        make_user("watcher", "viewer", None, PASSWORD)
    client.post("/login", data={"username": "watcher", "password": PASSWORD})
    return {c["id"]: c for c in client.get("/api/v1/cameras").json}


def test_demo_recorder_keeps_cameras_recording_without_phantom_gaps(make_app):
    """Seed, record, index for a few cycles: every enabled demo camera is Recording, no new gaps."""
    app = make_app(ANR_STALE_MINUTES="1.2", ANR_MIN_GAP_SECONDS=3.0)
    with app.app_context():
        demo.seed("http://127.0.0.1:8001")
        seeded = _db.session.scalar(_db.select(_db.func.count()).select_from(RecordingGap))
        # The seeded footage alone ends 90 s+ ago: past this stale limit without the recorder.
        root = app.config["ANR_RECORDINGS_DIR"]
        newest: dict = {}
        written = 0
        for _ in range(3):  # a few recorder and indexer cycles, bounded
            written += demo.record_once(Path(root), newest)
            # Index as the indexer would once each file's writing grace has passed.
            indexer.index_all(now=time.time() + 120)
        assert written >= 6  # at least one live segment for each enabled demo camera
        gaps = _db.session.scalar(_db.select(_db.func.count()).select_from(RecordingGap))
        assert gaps == seeded  # the live footage joins the seeded footage: no phantom gap
        enabled = {c.id for c in _db.session.scalars(_db.select(Camera).where(Camera.enabled))}
    fleet = _fleet(app)
    assert {cam: fleet[cam]["recording_status"] for cam in enabled} == dict.fromkeys(enabled, "ok")


def test_demo_reset_starts_the_demo_over(runner, app):
    assert runner.invoke(args=["demo", "seed"]).exit_code == 0
    with app.app_context():
        first = {g.id for g in _db.session.scalars(_db.select(RecordingGap))}
    reset = runner.invoke(args=["demo", "reset"])
    assert reset.exit_code == 0, reset.output
    assert "admin" in reset.output
    with app.app_context():
        again = {g.id for g in _db.session.scalars(_db.select(RecordingGap))}
        assert again and not again & first
        assert _db.session.scalar(_db.select(_db.func.count()).select_from(Camera)) == 6


def test_seeded_attempts_have_their_fill_runs(app):
    """History never says "No fill attempt yet" beside "3 tries": one FillRun per attempt."""
    from webapp.models import FillRun

    with app.app_context():
        demo.seed("http://127.0.0.1:8001")
        gaps = list(_db.session.scalars(_db.select(RecordingGap)))
        assert any(g.fill_attempts >= 3 for g in gaps)
        for gap in gaps:
            runs = list(_db.session.scalars(_db.select(FillRun).filter_by(gap_id=gap.id)))
            assert len(runs) == gap.fill_attempts, (gap.fill_state, gap.fill_attempts)
            if not runs:
                continue
            last = max(runs, key=lambda r: r.started_at)
            if gap.fill_state == "filling":
                assert last.outcome is None and last.worker_id == gap.claimed_by
            else:
                assert last.outcome == gap.fill_state
                assert last.error == gap.last_error


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_make_run_keeps_a_healthy_fleet_over_several_stale_limits(tmp_path):
    """``make run``'s own processes, with a short stale limit: the fleet stays healthy.

    The demo recorder, indexer, worker, simulated camera and web app run as ``make run`` starts
    them; once the live footage is indexed, for a whole stale limit every camera keeps
    Recording, only the two seeded problem cameras need attention, and the indexer adds no gap.
    """
    port, simcam = _free_port(), _free_port()
    env = {
        **os.environ,
        "REPLENISH_INSTANCE": str(tmp_path / "instance"),
        "PORT": str(port),
        "SIMCAM_URL": f"http://127.0.0.1:{simcam}",
        "ANR_STALE_MINUTES": "2.5",  # the recorder's 60 s files + the indexer's writing grace
    }
    env.pop("DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "webapp.cli.runall"], env=env, cwd=Path(__file__).parents[2],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        session = requests.Session()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:  # bounded: the app answers once migrated and seeded
            try:
                if session.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(1)
        logins = (tmp_path / "instance" / "demo-logins.txt").read_text()
        password = re.search(r"viewer\s+(\S+)", logins).group(1)
        page = session.get(base + "/login", timeout=5).text
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
        form = {"username": "viewer", "password": password}
        if token:
            form["csrf_token"] = token.group(1)
        assert session.post(base + "/login", data=form, timeout=10).status_code == 200

        def look() -> tuple[int, dict, set]:
            cameras = session.get(base + "/api/v1/cameras", timeout=10).json()
            gaps = sum(sum(c["counts"].values()) for c in cameras)
            status = {c["id"]: c["recording_status"] for c in cameras}
            return gaps, status, {c["id"] for c in cameras if c["needs_attention"]}

        # Seeding and starting six processes on a busy machine can outlast the seeded footage's
        # freshness: wait (bounded) until the recorder's live footage is indexed everywhere.
        settle = time.monotonic() + 180
        while set(look()[1].values()) != {"ok"} and time.monotonic() < settle:
            time.sleep(5)
        seen = []
        for _ in range(7):  # 7 looks 25 s apart: 150 s, a whole stale limit, cycles of every part
            gaps, status, attention = look()
            seen.append((gaps, status, attention))
            assert set(status.values()) == {"ok"}, seen
            assert attention == {demo.TROUBLED_CAMERA, demo.DOWNLOAD_CAMERA[0]}, seen
            time.sleep(25)
        assert len({g for g, _, _ in seen}) == 1, seen  # no phantom gap, none lost
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            output, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
    assert proc.returncode == 0, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
