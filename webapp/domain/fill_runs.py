"""The one writer of ``FillRun`` rows: a fill attempt opens a run and ends it with its outcome.

Used by the worker (each claimed gap), the lease reclaim (a dead worker's runs end ``lost``)
and the demo seed, so a gap's History reads the same whoever wrote it. Nothing here commits:
the caller commits the run with the state change it belongs to.
"""

from datetime import datetime

from sqlalchemy import bindparam
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


def closing(
    outcome: str,
    recovered: float | None = 0.0,
    error: str | None = None,
    *,
    ended_at: datetime | None = None,
    duration_s: float | None = None,
    method: str | None = None,
    bytes_written: int | None = None,
    source: str | None = None,
) -> dict:
    """The columns that end a run with ``outcome``: footage recovered, the error masked and cut
    as camera text (design.md, "Hostile cameras"), how long it took, and what actually ran
    (``method``) from where (``source``); ``duration_s`` None leaves it to ``close_run``."""
    values = {
        "outcome": outcome,
        "recovered_seconds": recovered,
        "ended_at": ended_at or utcnow(),
        "duration_s": duration_s,
        "error": camera_text(error) if error else None,
        "bytes_written": bytes_written,
    }
    if method:  # how the footage came back: replay, download or onvif-replay
        values["method"] = method
    if source:
        values["source"] = source
    return values


def close_run(run: FillRun, outcome: str, recovered: float | None = 0.0,
              error: str | None = None, **how) -> FillRun:  # fmt: skip
    """End ``run`` as ``closing`` says; without ``duration_s``, from its start to now."""
    values = closing(outcome, recovered, error, **how)
    if values["duration_s"] is None and run.started_at is not None:
        values["duration_s"] = round((values["ended_at"] - run.started_at).total_seconds(), 3)
    for name, value in values.items():
        setattr(run, name, value)
    return run


_runs = FillRun.__table__
_CLOSE_BY_ID = update(_runs).where(_runs.c.id == bindparam("run_key"))  # built once


def close_run_id(run_id: int, outcome: str, recovered: float | None = 0.0,
                 error: str | None = None, **how) -> None:  # fmt: skip
    """``close_run`` by the run's id in one UPDATE, without loading the row (the worker ends a
    run per fill); a run deleted meanwhile (its camera was) is left alone."""
    values = closing(outcome, recovered, error, **how)
    db.session.execute(_CLOSE_BY_ID, {"run_key": run_id, **values})


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
