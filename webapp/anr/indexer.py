"""The indexer: archive files become segments, holes between them become gaps.

Files are ``ANR_RECORDINGS_DIR/<camera>/YYYYmmdd_HHMMSS.mp4``, named by their UTC start. A rescan
stats every file but probes only new or changed ones (size and mtime kept on the segment row), and
looks for holes and covered gaps only when something changed.
"""

import logging
import os
import time
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError

from ..domain import gapstate
from ..domain.evidence import sha256_file
from ..domain.segments import add_segment
from ..domain.states import COVERABLE as COVERABLE_STATES
from ..domain.states import GapState
from ..extensions import db
from ..models import Camera
from ..models import RecordingGap
from ..models import Segment
from ..models import utcnow
from .media import archive_start
from .media import is_archive_name
from .media import probe_duration

log = logging.getLogger(__name__)

# The newest file touched within segment_seconds + 15 s is still being written (docs/design.md).
WRITING_GRACE_S = 15
# Segments indexed before hashes were kept get theirs a few at a time, so the first pass after
# an upgrade does not stall on a large archive (docs/design.md, Evidence).
HASH_BACKFILL_PER_PASS = 100


@dataclass
class IndexReport:
    """What one camera's scan changed."""

    camera_id: str
    added: int = 0
    updated: int = 0
    removed: int = 0
    gaps_created: int = 0
    gaps_filled: int = 0
    hashed: int = 0  # files indexed before hashes were kept, hashed now
    still_writing: str | None = None

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)


def segment_for(
    camera_id: str,
    path: Path,
    ffmpeg: str = "",
    sha256: str | None = None,
    duration: float | None = None,
) -> Segment | None:
    """A Segment row for an archive file, duration probed by ffmpeg; None if it cannot be read.

    ``sha256``: the hash its writer took; a file nobody vouches for is hashed here.
    ``duration``: the length its writer measured (a download's cut); else it is probed.
    """
    start = archive_start(path.name)
    if start is None:
        return None
    stat = path.stat()
    duration = duration or probe_duration(path, ffmpeg)
    if not duration:
        log.warning("camera %s: %s is not readable footage; not indexed", camera_id, path.name)
        return None
    return Segment(
        camera_id=camera_id,
        path=path.name,
        start_time=start,
        end_time=start + timedelta(seconds=duration),
        duration_s=round(duration, 3),
        size_bytes=stat.st_size,
        mtime=stat.st_mtime,
        sha256=sha256 or sha256_file(path),
    )


def _archive_files(folder: Path) -> dict[str, os.stat_result]:
    files = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            if is_archive_name(entry.name) and entry.is_file():
                files[entry.name] = entry.stat()
    return files


def index_camera(
    camera: Camera, root: Path, *, min_gap_s: float, ffmpeg: str = "", now: float | None = None
) -> IndexReport:
    """Bring one camera's segments, gaps and covered gaps in step with its folder."""
    report = IndexReport(camera.id)
    folder = root / camera.id
    if not folder.is_dir():
        return report
    now = now if now is not None else time.time()
    files = _archive_files(folder)
    if files:
        newest = max(files)
        if now - files[newest].st_mtime < camera.segment_seconds + WRITING_GRACE_S:
            report.still_writing = newest
            del files[newest]
    # Only rows named by a bare archive file are the indexer's; others (demo data) are left be.
    known = {
        row.path: row
        for row in db.session.execute(
            select(
                Segment.id, Segment.path, Segment.size_bytes, Segment.mtime, Segment.sha256
            ).where(Segment.camera_id == camera.id, Segment.path.not_like("%/%"))
        )
    }
    gone = [r.id for name, r in known.items() if name not in files and name != report.still_writing]
    if gone:
        db.session.execute(delete(Segment).where(Segment.id.in_(gone)))
        report.removed = len(gone)
    backfill = HASH_BACKFILL_PER_PASS
    for name, stat in files.items():
        row = known.get(name)
        if row is not None and row.size_bytes == stat.st_size and row.mtime == stat.st_mtime:
            if row.sha256 is None and backfill > 0:  # indexed before hashes were kept
                backfill -= 1
                db.session.execute(
                    update(Segment)
                    .where(Segment.id == row.id)
                    .values(sha256=sha256_file(folder / name))
                )
                report.hashed += 1
            continue
        # A changed archive file keeps the hash taken first, so `flask anr verify` reports it.
        segment = segment_for(camera.id, folder / name, ffmpeg, row.sha256 if row else None)
        if segment is None:
            continue
        if row is not None:
            db.session.execute(delete(Segment).where(Segment.id == row.id))
            report.updated += 1
        if add_segment(segment) and row is None:
            report.added += 1
    if report.changed:
        db.session.flush()
        _reconcile_gaps(camera.id, min_gap_s, report)
    db.session.commit()
    return report


def _covered_spans(camera_id: str, tolerance_s: float) -> list[tuple[datetime, datetime]]:
    """The camera's segments merged into spans; pieces closer than ``tolerance_s`` join."""
    spans: list[list[datetime]] = []
    tolerance = timedelta(seconds=tolerance_s)
    rows = db.session.execute(
        select(Segment.start_time, Segment.end_time)
        .where(Segment.camera_id == camera_id)
        .order_by(Segment.start_time)
    )
    for start, end in rows:
        if spans and start <= spans[-1][1] + tolerance:
            spans[-1][1] = max(spans[-1][1], end)
        else:
            spans.append([start, end])
    return [(start, end) for start, end in spans]


def _reconcile_gaps(camera_id: str, min_gap_s: float, report: IndexReport) -> None:
    """Record each hole between spans as a gap; mark gaps that spans now cover as filled."""
    spans = _covered_spans(camera_id, min_gap_s)
    for (_, hole_start), (hole_end, _) in zip(spans, spans[1:], strict=False):
        clash = gapstate.overlapping_gap(camera_id, hole_start, hole_end)
        # A hole inside a known gap (what an earlier partial fill left) is that gap's business.
        if clash is None or clash.gap_start == hole_start:
            _, created = gapstate.record_gap(camera_id, hole_start, hole_end)
            report.gaps_created += int(created)
    if not spans:
        return
    slack = timedelta(seconds=min_gap_s)
    gaps = (
        db.session.execute(
            gapstate.skip_locked(
                select(RecordingGap).where(
                    RecordingGap.camera_id == camera_id,
                    RecordingGap.fill_state.in_(COVERABLE_STATES),
                    RecordingGap.gap_start >= spans[0][0] - slack,
                    RecordingGap.gap_end <= spans[-1][1] + slack,
                )
            )
        )
        .scalars()
        .all()
    )
    for gap in gaps:
        covered = any(s <= gap.gap_start + slack and e >= gap.gap_end - slack for s, e in spans)
        if covered and gapstate.change_state_if_current(
            gap,
            GapState.FILLED,
            filled_at=utcnow(),
            recovered_seconds=float(gap.gap_seconds),
            last_error=None,
        ):
            report.gaps_filled += 1


def index_all(now: float | None = None) -> list[IndexReport]:
    """Scan every camera's folder once (inside an app context)."""
    cfg = current_app.config
    root = Path(cfg["ANR_RECORDINGS_DIR"])
    reports = []
    for camera in db.session.execute(select(Camera).order_by(Camera.id)).scalars().all():
        try:
            reports.append(
                index_camera(
                    camera,
                    root,
                    min_gap_s=float(cfg["ANR_MIN_GAP_SECONDS"]),
                    ffmpeg=cfg.get("ANR_FFMPEG_BIN", ""),
                    now=now,
                )
            )
        except (OSError, SQLAlchemyError) as exc:
            # One camera's unreadable folder or a busy database must not stop the others.
            db.session.rollback()
            log.error("camera %s: folder could not be indexed: %s", camera.id, exc)
    return reports
