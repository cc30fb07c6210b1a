"""Claims on PostgreSQL: SKIP LOCKED, and a per-camera limit that holds across workers."""

import threading
import time
from collections import Counter

import pytest
from sqlalchemy import func
from sqlalchemy import select

from tests import factories
from tests.anr.conftest import FAST_ENGINE
from tests.anr.conftest import gap_now
from tests.anr.conftest import recent
from tests.anr.conftest import run_worker
from tests.anr.conftest import sim_camera
from webapp.anr import claims
from webapp.extensions import db as _db
from webapp.models import RecordingGap

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_app(require_postgres, make_app):
    """An app on the PostgreSQL test database, its tables fresh for this test."""
    app = make_app(SQLALCHEMY_DATABASE_URI=require_postgres, **FAST_ENGINE)
    with app.app_context():
        _db.drop_all()
        _db.create_all()
    yield app
    with app.app_context():
        _db.session.remove()
        _db.drop_all()
        _db.engine.dispose()


def _claim(worker_id, slots=4, per_camera=1):
    return [
        gap.id for gap in claims.claim(worker_id, slots, per_camera=per_camera, lease_seconds=30)
    ]


def _filling_per_camera() -> Counter:
    rows = _db.session.execute(
        select(RecordingGap.camera_id, func.count())
        .where(RecordingGap.fill_state == "filling")
        .group_by(RecordingGap.camera_id)
    )
    return Counter(dict(rows.all()))


def test_second_claimer_skips_what_the_first_holds_without_waiting(pg_app, simcam):
    with pg_app.app_context():
        for cam in ("a", "b"):
            sim_camera(simcam, cam)
            for minutes in (10, 20):
                factories.make_gap(cam, recent(minutes_ago=minutes), seconds=30)
    holding = threading.Event()
    release = threading.Event()
    first: list[str] = []

    def first_worker():
        with pg_app.app_context():
            first.extend(_claim("w1", slots=1))  # newest gap: camera b; locks held, uncommitted
            holding.set()
            release.wait(10)
            _db.session.commit()

    thread = threading.Thread(target=first_worker)
    thread.start()
    try:
        assert holding.wait(10)
        with pg_app.app_context():
            began = time.monotonic()
            second = _claim("w2", slots=4)
            _db.session.commit()
            assert time.monotonic() - began < 2  # skipped, not blocked
    finally:
        release.set()
        thread.join(10)
    with pg_app.app_context():
        cams = {gap_now(gap_id).camera_id for gap_id in first + second}
        assert len(first) == 1 and len(second) == 1 and cams == {"a", "b"}
        assert _filling_per_camera() == Counter({"a": 1, "b": 1})


def test_per_camera_limit_holds_across_two_concurrent_claimers(pg_app, simcam):
    with pg_app.app_context():
        for cam in ("a", "b", "c"):
            sim_camera(simcam, cam)
            for minutes in range(5, 45, 10):
                factories.make_gap(cam, recent(minutes_ago=minutes), seconds=30)
    start = threading.Barrier(2)
    claimed: dict[str, list[str]] = {"w1": [], "w2": []}

    def worker(worker_id):
        with pg_app.app_context():
            start.wait(10)
            for _ in range(6):
                claimed[worker_id].extend(_claim(worker_id, slots=2, per_camera=1))
                _db.session.commit()

    threads = [threading.Thread(target=worker, args=(w,)) for w in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not set(claimed["w1"]) & set(claimed["w2"])
    with pg_app.app_context():
        assert _filling_per_camera() == Counter({"a": 1, "b": 1, "c": 1})
        assert len(claimed["w1"]) + len(claimed["w2"]) == 3


def test_worker_fills_and_sweeps_on_postgres(pg_app, simcam):
    with pg_app.app_context():
        sim_camera(simcam)
        fresh = factories.make_gap("cam1", recent(), seconds=6)
        old = factories.make_gap("cam1", recent(minutes_ago=100 * 60), seconds=6)

        run_worker(pg_app)

        assert gap_now(fresh.id).fill_state == "filled"
        assert gap_now(old.id).fill_state == "expired"
