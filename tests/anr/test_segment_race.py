"""The indexer and the worker adding the same new file: the second insert is skipped."""

from datetime import timedelta

from tests.factories import BASE_TIME
from tests.factories import make_camera
from webapp.anr.indexer import add_segment
from webapp.models import Segment


def _segment(size: int) -> Segment:
    return Segment(
        camera_id="cam1",
        path="20260613_120000.mp4",
        start_time=BASE_TIME,
        end_time=BASE_TIME + timedelta(seconds=60),
        duration_s=60.0,
        size_bytes=size,
        mtime=1.0,
    )


def test_the_second_insert_of_a_file_is_skipped_not_a_rolled_back_pass(db):
    make_camera("cam1")
    assert add_segment(_segment(100)) is True  # the worker, right after its fill
    assert add_segment(_segment(100)) is False  # the indexer, from its older snapshot
    db.session.commit()  # the pass goes on and commits: no unique-constraint error
    rows = db.session.scalars(db.select(Segment)).all()
    assert len(rows) == 1 and rows[0].size_bytes == 100
