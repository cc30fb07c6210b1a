"""The one FillRun writer (webapp.domain.fill_runs): open, close with a masked error, lost runs."""

from datetime import timedelta

from sqlalchemy import select

from tests.factories import BASE_TIME
from tests.factories import make_camera
from tests.factories import make_gap
from webapp.domain import fill_runs
from webapp.masking import CAMERA_TEXT_CHARS
from webapp.models import FillRun


def test_open_run_serves_who_asked_and_close_run_masks_the_error(db):
    make_camera("cam1")
    gap = make_gap("cam1", state="failed", manual_retry=True, requested_by="mona")
    run = fill_runs.open_run(gap, "w1", started_at=BASE_TIME)
    db.session.commit()
    assert (run.gap_id, run.camera_id, run.worker_id) == (gap.id, "cam1", "w1")
    assert run.method == "replay" and run.requested_by == "mona" and run.outcome is None

    error = "connect to rtsp://admin:hunter22@10.0.0.9/stream failed " + "x" * 2000
    fill_runs.close_run(
        run,
        "failed",
        0.0,
        error,
        ended_at=BASE_TIME + timedelta(seconds=12),
        method="download",
        bytes_written=0,
        source="rtsp://***@10.0.0.9/stream",
    )
    db.session.commit()
    stored = db.session.get(FillRun, run.id)
    assert stored.outcome == "failed" and stored.duration_s == 12.0
    assert "hunter22" not in stored.error and "***" in stored.error
    assert len(stored.error) <= CAMERA_TEXT_CHARS
    assert stored.method == "download" and stored.bytes_written == 0
    assert stored.source == "rtsp://***@10.0.0.9/stream"


def test_automatic_run_has_no_requester_and_no_error_is_none(db):
    make_camera("cam1")
    gap = make_gap("cam1")
    run = fill_runs.open_run(gap, "w1")
    fill_runs.close_run(run, "filled", 60.0, duration_s=3.5)
    db.session.commit()
    assert run.requested_by is None and run.error is None
    assert (run.recovered_seconds, run.duration_s) == (60.0, 3.5)


def test_close_lost_runs_ends_only_the_dead_workers_open_runs(db):
    make_camera("cam1")
    gap = make_gap("cam1")
    open_dead = fill_runs.open_run(gap, "dead")
    other = fill_runs.open_run(gap, "alive")
    done = fill_runs.close_run(fill_runs.open_run(gap, "dead"), "failed", 0.0, "timeout")
    db.session.commit()
    fill_runs.close_lost_runs(gap.id, "dead", BASE_TIME, "rtsp://u:secret99@cam lost")
    db.session.commit()
    db.session.expire_all()
    rows = {r.id: r for r in db.session.execute(select(FillRun)).scalars()}
    assert rows[open_dead.id].outcome == "lost" and rows[open_dead.id].ended_at == BASE_TIME
    assert "secret99" not in rows[open_dead.id].error
    assert rows[other.id].outcome is None
    assert rows[done.id].outcome == "failed" and rows[done.id].error == "timeout"
