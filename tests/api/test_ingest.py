"""Gap ingest (idempotent, 422 rules), chosen windows (409 overlap) and the holes endpoint."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from tests.factories import make_api_key
from tests.factories import make_camera
from tests.factories import make_gap
from webapp.extensions import db as _db
from webapp.models import RecordingGap
from webapp.models import Segment
from webapp.models import utcnow

URL = "/api/v1/cameras/cam1/recording-gaps"


def z(dt):
    return dt.isoformat().replace("+00:00", "Z")


@pytest.fixture
def cam(db):
    make_camera("cam1")
    return "cam1"


@pytest.fixture
def key(login_as):
    return login_as("integration")


def test_ingest_creates_then_is_idempotent_and_extends(cam, client, key, db):
    start = (utcnow() - timedelta(hours=1)).replace(microsecond=0)
    body = {"gap_start": z(start), "gap_end": z(start + timedelta(seconds=30))}
    first = client.post(URL, json=body, headers=key)
    assert first.status_code == 201 and first.json["gap_seconds"] == 30
    again = client.post(URL, json=body, headers=key)
    assert again.status_code == 200 and again.json["id"] == first.json["id"]
    longer = dict(body, gap_end=z(start + timedelta(seconds=90)))
    extended = client.post(URL, json=longer, headers=key)
    assert extended.status_code == 200 and extended.json["gap_seconds"] == 90
    shorter = client.post(URL, json=body, headers=key)
    assert shorter.json["gap_seconds"] == 90  # an earlier end never shrinks it
    assert db.session.scalar(db.select(db.func.count()).select_from(RecordingGap)) == 1
    counts = client.get("/api/v1/cameras", headers=key).json[0]
    assert counts["counts"]["pending"] == 1 and counts["missing_seconds"] == 90


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"gap_start": "yesterday", "gap_end": "2026-01-01T00:00:00Z"}, "gap_start"),
        ({"gap_start": "2026-01-01T00:00:00Z", "gap_end": 12}, "gap_end"),
        ({"gap_start": "2026-01-01T00:01:00Z", "gap_end": "2026-01-01T00:00:00Z"}, "gap_end"),
        ({"gap_start": "2026-01-01T00:00:00Z", "gap_end": "2026-01-01T00:00:00Z"}, "gap_end"),
        ({"gap_start": "2026-01-01T00:00:00Z", "gap_end": "2026-02-02T00:00:00Z"}, "gap_end"),
        ({"gap_start": "2099-01-01T00:00:00Z", "gap_end": "2099-01-01T00:01:00Z"}, "gap_start"),
        ({"gap_end": "2026-01-01T00:00:00Z"}, "gap_start"),
    ],
)
def test_ingest_validation_is_422_per_field(cam, client, key, db, body, field):
    resp = client.post(URL, json=body, headers=key)
    assert resp.status_code == 422
    assert resp.json["code"] == "validation_failed" and field in resp.json["fields"]
    assert db.session.scalar(db.select(db.func.count()).select_from(RecordingGap)) == 0


@pytest.mark.parametrize("raw", ["not json", "[1, 2]", "null", '"text"'])
def test_ingest_non_object_body_is_400(cam, client, key, raw):
    resp = client.post(URL, data=raw, headers={**key, "Content-Type": "application/json"})
    assert resp.status_code == 400 and resp.json["code"] == "invalid_json"


def test_manager_queues_a_chosen_window_as_manual(cam, login_as, db):
    manager = login_as("manager")
    start = (utcnow() - timedelta(hours=200)).replace(microsecond=0)  # older than retention
    resp = manager.post(
        URL, json={"gap_start": z(start), "gap_end": z(start + timedelta(minutes=2))}
    )
    assert resp.status_code == 201
    assert resp.json["manual_retry"] is True and resp.json["fill_state"] == "pending"


def test_chosen_window_overlapping_a_gap_is_409_naming_it(cam, login_as, db):
    manager = login_as("manager")
    start = (utcnow() - timedelta(hours=2)).replace(microsecond=0)
    first = manager.post(
        URL, json={"gap_start": z(start), "gap_end": z(start + timedelta(minutes=5))}
    )
    clash = manager.post(
        URL,
        json={
            "gap_start": z(start + timedelta(minutes=1)),
            "gap_end": z(start + timedelta(minutes=9)),
        },
    )
    assert clash.status_code == 409 and clash.json["code"] == "gap_overlap"
    assert first.json["id"] in clash.json["error"]


def test_holes_endpoint_computes_absences(cam, login_as, db):
    t0 = (utcnow() - timedelta(hours=1)).replace(microsecond=0)
    for offset, length in ((0, 60), (60, 60), (200, 60), (262, 60)):
        s = t0 + timedelta(seconds=offset)
        db.session.add(
            Segment(
                camera_id=cam,
                path=f"{offset}.mp4",
                start_time=s,
                end_time=s + timedelta(seconds=length),
                duration_s=length,
            )
        )
    db.session.commit()
    viewer = login_as("viewer")
    resp = viewer.get(
        f"/api/v1/cameras/{cam}/gaps",
        query_string={"from": z(t0), "to": z(t0 + timedelta(seconds=400))},
    )
    assert resp.status_code == 200
    assert resp.json == [
        {
            "start": z(t0 + timedelta(seconds=120)),
            "end": z(t0 + timedelta(seconds=200)),
            "seconds": 80.0,
        },
        {
            "start": z(t0 + timedelta(seconds=322)),
            "end": z(t0 + timedelta(seconds=400)),
            "seconds": 78.0,
        },
    ]  # the 2 s hole at 260 s is under min_seconds=3


@pytest.mark.parametrize(
    "query",
    [
        {"from": "2026-01-01T00:00:00Z", "to": "2026-01-09T00:00:00Z"},
        {"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        {"from": "garbage"},
        {"min_seconds": "abc"},
        {"min_seconds": "-1"},
    ],
)
def test_holes_endpoint_rejects_bad_windows(cam, login_as, query):
    viewer = login_as("viewer")
    resp = viewer.get(f"/api/v1/cameras/{cam}/gaps", query_string=query)
    assert resp.status_code == 400 and resp.json["code"] == "invalid_window"


def test_database_busy_is_503_with_retry_after(cam, login_as, app, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from webapp.api import views
    from webapp.domain import gap_queries as queries

    def locked(*_a, **_k):
        raise OperationalError("SELECT", {}, Exception("database is locked"))

    monkeypatch.setattr(queries, "list_gaps", locked)
    monkeypatch.setattr(views, "list_gaps", locked)
    viewer = login_as("viewer")
    resp = viewer.get(URL)
    assert resp.status_code == 503
    assert resp.headers["Retry-After"] == "2" and resp.json["code"] == "db_busy"


def test_ingest_audits_new_and_extended_gaps_but_not_repeats(cam, client, key, db):
    from webapp.models import AuditLog

    start = (utcnow() - timedelta(hours=1)).replace(microsecond=0)
    body = {"gap_start": z(start), "gap_end": z(start + timedelta(seconds=30))}
    client.post(URL, json=body, headers=key)
    client.post(URL, json=body, headers=key)
    client.post(URL, json=dict(body, gap_end=z(start + timedelta(seconds=45))), headers=key)
    rows = db.session.scalars(db.select(AuditLog).order_by(AuditLog.created_at)).all()
    assert [(r.action, r.detail["created"]) for r in rows] == [
        ("anr_ingest_gap", True),
        ("anr_ingest_gap", False),
    ]
    assert rows[0].actor_name == "key:integration-key" and rows[0].role == "integration"


def test_later_end_of_a_filled_gap_becomes_its_own_pending_gap(cam, client, key, db):
    """Re-reporting a filled gap's start with a later end never marks the new stretch filled."""
    start = (utcnow() - timedelta(hours=6)).replace(microsecond=0)
    filled = make_gap(cam, start, 40, "filled", recovered_seconds=40.0)
    later = {"gap_start": z(start), "gap_end": z(start + timedelta(hours=5, seconds=40))}
    resp = client.post(URL, json=later, headers=key)
    assert resp.status_code == 201
    assert resp.json["id"] != filled.id and resp.json["fill_state"] == "pending"
    assert resp.json["gap_start"] == z(start + timedelta(seconds=40))
    assert resp.json["gap_seconds"] == 5 * 3600
    again = client.post(URL, json=dict(later, gap_end=z(start + timedelta(hours=6))), headers=key)
    assert again.status_code == 200 and again.json["id"] == resp.json["id"]  # extends the tail
    kept = db.session.get(RecordingGap, filled.id)
    assert (kept.fill_state, kept.gap_seconds, kept.recovered_seconds) == ("filled", 40, 40.0)
    counts = client.get("/api/v1/cameras", headers=key).json[0]
    assert counts["counts"]["filled"] == 1 and counts["counts"]["pending"] == 1
    assert counts["missing_seconds"] == 6 * 3600 - 40


def test_ingest_overlapping_a_gap_with_another_start_is_409(cam, client, key, db):
    start = (utcnow() - timedelta(hours=2)).replace(microsecond=0)
    first = client.post(
        URL, json={"gap_start": z(start), "gap_end": z(start + timedelta(minutes=5))}, headers=key
    )
    inside = {
        "gap_start": z(start + timedelta(minutes=1)),
        "gap_end": z(start + timedelta(minutes=9)),
    }
    clash = client.post(URL, json=inside, headers=key)
    assert clash.status_code == 409 and clash.json["code"] == "gap_overlap"
    assert first.json["id"] in clash.json["error"]
    assert db.session.scalar(db.select(db.func.count()).select_from(RecordingGap)) == 1


@pytest.fixture
def pg_app(require_postgres, make_app):
    from tests.test_migrations_and_postgres import _reset_postgres

    _reset_postgres(require_postgres)
    app = make_app(SQLALCHEMY_DATABASE_URI=require_postgres)
    yield app
    with app.app_context():
        _db.session.remove()
        _db.engine.dispose()
    _reset_postgres(require_postgres)


@pytest.mark.postgres
def test_racing_overlapping_windows_make_one_gap_on_postgres(pg_app):
    """8 managers choose overlapping windows at once: one gap, seven 409s."""
    with pg_app.app_context():
        make_camera("cam1")
        token = make_api_key("manager")
    start = (utcnow() - timedelta(hours=2)).replace(microsecond=0)
    barrier = threading.Barrier(8)

    def choose(i: int) -> int:
        client = pg_app.test_client()
        body = {
            "gap_start": z(start + timedelta(seconds=10 * i)),
            "gap_end": z(start + timedelta(minutes=5, seconds=10 * i)),
        }
        barrier.wait(timeout=30)
        headers = {"Authorization": f"Bearer {token}"}
        return client.post(URL, json=body, headers=headers).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = sorted(pool.map(choose, range(8)))
    assert codes == [201] + [409] * 7
    with pg_app.app_context():
        count = _db.session.scalar(_db.select(_db.func.count()).select_from(RecordingGap))
    assert count == 1
