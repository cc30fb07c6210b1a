"""Claim order: which pending gap a worker takes next, and the fill window of automatic work.

A domain rule, not the engine's: the worker claims in this order (``webapp/anr/queue.py``) and
the queue page lists in exactly the same order (``webapp/domain/fill_queue.py``), both from here.
"""

import logging
from dataclasses import dataclass
from datetime import datetime
from datetime import time
from zoneinfo import ZoneInfo

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
from .states import GapState
from .times import parse_time_of_day

log = logging.getLogger(__name__)

# Claim order (docs/fleet-operations.md): an operator's request (Retry, a chosen window, Retry
# selected) goes before automatic work, oldest request first; automatic gaps follow by the time
# the card overwrites them, soonest first. ``queue_at`` holds either time, so each part of the
# queue is one ascending scan of ix_recording_gaps_claim.
PHASE_ORDER = (RecordingGap.queue_at, RecordingGap.id)


def parse_fill_window(raw: str) -> tuple[time, time] | None:
    """``"22:00-06:00"`` as (start, end) local times; None for empty (always) or unreadable."""
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        first, second = (parse_time_of_day(part) for part in raw.split("-", 1))
        if first is None or second is None:
            raise ValueError
        return first, second
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


@dataclass(frozen=True)
class QueueKey:
    """Where a gap stands in the claim order: (manual request?, queue_at, id)."""

    manual: bool
    queue_at: datetime
    id: str


def _phases(window: tuple[time, time] | None, now: datetime) -> list[tuple[bool, object]]:
    """The two parts of the queue and the WHERE clause of a claimable gap in each.

    Manual requests run on any enabled camera, whatever its automatic ANR setting, and start at
    once; automatic gaps need ANR on and, with ``ANR_FILL_WINDOW``, the camera's fill window.
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
    if window is not None:
        cameras = db.session.execute(
            select(Camera.id, Camera.timezone).where(Camera.enabled, Camera.anr_enabled)
        ).all()
        open_now = [c.id for c in cameras if in_fill_window(window, c.timezone, now)]
        automatic = and_(automatic, RecordingGap.camera_id.in_(open_now))
    return [(True, manual), (False, automatic)]


def queued(
    query,
    limit: int,
    *,
    after: QueueKey | None = None,
    fill_window: str = "",
    now: datetime | None = None,
    lock: bool = False,
) -> list:
    """Rows of ``query`` (a select over recording_gaps) for claimable gaps, in claim order.

    ``after`` continues from a row's QueueKey (keyset paging); ``lock`` row-locks for a claim.
    """
    now = now or utcnow()
    rows: list = []
    for manual, clause in _phases(parse_fill_window(fill_window), now):
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
