"""The fill queue: expiry, claims with leases, lease renewal and lost-lease recovery.

Every state change goes through ``webapp.gapstate``. Claims lock rows with ``FOR UPDATE SKIP
LOCKED`` (ignored by SQLite, where one worker is the supported shape) and lock each camera row
while claiming for it, so ``ANR_PER_CAMERA`` holds across workers on PostgreSQL.
"""

import logging
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from sqlalchemy import and_
from sqlalchemy import func
from sqlalchemy import not_
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import aliased

from ..domain import gapstate
from ..domain.fill_schedule import Window
from ..domain.fill_schedule import effective_window
from ..domain.fill_schedule import in_fill_window
from ..domain.fill_schedule import parse_fill_window
from ..extensions import db
from ..extensions import rows_matched
from ..models import Camera
from ..models import FillRun
from ..models import RecordingGap
from ..models import utcnow

log = logging.getLogger(__name__)

SWEEP_BATCH = 500
CANDIDATES_PER_SLOT = 8
# Claim order (docs/fleet-operations.md): an operator's request (Retry, a chosen window, Retry
# selected) goes before automatic work, oldest request first; automatic gaps follow by the time
# the card overwrites them, soonest first. ``queue_at`` holds either time, so each part of the
# queue is one ascending scan of ix_recording_gaps_claim.
PHASE_ORDER = (RecordingGap.queue_at, RecordingGap.id)
LOST_LEASE_ERROR = "the worker running this fill stopped answering (lease expired)"


def expire_old(max_gap_hours: float, now: datetime | None = None) -> list[RecordingGap]:
    """Expire pending gaps older than their camera's edge retention, unless manually requested.

    Retention is the fallback for cameras that cannot say what their card holds: a camera whose
    card answered (``card_holds_from`` known) is asked again before every fetch instead, so a card
    that keeps footage longer than the setting loses nothing to it.
    """
    now = now or utcnow()
    overrides = db.session.execute(
        select(Camera.anr_max_gap_hours).where(Camera.anr_max_gap_hours.is_not(None)).distinct()
    ).scalars()
    rules = [(hours, Camera.anr_max_gap_hours == hours) for hours in overrides if hours is not None]
    rules.append((max_gap_hours, Camera.anr_max_gap_hours.is_(None)))
    expired = []
    for hours, camera_rule in rules:
        cameras = select(Camera.id).where(camera_rule, Camera.card_holds_from.is_(None))
        gaps = (
            db.session.execute(
                gapstate.skip_locked(
                    select(RecordingGap)
                    .where(
                        RecordingGap.fill_state == "pending",
                        not_(RecordingGap.manual_retry),
                        RecordingGap.gap_start < now - timedelta(hours=hours),
                        RecordingGap.camera_id.in_(cameras),
                    )
                    .limit(SWEEP_BATCH)
                )
            )
            .scalars()
            .all()
        )
        for gap in gaps:
            if gapstate.change_state_if_current(
                gap,
                "expired",
                last_error=f"older than the camera's {hours:g} h edge retention",
            ):
                expired.append(gap)
    return expired


def reclaim_lost_leases(max_attempts: int, now: datetime | None = None) -> list[RecordingGap]:
    """Gaps whose worker died: back to pending (the attempt was counted at claim) or failed."""
    now = now or utcnow()
    gaps = (
        db.session.execute(
            gapstate.skip_locked(
                select(RecordingGap)
                .where(RecordingGap.fill_state == "filling", RecordingGap.lease_until < now)
                .limit(SWEEP_BATCH)
            )
        )
        .scalars()
        .all()
    )
    moved = []
    for gap in gaps:
        fields = {}
        if gap.stop_requested_by:  # an operator's Stop outlives the worker that lost the gap
            state, error = "failed", f"stopped by {gap.stop_requested_by}"
            fields["stopped_by"] = gap.stop_requested_by
        else:
            state = "failed" if gap.fill_attempts >= max_attempts else "pending"
            error = LOST_LEASE_ERROR
        log.warning("gap %s: lease of %s expired; now %s", gap.id, gap.claimed_by, state)
        dead_worker = gap.claimed_by
        if gapstate.change_state_if_current(gap, state, last_error=error, **fields):
            moved.append(gap)
            close_lost_runs(gap.id, dead_worker, now)
    return moved


def close_lost_runs(gap_id: str, worker_id: str | None, now: datetime) -> None:
    """The dead worker's open FillRun of the gap ends as ``lost`` (else it stays running)."""
    db.session.execute(
        update(FillRun)
        .where(
            FillRun.gap_id == gap_id,
            FillRun.worker_id == (worker_id or ""),
            FillRun.outcome.is_(None),
        )
        .values(outcome="lost", ended_at=now, error=LOST_LEASE_ERROR)
        .execution_options(synchronize_session=False)
    )


def _busy_cameras() -> dict[str, int]:
    rows = db.session.execute(
        select(RecordingGap.camera_id, func.count())
        .where(RecordingGap.fill_state == "filling")
        .group_by(RecordingGap.camera_id)
    )
    return {camera_id: n for camera_id, n in rows}


@dataclass(frozen=True)
class QueueKey:
    """Where a gap stands in the claim order: (manual request?, queue_at, id)."""

    manual: bool
    queue_at: datetime
    id: str


def _phases(
    window: Window | None, now: datetime, *, schedules: bool = True
) -> list[tuple[bool, object]]:
    """The two parts of the queue and the WHERE clause of a claimable gap in each.

    Manual requests run on any enabled camera, whatever its automatic ANR setting, and start at
    once; automatic gaps need ANR on and the camera's fill window open: its own ``fill_window``,
    else ``window`` (``ANR_FILL_WINDOW``), webapp/domain/fill_schedule.py. ``schedules`` False
    leaves fill windows out (the queue page lists what waits, open or not).
    """
    pending = RecordingGap.fill_state == "pending"
    # A correlated check per gap (a primary-key probe), so walking the claim index in order stops
    # after ``limit`` rows instead of first listing every eligible camera of a large fleet.
    own = aliased(Camera)  # callers may join cameras themselves (the queue page does)
    cam = (
        select(own.id).where(own.id == RecordingGap.camera_id, own.enabled).correlate(RecordingGap)
    )
    enabled = cam.exists()
    anr_on = cam.where(own.anr_enabled).exists()
    manual = and_(pending, RecordingGap.manual_retry, enabled)
    automatic = and_(pending, not_(RecordingGap.manual_retry), anr_on)
    eligible = select(Camera.id, Camera.timezone, Camera.fill_window).where(
        Camera.enabled, Camera.anr_enabled
    )
    if schedules and window is None:
        # No fleet window: only cameras with their own window can be closed (usually few).
        scheduled = db.session.execute(eligible.where(Camera.fill_window.is_not(None))).all()
        closed = [
            c.id
            for c in scheduled
            if not in_fill_window(effective_window(c.fill_window, None), c.timezone, now)
        ]
        if closed:
            automatic = and_(automatic, RecordingGap.camera_id.not_in(closed))
    elif schedules:
        cameras = db.session.execute(eligible).all()
        open_now = [
            c.id
            for c in cameras
            if in_fill_window(effective_window(c.fill_window, window), c.timezone, now)
        ]
        automatic = and_(automatic, RecordingGap.camera_id.in_(open_now))
    return [(True, manual), (False, automatic)]


def queued(
    query,
    limit: int,
    *,
    after: QueueKey | None = None,
    fill_window: str | None = None,
    now: datetime | None = None,
    lock: bool = False,
) -> list:
    """Rows of ``query`` (a select over recording_gaps) for claimable gaps, in claim order.

    ``after`` continues from a row's QueueKey (keyset paging); ``lock`` row-locks for a claim.
    ``fill_window`` is ``ANR_FILL_WINDOW`` ("" none): automatic gaps of cameras whose window is
    closed are left out; None lists them all (the queue page).
    """
    now = now or utcnow()
    rows: list = []
    phases = _phases(parse_fill_window(fill_window), now, schedules=fill_window is not None)
    for manual, clause in phases:
        if len(rows) >= limit:
            break
        if after is not None and after.manual and not manual:
            after = None  # the manual part is done: the automatic part starts from its top
        if after is not None and not after.manual and manual:
            continue
        part = query.where(clause)
        if after is not None:
            part = part.where(
                or_(
                    RecordingGap.queue_at > after.queue_at,
                    and_(RecordingGap.queue_at == after.queue_at, RecordingGap.id > after.id),
                )
            )
        part = part.order_by(*PHASE_ORDER).limit(limit - len(rows))
        if lock:
            part = gapstate.skip_locked(part)
        rows += db.session.execute(part).all()
    return rows


def claim(
    worker_id: str,
    slots: int,
    *,
    per_camera: int,
    lease_seconds: float,
    fill_window: str = "",
    now: datetime | None = None,
) -> list[RecordingGap]:
    """Claim up to ``slots`` pending gaps in claim order, ``per_camera`` at most per camera.

    The caller commits (that releases the row locks).
    """
    if slots <= 0:
        return []
    now = now or utcnow()
    full = [cam for cam, n in _busy_cameras().items() if n >= per_camera]
    candidates = queued(
        select(RecordingGap.camera_id).where(RecordingGap.camera_id.not_in(full)),
        slots * CANDIDATES_PER_SLOT,
        fill_window=fill_window,
        now=now,
    )
    claimed: list[RecordingGap] = []
    for camera_id in dict.fromkeys(row.camera_id for row in candidates):  # distinct, in order
        if len(claimed) >= slots:
            break
        # Holding the camera row serialises claims for one camera across workers, so the count
        # below stays true until this transaction commits; a camera another worker holds is skipped.
        held = db.session.execute(
            select(Camera.id).where(Camera.id == camera_id).with_for_update(skip_locked=True)
        ).scalar_one_or_none()
        if held is None:
            continue
        running = db.session.execute(
            select(func.count()).where(
                RecordingGap.camera_id == camera_id, RecordingGap.fill_state == "filling"
            )
        ).scalar_one()
        room = min(per_camera - running, slots - len(claimed))
        if room <= 0:
            continue
        gaps = [
            row[0]
            for row in queued(
                select(RecordingGap).where(RecordingGap.camera_id == camera_id),
                room,
                fill_window=fill_window,
                now=now,
                lock=True,
            )
        ]
        for gap in gaps:
            if gapstate.change_state_if_current(
                gap,
                "filling",
                claimed_by=worker_id,
                lease_until=now + timedelta(seconds=lease_seconds),
                progress=0.0,
                fill_attempts=gap.fill_attempts + 1,
                last_attempt_at=now,
            ):
                claimed.append(gap)
    return claimed


def renew(
    gap_id: str, worker_id: str, lease_seconds: float, progress: float | None
) -> tuple[bool, str | None]:
    """Extend our lease and record progress. Returns (still ours, who asked to stop it)."""
    values: dict[str, datetime | float] = {
        "lease_until": utcnow() + timedelta(seconds=lease_seconds)
    }
    if progress is not None:
        values["progress"] = round(min(max(progress, 0.0), 1.0), 4)
    result = db.session.execute(
        update(RecordingGap)
        .where(
            RecordingGap.id == gap_id,
            RecordingGap.claimed_by == worker_id,
            RecordingGap.fill_state == "filling",
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if rows_matched(result) == 0:
        return False, None
    stop_by = db.session.execute(
        select(RecordingGap.stop_requested_by).where(RecordingGap.id == gap_id)
    ).scalar_one_or_none()
    return True, stop_by


def held_gap(gap_id: str, worker_id: str) -> RecordingGap | None:
    """The gap, locked, if this worker still holds it; None when the claim was lost."""
    gap = db.session.execute(
        select(RecordingGap).where(RecordingGap.id == gap_id).with_for_update()
    ).scalar_one_or_none()
    if gap is None or gap.fill_state != "filling" or gap.claimed_by != worker_id:
        return None
    return gap


def give_back(gap: RecordingGap) -> None:
    """Return a claim without counting the attempt (the worker is shutting down)."""
    gapstate.change_state(gap, "pending", fill_attempts=max(gap.fill_attempts - 1, 0))
