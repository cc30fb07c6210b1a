"""SPEC §19: what the console shows comes from the real writers (indexer, worker, API)."""

import os
import time
from datetime import timedelta

from tests import factories
from tests.anr.conftest import archive_path
from tests.anr.conftest import recent
from webapp.anr import indexer
from webapp.devtools.footage import render_footage


def _archive_file(app, camera_id, start, seconds, age_s=3600):
    path = archive_path(app, camera_id, start)
    path.parent.mkdir(parents=True, exist_ok=True)
    render_footage(start, seconds, path)
    os.utime(path, (time.time() - age_s,) * 2)
    return path


def test_indexed_real_files_make_the_camera_recording(app, db, login_as):
    """The indexer's Core insert moves ``last_segment_end``: the API says recording, not never."""
    factories.make_camera("cam1")
    factories.make_camera("quiet")
    start = recent(minutes_ago=2)
    _archive_file(app, "cam1", start, 4)
    _archive_file(app, "cam1", start + timedelta(seconds=4), 4)
    assert sum(r.added for r in indexer.index_all()) == 2
    viewer = login_as("viewer")
    cameras = {c["id"]: c for c in viewer.get("/api/v1/cameras").json}
    assert cameras["cam1"]["recording_status"] == "ok"
    assert cameras["cam1"]["last_segment_end"].startswith(
        (start + timedelta(seconds=8)).strftime("%Y-%m-%dT%H:%M")
    )
    assert cameras["quiet"]["recording_status"] == "never"
