"""Adding footage: the one writer of segment rows and of ``cameras.last_segment_end``.

The indexer, the worker, the demo and the test factories all add segments here, so the camera's
newest footage moves with every row whatever code wrote it (design.md). Rows go in with a Core
``INSERT ... ON CONFLICT DO NOTHING`` (the indexer and a worker may race on the same file); a
Segment's column values are copied as they are, so a new column needs no change here.
"""

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import or_
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sq_insert

from ..extensions import db
from ..models import Camera
from ..models import Segment


def add_segments(segments: Iterable[Segment]) -> int:
    """Insert segments unless their file is already indexed; returns how many were new."""
    table = Segment.__table__
    dialect = db.session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sq_insert
    newest: dict[str, datetime] = {}
    added = 0
    for segment in segments:
        values = {
            c.key: getattr(segment, c.key)
            for c in table.columns
            if getattr(segment, c.key) is not None
        }
        inserted = db.session.execute(
            insert(table)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["camera_id", "path"])
            .returning(table.c.id)
        ).first()
        if inserted is None:
            continue
        added += 1
        cam = segment.camera_id
        if cam not in newest or segment.end_time > newest[cam]:
            newest[cam] = segment.end_time
    for camera_id, end in newest.items():
        advance_last_segment_end(camera_id, end)
    return added


def add_segment(segment: Segment) -> bool:
    """``add_segments`` for one file; False when it was indexed already."""
    return add_segments([segment]) == 1


def advance_last_segment_end(camera_id: str, end: datetime) -> None:
    """Move the camera's newest footage to ``end`` if that is later (never backwards)."""
    db.session.execute(
        update(Camera)
        .where(
            Camera.id == camera_id,
            or_(Camera.last_segment_end.is_(None), Camera.last_segment_end < end),
        )
        .values(last_segment_end=end)
        .execution_options(synchronize_session=False)
    )
