"""Bulk retry at any size: set-based batches, right statistics, one bounded audit row.

Retry-failed moves every failed, partial and expired gap of a camera back to the queue in batches
of ``BATCH``: a batch's ids come from the (camera, state) index, then ``UPDATE ... WHERE id IN
(...) AND fill_state = s RETURNING ...`` moves them (an id list rather than a subquery, so every
planner uses the primary key) and the statistics move by what the batch really changed. Up to
``BULK_RETRY_SYNC_LIMIT`` gaps this runs inside the request; more becomes a job (``webapp.jobs``)
and the request answers 202 at once. Either way ONE audit row records the count, the filter and
at most the first ``AUDIT_IDS`` ids.
"""

from dataclasses import dataclass
from dataclasses import field
from typing import Any

from flask import current_app
from flask_login import current_user
from sqlalchemy import Row
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update

from ..extensions import db
from ..models import CameraGapStat
from ..models import Job
from ..models import RecordingGap
from ..models import utcnow
from . import jobs
from .audit import record
from .gapstate import _bump
from .states import ATTENTION
from .states import OPERATOR
from .states import PENDING
from .states import RETRYABLE
from .states import may_move

BATCH = 5000
AUDIT_IDS = 1000
ID_CHUNK = 1000  # ids bound per statement: far below every database's parameter limit
JOB_KIND = "retry_failed"

# What an operator's retry resets (the seed state of a gap), written once for every batch.
RESET = dict(
    fill_state=PENDING,
    fill_attempts=0,
    last_attempt_at=None,
    filled_at=None,
    last_error=None,
    manual_retry=True,
    progress=None,
    claimed_by=None,
    lease_until=None,
    stop_requested_by=None,
    stopped_by=None,
)


def _request_values() -> dict:
    """Who asked and when: the claim order puts operators' requests first, oldest first."""
    return {
        "requested_by": (getattr(current_user, "actor_name", "") or "")[:200] or None,
        "queue_at": utcnow(),
    }


@dataclass
class Retried:
    """What a bulk retry did: how many gaps moved, the first ids, and a job when it runs later."""

    count: int = 0
    ids: list[str] = field(default_factory=list)
    job: Job | None = None
    skipped: int = 0

    def note(self, rows) -> None:
        self.count += len(rows)
        room = AUDIT_IDS - len(self.ids)
        if room > 0:
            self.ids.extend(r.id for r in rows[:room])


def _move(camera_id: str, state: str, ids: list[str]):
    """Move the camera's gaps among ``ids`` that are in ``state``; returns (id, seconds) rows.

    The state is checked again on each row by the UPDATE itself, so a gap another writer moved
    meanwhile is left alone and the statistics move by exactly what changed.
    """
    gaps = RecordingGap.__table__  # Core statements: no ORM bookkeeping for plain columns
    rows: list[Row[Any]] = []
    stopped = 0
    request = _request_values()
    for start in range(0, len(ids), ID_CHUNK):
        # Gaps an operator stopped leave the stopped count of their state (fleet attention).
        stopped += (
            db.session.connection()
            .execute(
                select(func.count()).where(
                    gaps.c.id.in_(ids[start : start + ID_CHUNK]),
                    gaps.c.camera_id == camera_id,
                    gaps.c.fill_state == state,
                    gaps.c.stopped_by.is_not(None),
                )
            )
            .scalar_one()
        )
        rows += (
            db.session.connection()
            .execute(
                update(gaps)
                .where(
                    gaps.c.id.in_(ids[start : start + ID_CHUNK]),
                    gaps.c.camera_id == camera_id,
                    gaps.c.fill_state == state,
                )
                .values(**RESET, **request)
                .returning(gaps.c.id, gaps.c.gap_seconds)
            )
            .all()
        )
    if rows and state != PENDING:
        seconds = sum(r.gap_seconds for r in rows)
        _bump(camera_id, (state, -len(rows), -seconds, -stopped), (PENDING, len(rows), seconds))
    return rows


def _batch_ids(camera_id: str, state: str, limit: int) -> list[str]:
    """The next ``limit`` gap ids of a camera in ``state``, through the (camera, state) index."""
    gaps = RecordingGap.__table__
    return list(
        db.session.connection()
        .execute(
            select(gaps.c.id)
            .where(gaps.c.camera_id == camera_id, gaps.c.fill_state == state)
            .limit(limit)
        )
        .scalars()
    )


def retry_batch(camera_id: str, result: Retried, limit: int = BATCH) -> int:
    """Retry up to ``limit`` failed, partial or expired gaps of a camera; returns how many."""
    moved = 0
    for state in ATTENTION:
        if moved >= limit:
            break
        rows = _move(camera_id, state, _batch_ids(camera_id, state, limit - moved))
        result.note(rows)
        moved += len(rows)
    return moved


def retryable_count(camera_id: str) -> int:
    """How many gaps retry-failed would move, from the per-camera statistics (no scan)."""
    return int(
        db.session.execute(
            select(func.coalesce(func.sum(CameraGapStat.gap_count), 0)).where(
                CameraGapStat.camera_id == camera_id,
                CameraGapStat.fill_state.in_(ATTENTION),
            )
        ).scalar_one()  # an aggregate: always one row, and coalesce makes it a number
    )


def _audit(action: str, camera, result: Retried, **extra) -> None:
    record(
        action,
        "camera",
        camera.id,
        camera_id=camera.id,
        detail={
            "camera_id": camera.id,
            "count": result.count,
            **extra,
            "gap_ids": result.ids,
            "gap_ids_shown": len(result.ids),
        },
    )


def retry_failed(camera) -> Retried:
    """Retry every failed/partial/expired gap of a camera, now or as a job; the caller commits.

    Returns the count and first ids, or (above ``BULK_RETRY_SYNC_LIMIT``) the queued job.
    """
    total = retryable_count(camera.id)
    filter_ = {"states": list(ATTENTION)}
    if total > current_app.config["BULK_RETRY_SYNC_LIMIT"]:
        job = jobs.running(JOB_KIND, camera.id) or jobs.create(JOB_KIND, camera.id, total)
        result = Retried(count=total, job=job)
        result.ids = list(
            db.session.execute(
                select(RecordingGap.id)
                .where(
                    RecordingGap.camera_id == camera.id,
                    RecordingGap.fill_state.in_(ATTENTION),
                )
                .limit(AUDIT_IDS)
            ).scalars()
        )
        _audit("anr_retry_failed", camera, result, filter=filter_, job_id=job.id)
        return result
    result = Retried()
    while retry_batch(camera.id, result):
        pass
    if result.count:
        _audit("anr_retry_failed", camera, result, filter=filter_)
    return result


def run_retry_failed(job: Job) -> None:
    """The job's work: batches until nothing is left, each committed with the job's progress."""
    camera_id = job.camera_id
    if camera_id is None:  # ``retry_failed`` creates these jobs for one camera, always
        raise ValueError(f"job {job.id}: a retry-failed job names no camera")
    while True:
        moved = retry_batch(camera_id, Retried())
        if not moved:
            return
        jobs.progress(job, moved)


def retry_selected(camera, ids: list[str]) -> Retried:
    """Retry the chosen gaps of a camera in batches; filled and filling ones are skipped.

    One audit row ``anr_retry_selected`` with the count and the first ids; the caller commits.
    """
    wanted = list(dict.fromkeys(str(i)[:64] for i in ids))
    result = Retried()
    for state in RETRYABLE:
        result.note(_move(camera.id, state, wanted))
    result.skipped = len(wanted) - result.count
    if result.count:
        _audit(
            "anr_retry_selected",
            camera,
            result,
            filter={"ids": len(wanted), "states": list(RETRYABLE)},
            skipped=result.skipped,
        )
    return result


jobs.register(JOB_KIND, run_retry_failed)
assert all(may_move(s, PENDING, OPERATOR) for s in RETRYABLE), "bulk retry bypasses the table"
