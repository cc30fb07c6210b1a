"""The fill queue: expiry, claims with leases, lease renewal and lost-lease recovery.

Every state change goes through ``webapp.gapstate``. Claims lock rows with ``FOR UPDATE SKIP
LOCKED`` (ignored by SQLite, where one worker is the supported shape) and lock each camera row
while claiming for it, so ``ANR_PER_CAMERA`` holds across workers on PostgreSQL.
"""

import logging
from datetime import datetime
from datetime import time
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_
from sqlalchemy import func
from sqlalchemy import not_
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update

from ..domain import gapstate
from ..extensions import db
from ..models import Camera
from ..models import RecordingGap
from ..models import utcnow

log = logging.getLogger(__name__)

SWEEP_BATCH = 500
CANDIDATES_PER_SLOT = 8
# An operator's request (Retry, a chosen window) goes before automatic work, then newest first.
QUEUE_ORDER = (RecordingGap.manual_retry.desc(), RecordingGap.gap_start.desc())
LOST_LEASE_ERROR = "the worker running this fill stopped answering (lease expired)"


def parse_fill_window(raw: str) -> tuple[time, time] | None:
    """``"22:00-06:00"`` as (start, end) local times; None for empty (always) or unreadable."""
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        first, second = (part.strip() for part in raw.split("-", 1))
        return time.fromisoformat(first), time.fromisoformat(second)
    except ValueError:
        log.error("ANR_FILL_WINDOW %r is not HH:MM-HH:MM; automatic fills are not limited", raw)
        return None


def in_fill_window(window: tuple[time, time] | None, timezone: str, now: datetime) -> bool:
    """Whether an automatic fill may start now on a camera in ``timezone``."""
    if window is None:
        return True
    start, end = window
    try:
        local = now.astimezone(ZoneInfo(timezone or "UTC")).time().replace(tzinfo=None)
    except (KeyError, ValueError):
        local = now.time().replace(tzinfo=None)
    if start <= end:
        return start <= local < end
    return local >= start or local < end  # the window spans midnight


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
    rules = [(hours, Camera.anr_max_gap_hours == hours) for hours in overrides]
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
        if gap.stop_requested_by:  # an operator's Stop outlives the worker that lost the gap
            state, error = "failed", f"stopped by {gap.stop_requested_by}"
        else:
            state = "failed" if gap.fill_attempts >= max_attempts else "pending"
            error = LOST_LEASE_ERROR
        log.warning("gap %s: lease of %s expired; now %s", gap.id, gap.claimed_by, state)
        if gapstate.change_state_if_current(gap, state, last_error=error):
            moved.append(gap)
    return moved


def _busy_cameras() -> dict[str, int]:
    rows = db.session.execute(
        select(RecordingGap.camera_id, func.count())
        .where(RecordingGap.fill_state == "filling")
        .group_by(RecordingGap.camera_id)
    )
    return {camera_id: n for camera_id, n in rows}


def _claimable(window: tuple[time, time] | None, now: datetime):
    """The WHERE clause of a claimable gap: pending, on an enabled ANR camera, in its window."""
    eligible = select(Camera.id).where(Camera.enabled, Camera.anr_enabled)
    clause = and_(RecordingGap.fill_state == "pending", RecordingGap.camera_id.in_(eligible))
    if window is not None:
        cameras = db.session.execute(eligible.add_columns(Camera.timezone)).all()
        open_now = [c.id for c in cameras if in_fill_window(window, c.timezone, now)]
        # Manual requests start at once; automatic ones wait for the camera's fill window.
        clause = and_(clause, or_(RecordingGap.manual_retry, RecordingGap.camera_id.in_(open_now)))
    return clause


def claim(
    worker_id: str,
    slots: int,
    *,
    per_camera: int,
    lease_seconds: float,
    fill_window: str = "",
    now: datetime | None = None,
) -> list[RecordingGap]:
    """Claim up to ``slots`` pending gaps, operator requests then newest first, ``per_camera`` max.

    The caller commits (that releases the row locks).
    """
    if slots <= 0:
        return []
    now = now or utcnow()
    claimable = _claimable(parse_fill_window(fill_window), now)
    full = [cam for cam, n in _busy_cameras().items() if n >= per_camera]
    candidates = db.session.execute(
        select(RecordingGap.camera_id)
        .where(claimable, RecordingGap.camera_id.not_in(full))
        .order_by(*QUEUE_ORDER)
        .limit(slots * CANDIDATES_PER_SLOT)
    ).scalars()
    claimed: list[RecordingGap] = []
    for camera_id in dict.fromkeys(candidates):  # distinct, in queue order
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
        gaps = (
            db.session.execute(
                gapstate.skip_locked(
                    select(RecordingGap)
                    .where(claimable, RecordingGap.camera_id == camera_id)
                    .order_by(*QUEUE_ORDER)
                    .limit(room)
                )
            )
            .scalars()
            .all()
        )
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
    values = {"lease_until": utcnow() + timedelta(seconds=lease_seconds)}
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
    if result.rowcount == 0:
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
