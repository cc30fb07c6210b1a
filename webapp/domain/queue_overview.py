"""The fleet's fill queue as operators see it: running fills, queued gaps, outcomes, workers.

Read-only views over the engine's tables, shared by ``/queue`` and ``GET /api/v1/queue``. The
queued list follows the worker's claim order exactly (``webapp.domain.claim_order.queued``).
"""

from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timedelta

from flask import current_app
from sqlalchemy import and_
from sqlalchemy import case
from sqlalchemy import func
from sqlalchemy import not_
from sqlalchemy import or_
from sqlalchemy import select

from ..extensions import db
from ..masking import mask_credentials
from ..models import Camera
from ..models import CameraGapStat
from ..models import FillRun
from ..models import Job
from ..models import RecordingGap
from ..models import WorkerHeartbeat
from ..models import rfc3339
from ..models import utcnow
from . import gapstate
from .claim_order import QueueKey
from .claim_order import queued
from .errors import BadParameter
from .fill_schedule import format_fill_window
from .fill_schedule import in_fill_window
from .fill_schedule import parse_fill_window
from .paging import CURSOR_REFUSED
from .paging import decode_cursor
from .paging import encode_cursor
from .principal import require_in_scope
from .principal import scoped
from .states import FILL_OUTCOMES
from .states import GapState

QUEUE_PAGE = 100
RECENT_OUTCOMES = 50
WORKER_SHOWN_HOURS = 1  # a worker silent longer than this is gone; not listed
WORKER_LATE_S = 30  # heartbeats come every 5 s; this much silence means trouble
FAST_REFRESH_S = 2
SLOW_REFRESH_S = 20


@dataclass(frozen=True)
class QueueFilter:
    """The page's and the API's filters, already checked: a camera id, a site, a scope."""

    camera_id: str | None = None
    site: str | None = None
    scope: frozenset | None = None

    def apply(self, query, camera_col):
        """Narrow ``query`` (joined to cameras) to the filter and the principal's scope."""
        query = scoped(query, camera_col, self)
        if self.camera_id:
            query = query.where(camera_col == self.camera_id)
        if self.site:
            query = query.where(Camera.site == self.site)
        return query

    def args(self) -> dict:
        """The filter as URL query arguments."""
        return {k: v for k, v in (("camera", self.camera_id), ("site", self.site)) if v}


def parse_filter(args, principal) -> QueueFilter:
    """``camera`` and ``site`` from the query string; an out-of-scope camera is a 403."""
    camera_id = (args.get("camera") or "").strip()[:64] or None
    site = (args.get("site") or "").strip()[:200] or None
    scope = None if principal.scope is None else frozenset(principal.scope)
    if camera_id:
        require_in_scope(principal, [camera_id])
    return QueueFilter(camera_id, site, scope)


def encode_queue_cursor(key: QueueKey, position: int) -> str:
    """The opaque cursor of a queued row: its claim key and its position in the queue."""
    return encode_cursor(int(key.manual), key.queue_at, key.id, position)


def decode_queue_cursor(raw: str | None) -> tuple[QueueKey, int] | None:
    """Read ``encode_queue_cursor``'s cursor; a damaged one is a 400."""
    fields = decode_cursor(raw, int, datetime, str, int)
    if fields is None:
        return None
    manual, when, gap_id, position = fields
    if manual not in (0, 1) or position < 0:
        raise BadParameter(CURSOR_REFUSED, "invalid_cursor")
    return QueueKey(manual == 1, when, gap_id), position


def _speed(progress: float | None, seconds: int, started: datetime | None, now: datetime):
    """(speed as a multiple of real time, seconds left) of a running fill; None while unknown."""
    if not started or not progress:
        return None, None
    elapsed = (now - started).total_seconds()
    if elapsed < 1:
        return None, None
    done = progress * seconds
    speed = done / elapsed
    if speed <= 0:
        return None, None
    return round(speed, 2), int((seconds - done) / speed)


def running_fills(flt: QueueFilter, now: datetime | None = None) -> list[dict]:
    """Every fill in progress with its window, method, progress, speed, ETA and who asked."""
    now = now or utcnow()
    query = flt.apply(
        select(
            RecordingGap.id,
            RecordingGap.camera_id,
            Camera.name,
            Camera.site,
            Camera.timezone,
            RecordingGap.gap_start,
            RecordingGap.gap_end,
            RecordingGap.gap_seconds,
            RecordingGap.progress,
            RecordingGap.manual_retry,
            RecordingGap.requested_by,
            RecordingGap.stop_requested_by,
            RecordingGap.claimed_by,
            RecordingGap.last_attempt_at,
            RecordingGap.fill_attempts,
        )
        .join(Camera, Camera.id == RecordingGap.camera_id)
        .where(RecordingGap.fill_state == GapState.FILLING)
        .order_by(RecordingGap.last_attempt_at, RecordingGap.id),
        RecordingGap.camera_id,
    )
    rows = db.session.execute(query).all()
    runs = {}
    if rows:
        open_runs = select(FillRun.gap_id, FillRun.method, FillRun.started_at).where(
            FillRun.gap_id.in_([r.id for r in rows]), FillRun.ended_at.is_(None)
        )
        runs = {r.gap_id: r for r in db.session.execute(open_runs)}
    out = []
    for r in rows:
        run = runs.get(r.id)
        started = run.started_at if run else r.last_attempt_at
        speed, eta = _speed(r.progress, r.gap_seconds, started, now)
        out.append(
            {
                **_gap_fields(r),
                "method": run.method if run else "replay",
                "progress": r.progress or 0.0,
                "started_at": started,
                "speed": speed,
                "eta_seconds": eta,
                "requested_by": r.requested_by if r.manual_retry else None,
                "stop_requested_by": r.stop_requested_by,
                "worker_id": r.claimed_by,
                "attempt": r.fill_attempts,
            }
        )
    return out


QUEUED_COLUMNS = (
    RecordingGap.id,
    RecordingGap.camera_id,
    Camera.name,
    Camera.site,
    Camera.timezone,
    Camera.anr_max_gap_hours,
    RecordingGap.gap_start,
    RecordingGap.gap_end,
    RecordingGap.gap_seconds,
    RecordingGap.manual_retry,
    RecordingGap.requested_by,
    RecordingGap.queue_at,
    RecordingGap.fill_attempts,
    RecordingGap.last_error,
)


@dataclass
class QueuedPage:
    """Queued gaps in claim order, from ``first_position``, and the cursor of the next page."""

    rows: list[dict]
    next_cursor: str | None
    total: int


def queued_gaps(
    flt: QueueFilter, limit: int = QUEUE_PAGE, cursor: str | None = None, total: int | None = None
):
    """One page of the queue in claim order, each gap with its position and card deadline."""
    after = decode_queue_cursor(cursor)
    key, position = after if after else (None, 0)
    query = flt.apply(
        select(*QUEUED_COLUMNS).join(Camera, Camera.id == RecordingGap.camera_id),
        RecordingGap.camera_id,
    )
    rows = queued(query, limit + 1, after=key)
    more = len(rows) > limit
    rows = rows[:limit]
    out = []
    for n, r in enumerate(rows, start=position + 1):
        out.append(
            {
                "position": n,
                **_gap_fields(r),
                "manual": bool(r.manual_retry),
                "requested_by": r.requested_by if r.manual_retry else None,
                "requested_at": r.queue_at if r.manual_retry else None,
                "card_keeps_until": gapstate.card_deadline(r.gap_start, r.anr_max_gap_hours),
                "fill_attempts": r.fill_attempts,
                "last_error": mask_credentials(r.last_error),
            }
        )
    next_cursor = None
    if more and rows:
        last = rows[-1]
        next_cursor = encode_queue_cursor(
            QueueKey(bool(last.manual_retry), last.queue_at, last.id), position + len(rows)
        )
    return QueuedPage(out, next_cursor, queued_total(flt) if total is None else total)


def _pending_counts(flt: QueueFilter) -> tuple[int, int]:
    """(queued, not queued) pending gaps under the filter, from the maintained statistics.

    Every pending gap of an enabled ANR-on camera is queued; on other cameras only operators'
    requests of enabled cameras are. So two sums over ``camera_gap_stats`` (O(cameras)) and two
    counts of manual requests (a narrow index range) answer without counting pending gaps.
    """
    stat = CameraGapStat
    runs = and_(Camera.enabled, Camera.anr_enabled)
    by_camera = flt.apply(
        select(
            func.coalesce(func.sum(case((runs, stat.gap_count), else_=0)), 0),
            func.coalesce(func.sum(case((runs, 0), else_=stat.gap_count)), 0),
        )
        .select_from(stat)
        .join(Camera, Camera.id == stat.camera_id)
        .where(stat.fill_state == GapState.PENDING),
        Camera.id,
    )
    on_cameras, off_cameras = db.session.execute(by_camera).one()
    manual = flt.apply(
        select(
            func.count(),
            func.coalesce(func.sum(case((Camera.enabled, 1), else_=0)), 0),
        )
        .select_from(RecordingGap)
        .join(Camera, Camera.id == RecordingGap.camera_id)
        .where(
            RecordingGap.fill_state == GapState.PENDING,
            RecordingGap.manual_retry,
            not_(runs),
        ),
        RecordingGap.camera_id,
    )
    manual_off, manual_off_enabled = db.session.execute(manual).one()
    return int(on_cameras) + int(manual_off_enabled), int(off_cameras) - int(manual_off)


def queued_total(flt: QueueFilter) -> int:
    """How many gaps wait in the queue (under the filter)."""
    return _pending_counts(flt)[0]


def waiting_requests(camera_id: str) -> int:
    """Operators' requests of a camera still waiting for a worker (the page polls faster)."""
    return db.session.execute(
        select(func.count()).where(
            RecordingGap.camera_id == camera_id,
            RecordingGap.fill_state == GapState.PENDING,
            RecordingGap.manual_retry,
        )
    ).scalar_one()


def parse_outcome(raw: str | None) -> str | None:
    """The outcome filter of the recent outcomes: one of ``FILL_OUTCOMES``; anything else a 400."""
    value = (raw or "").strip().lower()
    if not value:
        return None
    if value not in FILL_OUTCOMES:
        raise BadParameter(
            f"outcome must be one of {', '.join(FILL_OUTCOMES)}; got '{value[:40]}'",
            "invalid_outcome",
        )
    return value


def _outcomes_cursor(raw: str | None) -> tuple[datetime, int] | None:
    """``outcomes_before``: the shared keyset cursor of a run, (ended_at, run id)."""
    try:
        after = decode_cursor(raw, datetime, int)
        return None if after is None else (after[0], after[1])
    except BadParameter:
        raise BadParameter(
            "outcomes_before is not a cursor this server issued; open the queue again",
            "invalid_cursor",
        ) from None


@dataclass
class OutcomePage:
    """Fill attempts that ended, newest first, and the cursor of the older ones."""

    rows: list[dict]
    next_cursor: str | None
    outcome: str | None = None


def recent_outcomes(
    flt: QueueFilter,
    limit: int = RECENT_OUTCOMES,
    outcome: str | None = None,
    cursor: str | None = None,
) -> OutcomePage:
    """The last fill attempts that ended, newest first, with what each brought back.

    ``outcome`` keeps one kind of ending; ``cursor`` (from ``next_cursor``) continues with the
    older ones, keyset on (ended_at, id) so a page is as cheap far back as at the top.
    """
    after = _outcomes_cursor(cursor)
    query = (
        select(
            FillRun.id,
            FillRun.gap_id,
            FillRun.camera_id,
            Camera.name,
            Camera.timezone,
            RecordingGap.gap_start,
            RecordingGap.gap_end,
            FillRun.method,
            FillRun.outcome,
            FillRun.started_at,
            FillRun.ended_at,
            FillRun.recovered_seconds,
            FillRun.bytes_written,
            FillRun.error,
            FillRun.requested_by,
        )
        .join(Camera, Camera.id == FillRun.camera_id)
        .outerjoin(RecordingGap, RecordingGap.id == FillRun.gap_id)
        .where(FillRun.ended_at.is_not(None))
    )
    if outcome:
        query = query.where(FillRun.outcome == outcome)
    if after:
        ended, run_id = after
        query = query.where(
            or_(FillRun.ended_at < ended, and_(FillRun.ended_at == ended, FillRun.id < run_id))
        )
    query = flt.apply(
        query.order_by(FillRun.ended_at.desc(), FillRun.id.desc()).limit(limit + 1),
        FillRun.camera_id,
    )
    rows = db.session.execute(query).all()
    more = len(rows) > limit
    rows = rows[:limit]
    out = [
        {
            "run_id": r.id,
            "gap_id": r.gap_id,
            "camera_id": r.camera_id,
            "camera_name": r.name,
            "timezone": r.timezone,
            "gap_start": r.gap_start,
            "gap_end": r.gap_end,
            "method": r.method,
            "outcome": r.outcome,
            "started_at": r.started_at,
            "ended_at": r.ended_at,
            "recovered_seconds": r.recovered_seconds,
            "bytes": r.bytes_written,
            "error": mask_credentials(r.error),
            "requested_by": r.requested_by,
        }
        for r in rows
    ]
    next_cursor = encode_cursor(rows[-1].ended_at, str(rows[-1].id)) if more and rows else None
    return OutcomePage(out, next_cursor, outcome)


def workers(now: datetime | None = None) -> list[dict]:
    """Workers heard from in the last hour: name, host, heartbeat age, running/concurrency."""
    now = now or utcnow()
    rows = db.session.execute(
        select(WorkerHeartbeat)
        .where(WorkerHeartbeat.seen_at >= now - timedelta(hours=WORKER_SHOWN_HOURS))
        .order_by(WorkerHeartbeat.seen_at.desc())
        .limit(50)
    ).scalars()
    out = []
    for w in rows:
        age = max((now - w.seen_at).total_seconds(), 0.0)
        out.append(
            {
                "name": w.worker_id,
                "host": w.hostname,
                "pid": w.pid,
                "started_at": w.started_at,
                "seen_at": w.seen_at,
                "heartbeat_age_seconds": round(age, 1),
                # A worker that shut down cleanly is stopped, not late.
                "stopped": w.stopped_at is not None,
                "late": w.stopped_at is None and age > WORKER_LATE_S,
                "running": w.running,
                "concurrency": w.concurrency,
            }
        )
    return out


def run_history(gap_id: str) -> list[dict]:
    """Every fill attempt of a gap, newest first: the history Retry never erases."""
    rows = db.session.execute(
        select(FillRun).where(FillRun.gap_id == gap_id).order_by(FillRun.id.desc())
    ).scalars()
    return [
        {
            "id": r.id,
            "gap_id": r.gap_id,
            "method": r.method,
            "started_at": r.started_at,
            "ended_at": r.ended_at,
            "outcome": r.outcome or "running",
            "recovered_seconds": r.recovered_seconds,
            "bytes": r.bytes_written,
            "error": mask_credentials(r.error),
            "requested_by": r.requested_by,
            "worker_id": r.worker_id,
            "duration_seconds": r.duration_s,
        }
        for r in rows
    ]


JOBS_SHOWN_HOURS = 24  # finished bulk jobs stay listed this long, so an operator sees the end


def bulk_jobs(flt: QueueFilter, now: datetime | None = None) -> list[dict]:
    """Bulk retries running in the background, and those that ended in the last day."""
    now = now or utcnow()
    query = (
        select(Job, Camera.name)
        .outerjoin(Camera, Camera.id == Job.camera_id)  # a job over several cameras names none
        .where(
            (Job.state.in_(("queued", "running")))
            | (Job.finished_at > now - timedelta(hours=JOBS_SHOWN_HOURS))
        )
        .order_by(Job.created_at.desc())
        .limit(20)
    )
    rows = db.session.execute(flt.apply(query, Job.camera_id)).all()
    return [
        {
            **job.to_json(),
            "camera_name": name or f"{len((job.params or {}).get('camera_ids', []))} cameras",
            "percent": int(100 * job.done / job.total) if job.total else 100,
            "active": job.state in ("queued", "running"),
        }
        for job, name in rows
    ]


@dataclass
class QueueView:
    """Everything the queue page and its JSON twin show."""

    running: list[dict]
    queued: QueuedPage
    not_queued: int
    recent: OutcomePage
    workers: list[dict]
    fill_window: str
    jobs: list[dict]
    # Cameras under the filter with their own fill window (they override ``fill_window``).
    camera_windows: list[dict] = field(default_factory=list)

    @property
    def refresh_seconds(self) -> int:
        """Fast while anything runs, so progress moves; slow otherwise."""
        busy = self.running or any(job["active"] for job in self.jobs)
        return FAST_REFRESH_S if busy else SLOW_REFRESH_S


def queue_view(
    flt: QueueFilter,
    cursor: str | None = None,
    limit: int = QUEUE_PAGE,
    outcome: str | None = None,
    outcomes_before: str | None = None,
) -> QueueView:
    """The whole queue view under a filter (``outcome``/``outcomes_before``: recent outcomes)."""
    now = utcnow()
    queued, not_queued = _pending_counts(flt)
    return QueueView(
        running=running_fills(flt, now),
        queued=queued_gaps(flt, limit, cursor, total=queued),
        not_queued=not_queued,
        recent=recent_outcomes(flt, outcome=outcome, cursor=outcomes_before),
        workers=workers(now),
        fill_window=format_fill_window(
            parse_fill_window(current_app.config.get("ANR_FILL_WINDOW"))
        ),
        jobs=bulk_jobs(flt, now),
        camera_windows=camera_windows(flt, now),
    )


CAMERA_WINDOWS_SHOWN = 50


def camera_windows(flt: QueueFilter, now: datetime) -> list[dict]:
    """Cameras under the filter whose own fill window overrides ANR_FILL_WINDOW, open or not now."""
    # ``> ''``: a range of ix_cameras_fill_window (an empty window is none, as in
    # effective_window), so only the few cameras with their own window are read.
    query = flt.apply(
        select(Camera.id, Camera.name, Camera.timezone, Camera.fill_window).where(
            Camera.fill_window > ""
        ),
        Camera.id,
    )
    rows = db.session.execute(query.order_by(Camera.name, Camera.id).limit(CAMERA_WINDOWS_SHOWN))
    return [
        {
            "camera_id": r.id,
            "camera_name": r.name,
            "fill_window": r.fill_window,
            "timezone": r.timezone,
            "open": in_fill_window(parse_fill_window(r.fill_window), r.timezone, now),
        }
        for r in rows
    ]


def as_json(value):
    """Times in a view's dicts as RFC 3339 text, everything else as it is."""
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items() if k != "timezone"}
    if isinstance(value, list):
        return [as_json(v) for v in value]
    if isinstance(value, datetime):
        return rfc3339(value)
    return value


def _gap_fields(r) -> dict:
    """The gap and camera fields a running and a queued row both show."""
    return {
        "gap_id": r.id,
        "camera_id": r.camera_id,
        "camera_name": r.name,
        "site": r.site,
        "timezone": r.timezone,
        "gap_start": r.gap_start,
        "gap_end": r.gap_end,
        "gap_seconds": r.gap_seconds,
    }
