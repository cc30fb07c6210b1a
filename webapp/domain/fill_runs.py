"""The one writer of ``FillRun`` rows: a fill attempt opens a run and ends it with its outcome.

Used by the worker (each claimed gap), the lease reclaim (a dead worker's runs end ``lost``)
and the demo seed, so a gap's History reads the same whoever wrote it. Nothing here commits:
the caller commits the run with the state change it belongs to.
"""

from datetime import datetime

from sqlalchemy import update

from ..extensions import db
from ..masking import camera_text
from ..models import FillRun
from ..models import RecordingGap
from ..models import utcnow


def open_run(
    gap: RecordingGap,
    worker_id: str,
    method: str = "replay",
    started_at: datetime | None = None,
) -> FillRun:
    """A running attempt of ``gap`` by ``worker_id``; it serves the operator who asked, if any."""
    run = FillRun(
        gap_id=gap.id,
        camera_id=gap.camera_id,
        worker_id=worker_id,
        method=method,
        started_at=started_at or utcnow(),
        requested_by=gap.requested_by if gap.manual_retry else None,
    )
    db.session.add(run)
    return run


def close_run(
    run: FillRun,
    outcome: str,
    recovered: float | None = 0.0,
    error: str | None = None,
    *,
    ended_at: datetime | None = None,
    duration_s: float | None = None,
    method: str | None = None,
    bytes_written: int | None = None,
    source: str | None = None,
) -> FillRun:
    """End ``run`` with ``outcome``: footage recovered, the error masked and cut as camera text
    (design.md, "Hostile cameras"), how long it took, and what actually ran (``method``) from
    where (``source``)."""
    run.outcome = outcome
    run.recovered_seconds = recovered
    run.ended_at = ended_at or utcnow()
    if duration_s is None and run.started_at is not None:
        duration_s = round((run.ended_at - run.started_at).total_seconds(), 3)
    run.duration_s = duration_s
    run.error = camera_text(error) if error else None
    if method:  # how the footage came back: replay, download or onvif-replay
        run.method = method
    run.bytes_written = bytes_written
    if source:
        run.source = source
    return run


def close_lost_runs(gap_id: str, worker_id: str | None, now: datetime, error: str) -> None:
    """The open runs of ``gap_id`` by ``worker_id`` end as ``lost`` with ``error`` (one UPDATE:
    the lease reclaim runs for many gaps at once)."""
    db.session.execute(
        update(FillRun)
        .where(
            FillRun.gap_id == gap_id,
            FillRun.worker_id == (worker_id or ""),
            FillRun.outcome.is_(None),
        )
        .values(outcome="lost", ended_at=now, error=camera_text(error))
        .execution_options(synchronize_session=False)
    )
