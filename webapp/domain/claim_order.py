"""Claim order: which pending gap a worker takes next, and the fill window of automatic work.

A domain rule, not the engine's: the worker claims in this order (``webapp/anr/claims.py``) and
the queue page lists in the same order (``webapp/domain/queue_overview.py``), both from here.
"""

from dataclasses import dataclass
from datetime import datetime
from functools import cache

from sqlalchemy import ColumnElement
from sqlalchemy import and_
from sqlalchemy import not_
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy.orm import aliased

from ..extensions import db
from ..models import Camera
from ..models import RecordingGap
from ..models import utcnow
from . import gapstate
from .fill_schedule import Window
from .fill_schedule import effective_window
from .fill_schedule import in_fill_window
from .fill_schedule import parse_fill_window
from .states import GapState

# Claim order (docs/fleet-operations.md): an operator's request (Retry, a chosen window, Retry
# selected) goes before automatic work, oldest request first; automatic gaps follow by the time
# the card overwrites them, soonest first. ``queue_at`` holds either time, so each part of the
# queue is one ascending scan of ix_recording_gaps_claim.
PHASE_ORDER = (RecordingGap.queue_at, RecordingGap.id)


# The parts of the queue, in order: (manual part?, WHERE clause of a claimable gap in it).
Phases = list[tuple[bool, object]]


@dataclass(frozen=True)
class QueueKey:
    """Where a gap stands in the claim order: (manual request?, queue_at, id)."""

    manual: bool
    queue_at: datetime
    id: str


@cache
def _base_clauses() -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """The WHERE clauses of a claimable manual and automatic gap, fill windows aside.

    Built once (clauses are immutable and reused by every query): building them costs more than
    running a claim's queries (the alias copies every camera column).
    """
    pending = RecordingGap.fill_state == GapState.PENDING
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
    return manual, automatic


@cache
def _schedule_queries():
    """The cameras whose fill window decides (every eligible one, and those with their own
    window): built once, as a claim asks one of them every time."""
    eligible = select(Camera.id, Camera.timezone, Camera.fill_window).where(
        Camera.enabled, Camera.anr_enabled
    )
    return eligible, eligible.where(Camera.fill_window.is_not(None))


def _phases(window: Window | None, now: datetime, *, schedules: bool = True) -> Phases:
    """The two parts of the queue and the WHERE clause of a claimable gap in each.

    Manual requests run on any enabled camera, whatever its automatic ANR setting, and start at
    once; automatic gaps need ANR on and the camera's fill window open: its own ``fill_window``,
    else ``window`` (``ANR_FILL_WINDOW``), webapp/domain/fill_schedule.py. ``schedules`` False
    leaves fill windows out (the queue page lists what waits, open or not).
    """
    manual, automatic = _base_clauses()
    eligible, scheduled_only = _schedule_queries()
    if schedules and window is None:
        # No fleet window: only cameras with their own window can be closed (usually few).
        scheduled = db.session.execute(scheduled_only).all()
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


def claim_phases(fill_window: str | None, now: datetime) -> Phases:
    """The two parts of the queue as of ``now``, for ``queued(phases=...)``.

    Reads the cameras' fill windows once, so a caller running several ``queued`` calls for one
    claim (the worker: the candidates, then each camera's gaps) asks the database once.
    """
    return _phases(parse_fill_window(fill_window), now, schedules=fill_window is not None)


def queued(
    query,
    limit: int,
    *,
    after: QueueKey | None = None,
    fill_window: str | None = None,
    now: datetime | None = None,
    lock: bool = False,
    phases: Phases | None = None,
) -> list:
    """Rows of ``query`` (a select over recording_gaps) for claimable gaps, in claim order.

    ``after`` continues from a row's QueueKey (keyset paging); ``lock`` row-locks for a claim.
    ``fill_window`` is ``ANR_FILL_WINDOW`` ("" none): automatic gaps of cameras whose window is
    closed are left out; None lists them all (the queue page). ``phases`` (from
    ``claim_phases``) stands for ``fill_window`` and ``now`` when the caller already has them.
    """
    rows: list = []
    if phases is None:
        phases = claim_phases(fill_window, now or utcnow())
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
