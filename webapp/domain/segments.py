"""Adding footage: the one writer of segment rows and of ``cameras.last_segment_end``.

The indexer, the worker, the demo and the test factories all add segments here, so the camera's
newest footage moves with every row whatever code wrote it (design.md). Rows go in with a Core
``INSERT ... ON CONFLICT DO NOTHING`` (the indexer and a worker may race on the same file); a
Segment's column values are copied as they are, so a new column needs no change here.
"""

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import bindparam
from sqlalchemy import or_
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sq_insert

from ..extensions import db
from ..models import Camera
from ..models import Segment

# The statements are built once: a worker adds a segment per fill, and building one costs more
# than running it (the values go in as parameters; a column left None keeps its default).
_INSERTS = {
    dialect: insert(Segment.__table__)
    .on_conflict_do_nothing(index_elements=["camera_id", "path"])
    .returning(Segment.__table__.c.id)
    for dialect, insert in (("postgresql", pg_insert), ("sqlite", sq_insert))
}
_cameras = Camera.__table__
_ADVANCE = (
    update(_cameras)
    .where(
        _cameras.c.id == bindparam("camera_id"),
        or_(_cameras.c.last_segment_end.is_(None), _cameras.c.last_segment_end < bindparam("end")),
    )
    .values(last_segment_end=bindparam("end"))
)


def add_segments(segments: Iterable[Segment]) -> int:
    """Insert segments unless their file is already indexed; returns how many were new."""
    columns = [c.key for c in Segment.__table__.columns]
    dialect = db.session.get_bind().dialect.name
    statement = _INSERTS["postgresql" if dialect == "postgresql" else "sqlite"]
    newest: dict[str, datetime] = {}
    added = 0
    for segment in segments:
        values = {key: value for key in columns if (value := getattr(segment, key)) is not None}
        inserted = db.session.execute(statement, values).first()
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
    db.session.execute(_ADVANCE, {"camera_id": camera_id, "end": end})
