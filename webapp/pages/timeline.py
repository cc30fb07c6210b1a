"""The coverage timeline: recorded runs and gaps over a window, as geometry for a server SVG.

The SVG uses percentage x/width and fixed pixel heights, so it scales to any width (1280 px page,
600 px iframe) without distorting its text. Cost is bounded: segments closer than one drawing unit
(1/2000 of the window) merge into runs in one pass, so the SVG draws a handful of runs, never one
element per segment; gaps drawn touching each other become one mark (worst state).
"""

from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timedelta
from typing import NamedTuple

from flask import current_app
from sqlalchemy import String
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import type_coerce

from ..domain.recording_health import recording_status
from ..domain.recording_health import stale_after
from ..domain.states import FILLED
from ..domain.states import SEVERITY
from ..domain.times import stored_time
from ..domain.times import zone
from ..extensions import db
from ..models import RecordingGap
from ..models import Segment
from ..models import utcnow

RANGES = {
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
}
RANGE_LABELS = {"1h": "1 h", "6h": "6 h", "24h": "24 h", "7d": "7 d"}
DEFAULT_RANGE = "24h"
# Drawing resolution: the window is 2,000 units wide; anything narrower than a unit is invisible.
UNITS = 2000
# A 5-second gap in 7 days must still be visible and clickable. The template adds a 2 px stroke
# of the same pattern on each side, so a mark is at least 4 px wide at any width (600 px iframe).
MIN_MARK_PERCENT = 0.3
# Marks closer than this merge: on the 1,440 px page their 2 px pattern strokes touch, so they
# would be drawn as one shape anyway, the later one over the earlier one's click area.
MERGE_PERCENT = 0.28
MAX_GAPS = 5000  # a camera that flaps all week: newest gaps first, the note says so
# (tick step, label format) per range; ticks fall on round times in the camera's zone. Major
# ticks must fit the narrowest layout; minor ticks (half steps) only show where the timeline is
# wide (a container query in app.css hides them below MINOR_MIN_PX).
TICKS = {
    "1h": (timedelta(minutes=10), "%H:%M"),
    "6h": (timedelta(hours=1), "%H:%M"),
    "24h": (timedelta(hours=3), "%H:%M"),
    "7d": (timedelta(days=1), "%a %d"),
}
MINOR_TICKS = {
    "1h": timedelta(minutes=5),
    "6h": timedelta(minutes=30),
    "24h": timedelta(hours=1),
    "7d": timedelta(hours=12),
}
NARROW_PX = 500  # the narrowest timeline drawn (600 px iframe, less padding, with margin)
MINOR_MIN_PX = 1000  # app.css shows minor ticks from this timeline width up
LABEL_CHAR_PX = 7.0  # 11 px tabular digits and letters, generously
LABEL_GAP_PX = 10.0


def parse_range(raw: str | None) -> str:
    """The requested range key, or the default for anything unknown."""
    return raw if raw in RANGES else DEFAULT_RANGE


@dataclass
class Mark:
    """One drawn gap (or several tiny ones merged), positioned in percent of the width."""

    x: float
    w: float
    state: str
    start: datetime
    end: datetime
    gap_ids: list = field(default_factory=list)
    seconds: int = 0
    mixed: bool = False  # merged gaps of different states (the link then shows every state)

    @property
    def gap_id(self) -> str | None:
        """The gap's id when this mark is exactly one gap."""
        return self.gap_ids[0] if len(self.gap_ids) == 1 else None


@dataclass
class Timeline:
    """Everything the template draws for one camera and one window."""

    range_key: str
    start: datetime
    end: datetime
    runs: list  # [(x%, w%, start, end)]
    marks: list  # [Mark]
    ticks: list  # [(x%, label, anchor)]
    recorded_seconds: float
    gap_counts: dict
    missing_seconds: int
    truncated: bool
    start_label: str = ""
    unrecorded_seconds: int = 0  # no footage and no gap: the recorder has nothing to fill
    recording_status: str = "ok"
    last_segment_end: datetime | None = None

    @property
    def total_missing_seconds(self) -> int:
        """Open gaps plus unrecorded stretches: everything not in the archive."""
        return self.missing_seconds + self.unrecorded_seconds

    @property
    def coverage_percent(self) -> float:
        """Share of the window covered by recorded segments."""
        total = (self.end - self.start).total_seconds()
        return 100.0 * self.recorded_seconds / total if total else 0.0


def build(camera, range_key: str, now: datetime | None = None) -> Timeline:
    """The timeline of ``camera`` over the last ``range_key`` (one of RANGES)."""
    end = (now or utcnow()).replace(microsecond=0)
    start = end - RANGES[range_key]
    runs = recorded_runs(camera.id, start, end)
    gaps = gaps_in_window(camera.id, start, end)
    span = (end - start).total_seconds()

    def pct(when: datetime) -> float:
        return round(100.0 * (min(max(when, start), end) - start).total_seconds() / span, 3)

    run_geometry = [(pct(a), round(pct(b) - pct(a), 3), a, b) for a, b in runs]
    recorded = sum((min(b, end) - max(a, start)).total_seconds() for a, b in runs)
    marks = merge_marks(gaps[:MAX_GAPS], pct)
    start_label = start.astimezone(zone(camera.timezone)).strftime(
        "%a %d %H:%M" if range_key == "7d" else "%H:%M"
    )
    truncated = len(gaps) > MAX_GAPS
    # Every gap of the window is at hand unless it was cut at MAX_GAPS: then SQL sums them all.
    counts, missing = (
        gap_summary(camera.id, start, end) if truncated else summary_of(gaps, start, end)
    )
    # The drawn rows stop at MAX_GAPS; what is unrecorded is worked out against every gap.
    spans = gap_spans(camera.id, start, end) if truncated else gaps
    limit = stale_after(current_app.config)
    return Timeline(
        range_key=range_key,
        start=start,
        end=end,
        runs=run_geometry,
        marks=marks,
        ticks=ticks(range_key, start, end, camera.timezone, pct, start_label),
        recorded_seconds=recorded,
        gap_counts=counts,
        missing_seconds=missing,
        truncated=truncated,
        start_label=start_label,
        unrecorded_seconds=unrecorded_seconds(runs, spans, start, end, limit),
        recording_status=recording_status(camera.enabled, camera.last_segment_end, end, limit),
        last_segment_end=camera.last_segment_end,
    )


def unrecorded_seconds(runs, gaps, start: datetime, end: datetime, limit: timedelta) -> int:
    """Seconds of [start, end) with neither footage nor a gap.

    The stretch at the right edge shorter than the stale limit is footage still being written,
    not missing.
    """
    spans = sorted([(a, b) for a, b in runs] + [(g[1], g[2]) for g in gaps])
    total = 0.0
    cursor = start
    for a, b in spans:
        if a > cursor:
            total += (min(a, end) - cursor).total_seconds()
        cursor = max(cursor, min(b, end))
    tail = (end - cursor).total_seconds()
    if tail > limit.total_seconds():
        total += tail
    return int(total)


def recorded_runs(camera_id: str, start: datetime, end: datetime) -> list[tuple]:
    """Recorded footage in [start, end) as merged (start, end) runs, oldest first.

    Segments closer than one drawing unit merge, so 7 days of 60 s segments become a handful of
    runs. One pass in Python over the raw, naive-UTC column values (Core, no ORM row objects,
    no per-value type processing): measured several times faster than window functions on
    SQLite. Only run boundaries become aware datetimes.
    """
    stmt = (
        select(
            type_coerce(Segment.start_time, String),
            type_coerce(Segment.end_time, String),
        )
        .where(
            Segment.camera_id == camera_id,
            Segment.start_time < end,
            Segment.end_time > start,
        )
        .order_by(Segment.start_time)
    )
    tolerance = timedelta(seconds=(end - start).total_seconds() / UNITS)
    runs: list[list] = []
    last_end = None
    for raw_start, raw_end in db.session.connection().execute(stmt):
        seg_start = stored_time(raw_start)
        seg_end = stored_time(raw_end)
        if last_end is not None and seg_start - last_end <= tolerance:
            if seg_end > last_end:
                runs[-1][1] = last_end = seg_end
            continue
        last_end = seg_end
        runs.append([seg_start, seg_end])
    return [(max(a, start), min(b, end)) for a, b in runs]


class WindowGap(NamedTuple):
    """A gap as the timeline needs it: aware UTC times, no ORM row."""

    id: str
    gap_start: datetime
    gap_end: datetime
    gap_seconds: int
    fill_state: str


def gaps_in_window(camera_id: str, start: datetime, end: datetime) -> list[WindowGap]:
    """The camera's gaps overlapping [start, end), newest first, at most MAX_GAPS + 1.

    Raw column values and ``stored_time``, as in ``recorded_runs``: a week of gaps is thousands
    of rows, and per-value type processing cost more than the query.
    """
    stmt = (
        select(
            RecordingGap.id,
            type_coerce(RecordingGap.gap_start, String),
            type_coerce(RecordingGap.gap_end, String),
            RecordingGap.gap_seconds,
            RecordingGap.fill_state,
        )
        .where(
            RecordingGap.camera_id == camera_id,
            RecordingGap.gap_start < end,
            RecordingGap.gap_end > start,
        )
        .order_by(RecordingGap.gap_start.desc(), RecordingGap.id.desc())
        .limit(MAX_GAPS + 1)
    )
    return [
        WindowGap(gid, stored_time(a), stored_time(b), seconds, state)
        for gid, a, b, seconds, state in db.session.connection().execute(stmt).all()
    ]


def gap_summary(camera_id: str, start: datetime, end: datetime) -> tuple[dict[str, int], int]:
    """(count per state, seconds not filled) of every gap overlapping [start, end), in SQL.

    Sums run over the whole window, not the MAX_GAPS rows drawn; only the few gaps crossing an
    edge of the window are fetched, to take off the part of them outside it.
    """
    where = (
        RecordingGap.camera_id == camera_id,
        RecordingGap.gap_start < end,
        RecordingGap.gap_end > start,
    )
    counts: dict[str, int] = {}
    missing = 0
    rows = db.session.execute(
        select(RecordingGap.fill_state, func.count(), func.sum(RecordingGap.gap_seconds))
        .where(*where)
        .group_by(RecordingGap.fill_state)
    )
    for state, count, seconds in rows:
        counts[state] = int(count)
        if state != FILLED:
            missing += int(seconds or 0)
    edges = db.session.connection().execute(
        select(
            type_coerce(RecordingGap.gap_start, String),
            type_coerce(RecordingGap.gap_end, String),
            RecordingGap.gap_seconds,
        ).where(
            *where,
            RecordingGap.fill_state != FILLED,
            or_(RecordingGap.gap_start < start, RecordingGap.gap_end > end),
        )
    )
    for raw_start, raw_end, seconds in edges:
        inside = min(stored_time(raw_end), end) - max(stored_time(raw_start), start)
        missing -= int(seconds) - int(inside.total_seconds())
    return counts, missing


def summary_of(gaps, start: datetime, end: datetime) -> tuple[dict[str, int], int]:
    """``gap_summary`` worked out from the window's gaps already fetched (all of them)."""
    counts: dict[str, int] = {}
    missing = 0
    for g in gaps:
        state = g.fill_state
        counts[state] = counts.get(state, 0) + 1
        if state == FILLED:
            continue
        seconds = int(g.gap_seconds or 0)
        if g.gap_start < start or g.gap_end > end:
            inside = min(g.gap_end, end) - max(g.gap_start, start)
            seconds = int(inside.total_seconds())
        missing += seconds
    return counts, missing


def gap_spans(camera_id: str, start: datetime, end: datetime) -> list[tuple]:
    """(None, start, end) of every gap overlapping [start, end), as unrecorded_seconds reads."""
    stmt = select(
        type_coerce(RecordingGap.gap_start, String), type_coerce(RecordingGap.gap_end, String)
    ).where(
        RecordingGap.camera_id == camera_id,
        RecordingGap.gap_start < end,
        RecordingGap.gap_end > start,
    )
    return [
        (None, stored_time(a), stored_time(b)) for a, b in db.session.connection().execute(stmt)
    ]


def merge_marks(gaps, pct) -> list[Mark]:
    """Gaps as marks, oldest first; gaps drawn touching (``MERGE_PERCENT``) become one mark."""
    marks: list[Mark] = []
    for g in sorted(gaps, key=lambda r: (r.gap_start, r.id)):
        x = pct(g.gap_start)
        w = max(pct(g.gap_end) - x, MIN_MARK_PERCENT)
        x = round(min(x, 100.0 - w), 3)  # a gap that just began stays visible at the right edge
        last = marks[-1] if marks else None
        if last is not None and x <= last.x + last.w + MERGE_PERCENT and (w < 1 or last.w < 1):
            last.w = round(max(last.x + last.w, x + w) - last.x, 3)
            last.end = max(last.end, g.gap_end)
            last.gap_ids.append(g.id)
            last.seconds += g.gap_seconds
            if g.fill_state != last.state:
                last.mixed = True
            if SEVERITY[g.fill_state] > SEVERITY[last.state]:
                last.state = g.fill_state
            continue
        marks.append(
            Mark(
                x=x,
                w=round(w, 3),
                state=g.fill_state,
                start=g.gap_start,
                end=g.gap_end,
                gap_ids=[g.id],
                seconds=g.gap_seconds,
            )
        )
    return marks


def _label_half(label: str, width_px: float) -> float:
    """Half a label's width plus its gap, in percent of a timeline ``width_px`` wide."""
    return (len(label) * LABEL_CHAR_PX / 2 + LABEL_GAP_PX) / width_px * 100


def _tick_times(step: timedelta, start: datetime, end: datetime, tz) -> list[datetime]:
    """Round local times every ``step`` inside (start, end)."""
    local = start.astimezone(tz)
    if step >= timedelta(days=1):
        t = local.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    else:
        # Counted from local midnight, so 12 h ticks fall at midnight and noon and 3 h ticks at
        # 00, 03, 06 ... whatever the hour the window starts at.
        t = local.replace(hour=0, minute=0, second=0, microsecond=0)
        while t <= local:
            t = (t + step).astimezone(tz)
    out = []
    while t < end:
        out.append(t)
        # Wall-clock arithmetic in the zone: a DST change moves a tick, never duplicates one.
        t = (t + step).astimezone(tz)
        if step >= timedelta(days=1):
            t = t.replace(hour=0, minute=0).astimezone(tz)
        elif step >= timedelta(hours=1) and t.minute:
            t = t.replace(minute=0)
    return out


def ticks(
    range_key: str, start: datetime, end: datetime, tz_name: str, pct, start_label: str = ""
) -> list[tuple]:
    """Axis ticks on round local times: (x%, label, anchor, minor), never overlapping.

    Labels are kept only where they clear the edge labels and each other: major ticks at the
    narrowest width the page is drawn at, minor ticks at the width from which they show.
    """
    step, fmt = TICKS[range_key]
    tz = zone(tz_name)
    kept: list[tuple] = []
    named: set = set()  # local dates whose day name is on the axis

    def place(times, minor: bool, width_px: float) -> None:
        left = (len(start_label) * LABEL_CHAR_PX + LABEL_GAP_PX) / width_px * 100
        right = (len("now") * LABEL_CHAR_PX + LABEL_GAP_PX) / width_px * 100
        for t in times:
            x = pct(t)
            # A midnight the narrow layout had no room to name is named where minor ticks show
            # (7 d at 1440 px: every day labelled).
            # A day whose midnight found no room at all (the window's edges) is named at its noon.
            day = step >= timedelta(days=1) and (not (t.hour or t.minute) or t.date() not in named)
            label = t.strftime(fmt if not minor or step < timedelta(days=1) or day else "%H:%M")
            half = _label_half(label, width_px)
            if x - half < left or x + half > 100 - right:
                continue
            if any(abs(x - k[0]) < half + _label_half(k[1], width_px) for k in kept):
                continue
            kept.append((x, label, "middle", minor))
            if label == t.strftime(fmt):
                named.add(t.date())

    place(_tick_times(step, start, end, tz), False, NARROW_PX)
    place(_tick_times(MINOR_TICKS[range_key], start, end, tz), True, MINOR_MIN_PX)
    return sorted(kept)
