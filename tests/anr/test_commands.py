"""The engine's commands, the simulated camera's controls, the indexer's cheap rescans, limits."""

import json
import os
import time
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests import factories
from tests.anr.conftest import CAMERA_PASSWORD
from tests.anr.conftest import CAMERA_USER
from tests.anr.conftest import archive_path
from tests.anr.conftest import gap_now
from tests.anr.conftest import recent
from tests.anr.conftest import run_worker
from tests.anr.conftest import sim_camera
from webapp.anr import indexer
from webapp.devtools.footage import render_footage
from webapp.models import RecordingGap
from webapp.models import WorkerHeartbeat


def _old_file(app, camera_id, start, seconds):
    path = archive_path(app, camera_id, start)
    path.parent.mkdir(parents=True, exist_ok=True)
    render_footage(start, seconds, path)
    os.utime(path, (time.time() - 3600,) * 2)
    return path


def test_index_and_worker_commands_run_once(anr_app, anr_db, simcam):
    sim_camera(simcam)
    start = recent()
    _old_file(anr_app, "cam1", start, 4)
    _old_file(anr_app, "cam1", start + timedelta(seconds=12), 4)
    runner = anr_app.test_cli_runner()

    indexed = runner.invoke(args=["anr", "index", "--once"])
    assert indexed.exit_code == 0, indexed.output
    assert "cam1: +2 ~0 -0 segments, 1 new gaps" in indexed.output

    worked = runner.invoke(args=["anr", "worker", "--once"])
    assert worked.exit_code == 0, worked.output
    gap = anr_db.session.execute(select(RecordingGap)).scalar_one()
    assert gap_now(gap.id).fill_state == "filled"
    beat = anr_db.session.execute(select(WorkerHeartbeat)).scalar_one()
    # A clean stop says so: the queue page shows "stopped", not "not answering".
    assert beat.running == 0 and beat.stopped_at is not None


def test_rescan_of_an_unchanged_folder_only_stats(anr_app, anr_db, simcam, monkeypatch):
    sim_camera(simcam)
    start = recent()
    for n in range(3):
        _old_file(anr_app, "cam1", start + timedelta(seconds=n * 5), 4)
    assert indexer.index_all()[0].added == 3
    probes = []
    monkeypatch.setattr(indexer, "probe_duration", lambda *a, **k: probes.append(a) or 4.0)

    report = indexer.index_all()[0]

    assert probes == [] and not report.changed
    archive_path(anr_app, "cam1", start).unlink()
    assert indexer.index_all()[0].removed == 1


def test_hard_time_limit_ends_a_slow_replay(make_app, simcam):
    app = make_app(ANR_MAX_FILL_SECONDS=2, ANR_IO_TIMEOUT_S=5.0)
    with app.app_context():
        sim_camera(simcam)
        simcam.set("cam1", "ok", speed=1.0)  # 12 s of footage takes 12 s to arrive
        gap = factories.make_gap("cam1", recent(), seconds=12)

        began = time.monotonic()
        run_worker(app)

        gap = gap_now(gap.id)
        assert time.monotonic() - began < 9
        assert "exceeded its 2 s time limit" in gap.last_error
        assert gap.fill_state == "partial", gap.last_error  # ffmpeg closed the MP4 on SIGTERM
        assert 0 < gap.recovered_seconds < 6
        folder = archive_path(app, "cam1", gap.gap_start).parent
        assert not list(folder.glob("*.part"))


def _opener(simcam, password=CAMERA_PASSWORD):
    """A client that answers the simulated camera's Digest challenge with these credentials."""
    passwords = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    passwords.add_password(None, simcam.url, CAMERA_USER, password)
    return urllib.request.build_opener(urllib.request.HTTPDigestAuthHandler(passwords))


def _get(url, opener=None):
    try:
        with (opener or urllib.request.build_opener()).open(url, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _control(simcam, camera_id, body, opener=None):
    request = urllib.request.Request(
        f"{simcam.url}/control/{camera_id}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with (opener or urllib.request.build_opener()).open(request, timeout=10) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as exc:
        return exc.code, None


def test_simcam_serves_windows_and_obeys_its_control_endpoint(simcam):
    window = "start=2026-06-13T12:00:00Z&end=2026-06-13T12:00:05Z"
    camera = _opener(simcam)
    status, body = _get(f"{simcam.url}/replay/x?{window}", camera)
    assert status == 200 and body[4:8] == b"ftyp"
    status, answer = _control(simcam, "x", {"mode": "fail", "status": 404}, camera)
    assert status == 200 and answer["mode"] == "fail"
    assert _get(f"{simcam.url}/replay/x?{window}", camera)[0] == 404
    assert _get(f"{simcam.url}/replay/other?{window}", camera)[0] == 200
    assert _get(f"{simcam.url}/replay/x?start=nonsense&end=2026", camera)[0] == 400


def test_simcam_replay_and_control_take_the_same_digest_credentials_as_isapi(simcam):
    """§18: without the camera's password nothing is served and no order is taken."""
    window = "start=2026-06-13T12:00:00Z&end=2026-06-13T12:00:05Z"
    for opener in (None, _opener(simcam, password="wrong")):
        status, _ = _get(f"{simcam.url}/replay/x?{window}", opener)
        assert status == 401
        assert _control(simcam, "x", {"mode": "fail"}, opener)[0] == 401
        assert _control(simcam, "card/1", {"refuse": 404}, opener)[0] == 401
        status, _ = _get(f"{simcam.url}/ISAPI/ContentMgmt/download", opener)
        assert status == 401
    assert simcam.behaviour("x").mode == "ok"  # the refused orders changed nothing
    assert _control(simcam, "x", {"mode": "short"}, _opener(simcam))[0] == 200
    assert simcam.behaviour("x").mode == "short"


def test_simcam_refuses_unknown_modes(simcam):
    with pytest.raises(ValueError):
        simcam.set("x", "explode")
