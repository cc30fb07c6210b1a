"""The fleet overview at any size: one page of cameras, attention first, keyset-paged.

Order: attention (a failed gap, then partial, then expired; gaps an operator stopped do not
count), then the newest gap, then id, all descending, which is one backward scan of
``ix_cameras_fleet_order``. One query per page joins that page's cameras to their statistics,
so a page costs O(page) whatever the fleet's size. Search (id, name, site) and a site filter
narrow it; cursors page forwards and backwards.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement
from sqlalchemy import Row
from sqlalchemy import and_
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select

from ..extensions import db
from ..models import Camera
from ..models import CameraGapStat
from ..models import FleetSiteStat
from ..models import utcnow
from ..models.fleet_stats import COUNTS as FLEET_COUNTS
from .errors import BadParameter
from .paging import CURSOR_REFUSED
from .paging import decode_cursor
from .paging import encode_cursor
from .principal import scope_term
from .principal import scoped
from .recording_health import recording_status
from .recording_health import stale_after
from .states import FILL_STATES
from .states import RECORDING_ATTENTION
from .states import GapState

PAGE_SIZE = 100
MAX_LIMIT = 1000
MAX_QUERY = 100
# Camera.attention values (kept by webapp.domain.gapstate): at or above this, needs attention.
NEEDS_ATTENTION = 1


@dataclass(frozen=True)
class FleetKey:
    """A camera's place in the fleet order."""

    attention: int
    newest: datetime | None
    id: str


@dataclass(frozen=True)
class FleetQuery:
    """What the operator asked for: search words, a site, attention only, page size, cursor."""

    q: str = ""
    site: str = ""
    attention: bool = False
    limit: int = PAGE_SIZE
    cursor: str | None = None

    def args(self, **changes) -> dict:
        """The query as URL arguments (empty ones left out), with ``changes`` applied."""
        values = {
            "q": self.q or None,
            "site": self.site or None,
            "attention": 1 if self.attention else None,
            "before": self.cursor,
        }
        values.update(changes)
        return {k: v for k, v in values.items() if v is not None}


def parse_query(args, default_limit: int = PAGE_SIZE) -> FleetQuery:
    """Read ``q``, ``site``, ``attention``, ``limit`` and ``before``; bad values are a 400."""
    raw_limit = args.get("limit")
    limit = default_limit
    if raw_limit not in (None, ""):
        try:
            limit = max(1, min(MAX_LIMIT, int(str(raw_limit).strip())))
        except ValueError:
            raise BadParameter(
                f"limit must be an integer, got '{str(raw_limit)[:40]}'", "invalid_limit"
            ) from None
    attention = (args.get("attention") or "").strip().lower()
    if attention not in ("", "0", "1", "true", "false"):
        raise BadParameter("attention must be 1 or 0", "invalid_attention")
    cursor = args.get("before") or None
    _decode_key(cursor)  # a damaged cursor is refused before any query
    return FleetQuery(
        q=(args.get("q") or "").strip()[:MAX_QUERY],
        site=(args.get("site") or "").strip()[:200],
        attention=attention in ("1", "true"),
        limit=limit,
        cursor=cursor,
    )


def _encode_key(direction: str, key: FleetKey) -> str:
    """``n`` (rows after ``key``) or ``p`` (rows before it) plus the key, opaque to clients."""
    return encode_cursor(direction, key.attention, key.newest, key.id)


def _decode_key(raw: str | None) -> tuple[str, FleetKey] | None:
    """Read ``_encode_key``'s cursor; a damaged one is a 400."""
    fields = decode_cursor(raw, str, int, datetime | None, str)
    if fields is None:
        return None
    direction, attention, newest, camera_id = fields
    if direction not in ("n", "p"):
        raise BadParameter(CURSOR_REFUSED, "invalid_cursor")
    return direction, FleetKey(attention, newest, camera_id)


def _after(key: FleetKey):
    """Cameras after ``key`` in the fleet order (attention, newest gap, id: all descending)."""
    if key.newest is None:
        same = and_(Camera.newest_gap_start.is_(None), Camera.id < key.id)
    else:
        same = or_(
            Camera.newest_gap_start < key.newest,
            Camera.newest_gap_start.is_(None),
            and_(Camera.newest_gap_start == key.newest, Camera.id < key.id),
        )
    return or_(Camera.attention < key.attention, and_(Camera.attention == key.attention, same))


def _before(key: FleetKey):
    """Cameras before ``key`` in the fleet order."""
    if key.newest is None:
        same = or_(Camera.newest_gap_start.is_not(None), Camera.id > key.id)
    else:
        same = or_(
            Camera.newest_gap_start > key.newest,
            and_(Camera.newest_gap_start == key.newest, Camera.id > key.id),
        )
    return or_(Camera.attention > key.attention, and_(Camera.attention == key.attention, same))


def _like(words: str) -> str:
    escaped = words.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _filters(principal, fq: FleetQuery) -> list:
    """WHERE terms of the query (scope, search, site, attention)."""
    terms: list[ColumnElement[bool]] = []
    in_scope = scope_term(Camera.id, principal)
    if in_scope is not None:
        terms.append(in_scope)
    if fq.q:
        pattern = _like(fq.q)
        terms.append(
            or_(
                func.lower(Camera.id).like(pattern, escape="\\"),
                func.lower(Camera.name).like(pattern, escape="\\"),
                func.lower(Camera.site).like(pattern, escape="\\"),
            )
        )
    if fq.site:
        terms.append(Camera.site == fq.site)
    if fq.attention:
        terms.append(_needs_attention())
    return terms


def _stale_limit() -> datetime:
    """Footage ending before this is stale."""
    return utcnow() - stale_after(current_app.config)


def _not_recording():
    """Enabled cameras whose footage stopped (stale) or never came: worked out at read time, like
    the rows' recording status, so the filter never lags the worker's health check."""
    limit = _stale_limit()
    return and_(
        Camera.enabled,
        or_(Camera.last_segment_end.is_(None), Camera.last_segment_end < limit),
    )


def _needs_attention():
    return or_(Camera.attention >= NEEDS_ATTENTION, _not_recording())


@dataclass
class FleetRow:
    """One camera on the fleet page."""

    camera: Row[Any]  # the fleet query's camera columns
    counts: dict
    missing_seconds: int
    newest_gap_start: datetime | None
    attention: int
    last_segment_end: datetime | None = None
    recording_status: str = "ok"  # ok, stale, never, off (worked out when read)

    @property
    def total(self) -> int:
        """All of the camera's gaps."""
        return sum(self.counts.values())

    @property
    def needs_attention(self) -> bool:
        """True when gaps wait for an operator or the camera stopped recording."""
        return self.attention >= NEEDS_ATTENTION or self.recording_status in RECORDING_ATTENTION

    def key(self) -> FleetKey:
        """Where the row stands in the fleet order."""
        return FleetKey(self.attention, self.newest_gap_start, self.camera.id)


@dataclass
class FleetPage:
    """A page of the fleet and the cursors of its neighbours (None at either end)."""

    rows: list[FleetRow]
    next_cursor: str | None
    prev_cursor: str | None


CAMERA_COLUMNS = (
    Camera.id,
    Camera.name,
    Camera.site,
    Camera.timezone,
    Camera.vendor,
    Camera.anr_enabled,
    Camera.enabled,
    Camera.fill_window,
    Camera.newest_gap_start,
    Camera.attention,
    Camera.last_segment_end,
)


def _page_stats(camera_ids: list[str]) -> tuple[dict, dict]:
    """((camera, state) -> gap count, camera -> seconds not filled) of a page's cameras."""
    if not camera_ids:
        return {}, {}
    stat = CameraGapStat
    query = select(stat.camera_id, stat.fill_state, stat.gap_count, stat.gap_seconds).where(
        stat.camera_id.in_(camera_ids)
    )
    counts: dict[tuple[str, str], int] = {}
    missing: dict[str, int] = {}
    for camera_id, state, n, seconds in db.session.execute(query):
        counts[(camera_id, state)] = counts.get((camera_id, state), 0) + int(n or 0)
        if state != GapState.FILLED:
            missing[camera_id] = missing.get(camera_id, 0) + int(seconds or 0)
    return counts, missing


def fleet_rows_of(cameras) -> list[FleetRow]:
    """``cameras`` (rows of CAMERA_COLUMNS, or Camera models) with their statistics, as the
    fleet and the camera's own JSON show them."""
    counts, missing = _page_stats([c.id for c in cameras])
    now = utcnow()
    stale = stale_after(current_app.config)
    return [
        FleetRow(
            row,
            {state: counts.get((row.id, state), 0) for state in FILL_STATES},
            missing.get(row.id, 0),
            row.newest_gap_start,
            int(row.attention),
            row.last_segment_end,
            recording_status(row.enabled, row.last_segment_end, now, stale),
        )
        for row in cameras
    ]


def fleet_page(principal, fq: FleetQuery) -> FleetPage:
    """One page of cameras in the principal's scope, in fleet order, with their statistics."""
    decoded = _decode_key(fq.cursor)
    direction, key = decoded if decoded else ("n", None)
    backwards = direction == "p"
    newest = Camera.newest_gap_start
    ordering: list[ColumnElement[Any]]
    if backwards:
        ordering = [Camera.attention.asc(), newest.asc().nulls_first(), Camera.id.asc()]
    else:
        ordering = [Camera.attention.desc(), newest.desc().nulls_last(), Camera.id.desc()]
    # One keyset page of cameras straight off the fleet-order index (the ORDER BY is the index's
    # order read backwards), then that page's statistics by primary key: two queries of O(page)
    # whatever the fleet's size, with no join a planner could turn into a scan of every camera.
    page = select(*CAMERA_COLUMNS).where(*_filters(principal, fq))
    if key is not None:
        page = page.where(_before(key) if backwards else _after(key))
    cameras = db.session.execute(page.order_by(*ordering).limit(fq.limit + 1)).all()
    rows = fleet_rows_of(cameras)
    more = len(rows) > fq.limit
    rows = rows[: fq.limit]
    if backwards:
        if not more:  # back at the start: the first page, full, as a fresh visit shows it
            return fleet_page(principal, FleetQuery(fq.q, fq.site, fq.attention, fq.limit))
        rows.reverse()
        prev_cursor = _encode_key("p", rows[0].key()) if more and rows else None
        next_cursor = _encode_key("n", rows[-1].key()) if rows else None
    else:
        next_cursor = _encode_key("n", rows[-1].key()) if more and rows else None
        prev_cursor = _encode_key("p", rows[0].key()) if key is not None and rows else None
    return FleetPage(rows, next_cursor, prev_cursor)


def fleet_summary(principal, fq: FleetQuery) -> dict:
    """How many cameras match the search and site, and how many of them need attention.

    Without a search or a scope the counts come from ``fleet_site_stats`` (kept by triggers on
    cameras, O(sites)) plus the cameras whose footage went stale, which only the clock can tell:
    a range of ``ix_cameras_recording`` holding just those. A search or a scope counts its own
    cameras, each count one index range.
    """
    if fq.q or principal.scope is not None:
        return _counted_summary(principal, fq)
    site = [FleetSiteStat.site == fq.site] if fq.site else []
    sums = [func.coalesce(func.sum(getattr(FleetSiteStat, c)), 0) for c in FLEET_COUNTS]
    cameras, flagged, never, never_flagged = (
        int(n) for n in db.session.execute(select(*sums).where(*site)).one()
    )
    here = [Camera.site == fq.site] if fq.site else []
    stale = [Camera.enabled, Camera.last_segment_end < _stale_limit(), *here]
    stale_all = _count(*stale)
    stale_calm = _count(*stale, Camera.attention == 0)  # attention below 1 is 0
    return {
        "cameras": cameras,
        "attention": flagged + (never - never_flagged) + stale_calm,
        "quiet": never + stale_all,
    }


def _count(*where) -> int:
    return int(
        db.session.execute(select(func.count()).select_from(Camera).where(*where)).scalar_one()
    )


def _counted_summary(principal, fq: FleetQuery) -> dict:
    """``fleet_summary`` under a search or a scope: each count one range of an index."""
    terms = _filters(principal, FleetQuery(q=fq.q, site=fq.site))
    flagged = _count(*terms, Camera.attention >= NEEDS_ATTENTION)
    quiet_calm = _count(*terms, Camera.attention < NEEDS_ATTENTION, _not_recording())
    quiet_flagged = _count(*terms, Camera.attention >= NEEDS_ATTENTION, _not_recording())
    return {
        "cameras": _count(*terms),
        "attention": flagged + quiet_calm,
        "quiet": quiet_calm + quiet_flagged,
    }


def camera_choices(principal) -> list[tuple[str, str]]:
    """(id, name) of the cameras in scope by name, for a camera filter's list."""
    query = select(Camera.id, Camera.name).order_by(Camera.name, Camera.id)
    if principal.scope is not None:
        query = query.where(Camera.id.in_(list(principal.scope)))
    return [(cid, name or cid) for cid, name in db.session.execute(query)]


def sites(principal) -> list[str]:
    """The sites of the cameras in scope, for the site filter.

    Unscoped, a walk from one site to the next along ``ix_cameras_site`` (a recursive query
    asking for the smallest site above the last): O(sites), whatever the number of cameras.
    """
    if principal.scope is not None:
        query = select(Camera.site).where(Camera.site != "").distinct().order_by(Camera.site)
        return list(db.session.execute(scoped(query, Camera.id, principal)).scalars())
    return list(db.session.execute(_SITE_WALK).scalars())


def _site_walk():
    cameras, above = Camera.__table__, Camera.__table__.alias("above")
    first = select(func.min(cameras.c.site).label("site")).where(cameras.c.site > "")
    walk = first.cte("walk", recursive=True)
    step = select(
        select(func.min(above.c.site)).where(above.c.site > walk.c.site).scalar_subquery()
    ).where(walk.c.site.is_not(None))
    walk = walk.union_all(step)
    return select(walk.c.site).where(walk.c.site.is_not(None))


_SITE_WALK = _site_walk()  # built once: the statement is the same for every unscoped caller
