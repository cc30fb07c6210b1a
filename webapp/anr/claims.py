"""The fill queue: expiry, claims with leases, lease renewal and lost-lease recovery.

Every state change goes through ``webapp.domain.gapstate``; the claim order is the domain's
(``webapp.domain.claim_order``). Claims lock rows with ``FOR UPDATE SKIP
LOCKED`` (ignored by SQLite, where one worker is the supported shape) and lock each camera row
while claiming for it, so ``ANR_PER_CAMERA`` holds across workers on PostgreSQL.
"""

import logging
from datetime import datetime
from datetime import timedelta

from sqlalchemy import bindparam
from sqlalchemy import func
from sqlalchemy import not_
from sqlalchemy import select
from sqlalchemy import update

from ..domain import fill_runs
from ..domain import gapstate
from ..domain.claim_order import PHASE_ORDER
from ..domain.claim_order import QueueKey
from ..domain.claim_order import claim_phases
from ..domain.claim_order import queued
from ..domain.fill_schedule import in_fill_window
from ..domain.fill_schedule import parse_fill_window
from ..domain.states import GapState
from ..extensions import db
from ..models import Camera
from ..models import RecordingGap
from ..models import utcnow

log = logging.getLogger(__name__)

# The claim order lives in the domain (webapp/domain/claim_order.py); these names stay here too
# for the engine's callers.
__all__ = ["PHASE_ORDER", "QueueKey", "in_fill_window", "parse_fill_window", "queued"]

SWEEP_BATCH = 500
CANDIDATES_PER_SLOT = 8
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
                        RecordingGap.fill_state == GapState.PENDING,
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
                GapState.EXPIRED,
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
                .where(RecordingGap.fill_state == GapState.FILLING, RecordingGap.lease_until < now)
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
            state, error = GapState.FAILED, f"stopped by {gap.stop_requested_by}"
            fields["stopped_by"] = gap.stop_requested_by
        else:
            state = GapState.FAILED if gap.fill_attempts >= max_attempts else GapState.PENDING
            error = LOST_LEASE_ERROR
        log.warning("gap %s: lease of %s expired; now %s", gap.id, gap.claimed_by, state)
        dead_worker = gap.claimed_by
        if gapstate.change_state_if_current(gap, state, last_error=error, **fields):
            moved.append(gap)
            fill_runs.close_lost_runs(gap.id, dead_worker, now, LOST_LEASE_ERROR)
    return moved


# The claim's own statements, built once: a worker claims after every fill, and building a
# statement costs more than running it.
_BUSY_CAMERAS = (
    select(RecordingGap.camera_id, func.count())
    .where(RecordingGap.fill_state == GapState.FILLING)
    .group_by(RecordingGap.camera_id)
)
# Holding the camera row serialises claims for one camera across workers; the whole row is read,
# so the job built from the claim (``Worker._plan``) needs no second look at it.
_HOLD_CAMERA = (
    select(Camera).where(Camera.id == bindparam("camera_id")).with_for_update(skip_locked=True)
)
_RUNNING_ON_CAMERA = select(func.count()).where(
    RecordingGap.camera_id == bindparam("camera_id"), RecordingGap.fill_state == GapState.FILLING
)
# A camera's candidates, locked if still pending (the state change checks that again).
_LOCK_CANDIDATES = gapstate.skip_locked(
    select(RecordingGap).where(
        RecordingGap.id.in_(bindparam("ids", expanding=True)),
        RecordingGap.fill_state == GapState.PENDING,
    )
)


def _busy_cameras() -> dict[str, int]:
    return {camera_id: n for camera_id, n in db.session.execute(_BUSY_CAMERAS)}


def claim(
    worker_id: str,
    slots: int,
    *,
    per_camera: int,
    lease_seconds: float,
    fill_window: str = "",
    now: datetime | None = None,
    cameras: dict[str, Camera] | None = None,
) -> list[RecordingGap]:
    """Claim up to ``slots`` pending gaps in claim order, ``per_camera`` at most per camera.

    The caller commits (that releases the row locks). ``cameras``, when given, receives the
    camera row of each claimed gap as the claim read it (the worker builds its jobs from them).
    """
    if slots <= 0:
        return []
    now = now or utcnow()
    full = [cam for cam, n in _busy_cameras().items() if n >= per_camera]
    # The cameras' fill windows are read once per claim, for the candidates and every camera.
    phases = claim_phases(fill_window, now)
    limit = slots * CANDIDATES_PER_SLOT
    candidates = queued(
        select(RecordingGap.camera_id, RecordingGap.id).where(RecordingGap.camera_id.not_in(full)),
        limit,
        phases=phases,
    )
    # Each camera's candidates in claim order: a prefix of its own claim order.
    by_camera: dict[str, list[str]] = {}
    for row in candidates:
        by_camera.setdefault(row.camera_id, []).append(row.id)
    claimed: list[RecordingGap] = []
    for camera_id, ids in by_camera.items():
        if len(claimed) >= slots:
            break
        # Holding the camera row keeps the count below true until this transaction commits; a
        # camera another worker holds is skipped.
        held = db.session.execute(_HOLD_CAMERA, {"camera_id": camera_id}).scalar_one_or_none()
        if held is None:
            continue
        running = db.session.execute(_RUNNING_ON_CAMERA, {"camera_id": camera_id}).scalar_one()
        room = min(per_camera - running, slots - len(claimed))
        if room <= 0:
            continue
        if len(ids) >= room or len(candidates) < limit:
            # The candidates hold the camera's next ``room`` gaps (or all it has): lock those.
            rows = db.session.execute(_LOCK_CANDIDATES, {"ids": ids[:room]}).scalars().all()
            order = {gap_id: n for n, gap_id in enumerate(ids)}
            gaps = sorted(rows, key=lambda gap: order[gap.id])
        else:  # the candidate list was cut off before this camera's share: ask for it whole
            gaps = [
                row[0]
                for row in queued(
                    select(RecordingGap).where(RecordingGap.camera_id == camera_id),
                    room,
                    phases=phases,
                    lock=True,
                )
            ]
        for gap in gaps:
            if gapstate.change_state_if_current(
                gap,
                GapState.FILLING,
                claimed_by=worker_id,
                lease_until=now + timedelta(seconds=lease_seconds),
                progress=0.0,
                fill_attempts=gap.fill_attempts + 1,
                last_attempt_at=now,
            ):
                claimed.append(gap)
                if cameras is not None:
                    cameras[camera_id] = held
    return claimed


_gaps = RecordingGap.__table__
# One statement a renewal (built once): the lease and progress go in, a Stop asked comes back.
_RENEW = (
    update(_gaps)
    .where(
        _gaps.c.id == bindparam("gap_id"),
        _gaps.c.claimed_by == bindparam("worker_id"),
        _gaps.c.fill_state == GapState.FILLING,
    )
    .returning(_gaps.c.stop_requested_by)
)


def renew(
    gap_id: str, worker_id: str, lease_seconds: float, progress: float | None
) -> tuple[bool, str | None]:
    """Extend our lease and record progress. Returns (still ours, who asked to stop it)."""
    values: dict[str, datetime | float] = {
        "lease_until": utcnow() + timedelta(seconds=lease_seconds)
    }
    if progress is not None:
        values["progress"] = round(min(max(progress, 0.0), 1.0), 4)
    row = db.session.execute(
        _RENEW, {"gap_id": gap_id, "worker_id": worker_id, **values}
    ).one_or_none()
    if row is None:
        return False, None
    return True, row.stop_requested_by


_HELD_GAP = (  # built once: the worker asks it at every fill's end
    select(RecordingGap).where(RecordingGap.id == bindparam("gap_id")).with_for_update()
)


def held_gap(gap_id: str, worker_id: str) -> RecordingGap | None:
    """The gap, locked, if this worker still holds it; None when the claim was lost."""
    gap = db.session.execute(_HELD_GAP, {"gap_id": gap_id}).scalar_one_or_none()
    if gap is None or gap.fill_state != GapState.FILLING or gap.claimed_by != worker_id:
        return None
    return gap


def give_back(gap: RecordingGap) -> None:
    """Return a claim without counting the attempt (the worker is shutting down)."""
    gapstate.change_state(gap, GapState.PENDING, fill_attempts=max(gap.fill_attempts - 1, 0))
