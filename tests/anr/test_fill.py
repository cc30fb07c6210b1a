"""Fills against the simulated camera with real ffmpeg: filled, partial, stalled, refused."""

import os
import time
from datetime import timedelta

from sqlalchemy import select

from tests import factories
from tests.anr.conftest import CAMERA_PASSWORD
from tests.anr.conftest import archive_path
from tests.anr.conftest import gap_now
from tests.anr.conftest import playable_seconds
from tests.anr.conftest import recent
from tests.anr.conftest import run_worker
from tests.anr.conftest import sim_camera
from webapp.anr.fill import FillJob
from webapp.anr.indexer import index_all
from webapp.anr.replay import camera_replay_url
from webapp.devtools.footage import render_footage
from webapp.models import FillRun
from webapp.models import RecordingGap
from webapp.models import Segment


def _archive_with_hole(app, camera_id, start, before_s, hole_s, after_s):
    """Two archive files with a hole between them, old enough not to count as being written."""
    folder = archive_path(app, camera_id, start).parent
    folder.mkdir(parents=True, exist_ok=True)
    second = start + timedelta(seconds=before_s + hole_s)
    for begin, seconds in ((start, before_s), (second, after_s)):
        path = archive_path(app, camera_id, begin)
        render_footage(begin, seconds, path)
        old = time.time() - 3600
        os.utime(path, (old, old))
    return start + timedelta(seconds=before_s), second


def test_full_loop_indexer_finds_hole_and_worker_fills_it(anr_app, anr_db, simcam):
    sim_camera(simcam)
    hole_start, hole_end = _archive_with_hole(anr_app, "cam1", recent(), 8, 15, 8)

    reports = index_all()
    assert reports[0].added == 2 and reports[0].gaps_created == 1
    gap = anr_db.session.execute(select(RecordingGap)).scalar_one()
    assert (gap.gap_start, gap.gap_end, gap.fill_state) == (hole_start, hole_end, "pending")
    assert index_all()[0].gaps_created == 0  # a rescan of the same folder changes nothing

    run_worker(anr_app)

    gap = gap_now(gap.id)
    assert gap.fill_state == "filled", gap.last_error
    assert gap.filled_at is not None and gap.fill_attempts == 1
    path = archive_path(anr_app, "cam1", hole_start)
    played = playable_seconds(path)
    assert played is not None and abs(played - 15) <= 15 * 0.05
    assert abs(gap.recovered_seconds - 15) <= 15 * 0.05
    assert not list(path.parent.glob("*.part"))
    run = anr_db.session.execute(select(FillRun)).scalar_one()
    assert run.outcome == "filled" and run.duration_s > 0
    # The new file is a segment at once, and the next index run finds no hole there any more.
    assert anr_db.session.execute(select(Segment).where(Segment.path == path.name)).scalar_one()
    report = index_all()[0]
    assert report.gaps_created == 0
    assert anr_db.session.execute(select(RecordingGap)).scalar_one().fill_state == "filled"


def test_indexer_marks_a_gap_filled_when_segments_cover_it(anr_app, anr_db, simcam):
    sim_camera(simcam)
    start = recent()
    gap = factories.make_gap("cam1", start + timedelta(seconds=2), seconds=5)
    _archive_with_hole(anr_app, "cam1", start, 6, 0, 6)

    report = index_all()[0]

    assert report.gaps_filled == 1 and report.gaps_created == 0
    assert gap_now(gap.id).fill_state == "filled"


def test_indexer_leaves_the_file_being_written_alone(anr_app, anr_db, simcam):
    sim_camera(simcam)
    start = recent()
    _archive_with_hole(anr_app, "cam1", start, 4, 10, 4)
    newest = archive_path(anr_app, "cam1", start + timedelta(seconds=30))
    render_footage(start + timedelta(seconds=30), 4, newest)  # mtime now: still being written

    report = index_all()[0]

    assert report.still_writing == newest.name and report.added == 2
    paths = anr_db.session.execute(select(Segment.path)).scalars().all()
    assert newest.name not in paths


def test_short_replay_ends_partial_with_recovered_seconds(anr_app, anr_db, simcam):
    sim_camera(simcam)
    simcam.set("cam1", "short", fraction=0.5)
    gap = factories.make_gap("cam1", recent(), seconds=12)

    run_worker(anr_app)

    gap = gap_now(gap.id)
    assert gap.fill_state == "partial", gap.last_error
    assert 5 <= gap.recovered_seconds <= 7
    assert "replay ended after" in gap.last_error
    path = archive_path(anr_app, "cam1", gap.gap_start)
    assert playable_seconds(path) is not None


def test_stalled_camera_is_ended_by_the_io_timeout_and_the_attempt_counts(anr_app, anr_db, simcam):
    sim_camera(simcam)
    simcam.set("cam1", "stall")
    gap = factories.make_gap("cam1", recent(), seconds=10)

    began = time.monotonic()
    run_worker(anr_app)
    elapsed = time.monotonic() - began

    gap = gap_now(gap.id)
    assert elapsed < 2.0 + 8  # the 2 s I/O timeout ended it, not the 70 s job limit
    assert gap.fill_state == "pending" and gap.fill_attempts == 1
    assert gap.last_error
    assert not list(archive_path(anr_app, "cam1", gap.gap_start).parent.glob("*"))


def test_refusing_camera_climbs_to_failed_at_max_attempts(anr_app, anr_db, simcam):
    sim_camera(simcam)
    simcam.set("cam1", "fail", status=503)
    gap = factories.make_gap("cam1", recent(), seconds=10)

    states = []
    for _ in range(3):
        run_worker(anr_app)
        current = gap_now(gap.id)
        states.append((current.fill_state, current.fill_attempts))

    assert states == [("pending", 1), ("pending", 2), ("failed", 3)]
    assert "Server returned 5XX" in current.last_error
    assert "http://***@127.0.0.1" in current.last_error
    assert len(simcam.requests) == 3
    run_worker(anr_app)  # a failed gap is not claimed again
    assert len(simcam.requests) == 3


def test_no_replay_url_fails_fast_with_a_clear_message(anr_app, anr_db, simcam):
    # A Hikvision camera without an address: the vendor default has no host to fill in.
    factories.make_camera(
        "hik", vendor="hikvision", anr_enabled=True, address="", anr_replay_url_template=None
    )
    gap = factories.make_gap("hik", recent(), seconds=30)

    began = time.monotonic()
    run_worker(anr_app)

    gap = gap_now(gap.id)
    assert time.monotonic() - began < 3
    assert gap.fill_attempts == 1 and gap.fill_state == "pending"
    assert gap.last_error.startswith("no replay URL can be built")
    assert "address" in gap.last_error


def test_existing_archive_file_is_never_overwritten(anr_app, anr_db, simcam):
    sim_camera(simcam)
    gap = factories.make_gap("cam1", recent(), seconds=8)
    path = archive_path(anr_app, "cam1", gap.gap_start)
    path.parent.mkdir(parents=True)
    render_footage(gap.gap_start, 8, path)
    before = path.read_bytes()

    run_worker(anr_app)

    assert gap_now(gap.id).fill_state == "filled"
    assert path.read_bytes() == before
    assert list(simcam.requests) == []


def test_retry_of_a_partial_fetches_only_the_rest(anr_app, anr_db, simcam):
    sim_camera(simcam)
    simcam.set("cam1", "short", fraction=0.5)
    gap = factories.make_gap("cam1", recent(), seconds=12)
    run_worker(anr_app)
    first = archive_path(anr_app, "cam1", gap.gap_start)
    before = first.read_bytes()
    from webapp.domain import gapstate

    gapstate.retry(gap_now(gap.id))
    anr_db.session.commit()
    simcam.set("cam1", "ok")

    run_worker(anr_app)

    gap = gap_now(gap.id)
    assert gap.fill_state == "filled", gap.last_error
    assert first.read_bytes() == before
    assert len(list(first.parent.glob("*.mp4"))) == 2


def _simcam_job(app, simcam, seconds, **kw):
    camera = sim_camera(simcam)
    start = recent()
    return FillJob(
        gap_id="g1",
        folder=archive_path(app, camera.id, start).parent,
        start=start,
        seconds=seconds,
        replay_url=lambda begin, end: camera_replay_url(camera, begin, end, CAMERA_PASSWORD),
        **kw,
    )


def _run_to_end(job, stop_after: float | None = None, note: str = ""):
    assert job.start() is None
    began = time.monotonic()
    while job.running():
        if stop_after is not None and time.monotonic() - began > stop_after:
            job.end(note)
            stop_after = None
        time.sleep(0.1)
    return job.result()


def test_the_hard_time_limit_keeps_what_was_copied(anr_app, anr_db, simcam):
    # A replay at real time that outlives its limit: ffmpeg is ended, its fragments survive.
    job = _simcam_job(anr_app, simcam, 20, max_fill_seconds=5, io_timeout_s=2.0)
    simcam.set("cam1", "ok", speed=1.0)

    result = _run_to_end(job)

    assert result.outcome == "partial", result.error
    assert 2 <= result.recovered_seconds <= 6
    assert "5 s time limit" in result.error
    assert abs(playable_seconds(result.path) - result.recovered_seconds) <= 1.0
    assert not list(result.path.parent.glob("*.part"))


def test_ending_a_fill_keeps_what_it_copied(anr_app, anr_db, simcam):
    """The fill layer's Stop: end now, keep the footage (the worker decides the gap's state)."""
    job = _simcam_job(anr_app, simcam, 20, io_timeout_s=2.0)
    simcam.set("cam1", "ok", speed=1.0)

    result = _run_to_end(job, stop_after=4, note="stopped by alice")

    assert result.outcome == "partial", result.error
    assert 2 <= result.recovered_seconds <= 6 and "stopped by alice" in result.error
    assert playable_seconds(result.path) is not None
