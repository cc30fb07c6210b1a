"""Every mutation writes its audit row in the same transaction; refused ones write none."""

from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event

from tests.factories import BASE_TIME
from tests.factories import make_camera
from tests.factories import make_gap
from webapp.models import AuditLog
from webapp.models import RecordingGap
from webapp.models import utcnow


@pytest.fixture
def cam(db):
    make_camera("cam1")
    return "cam1"


def _actions(db):
    db.session.expire_all()
    return [r.action for r in db.session.scalars(db.select(AuditLog).order_by(AuditLog.created_at))]


def _window(minutes_ago=120, seconds=60):
    start = (utcnow() - timedelta(minutes=minutes_ago)).replace(microsecond=0)
    return {
        "gap_start": start.isoformat().replace("+00:00", "Z"),
        "gap_end": (start + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z"),
    }


def test_each_api_mutation_writes_exactly_one_audit_row(cam, db, login_as, client):
    failed = make_gap(cam, BASE_TIME, state="failed")
    make_gap(cam, BASE_TIME + timedelta(hours=1), state="partial")
    filling = make_gap(cam, BASE_TIME + timedelta(hours=2), state="filling")
    manager = login_as("manager")
    key = login_as("integration")
    steps = [
        (
            lambda: manager.post(f"/api/v1/cameras/{cam}/recording-gaps/{failed.id}/retry"),
            "anr_retry_gap",
        ),
        (
            lambda: manager.post(f"/api/v1/cameras/{cam}/recording-gaps/retry-failed"),
            "anr_retry_failed",
        ),
        (
            lambda: manager.post(f"/api/v1/cameras/{cam}/recording-gaps/{filling.id}/stop"),
            "anr_stop_fill",
        ),
        (
            lambda: manager.post(f"/api/v1/cameras/{cam}/recording-gaps", json=_window(300)),
            "anr_manual_window",
        ),
        (
            lambda: client.post(
                f"/api/v1/cameras/{cam}/recording-gaps", json=_window(100), headers=key
            ),
            "anr_ingest_gap",
        ),
    ]
    for call, action in steps:
        before = _actions(db)
        resp = call()
        assert resp.status_code in (200, 201), (action, resp.json)
        assert _actions(db) == before + [action]


def test_refused_mutations_write_no_audit_row(cam, db, login_as, client):
    filled = make_gap(cam, BASE_TIME, state="filled")
    failed = make_gap(cam, BASE_TIME + timedelta(hours=1), state="failed")
    viewer = login_as("viewer")
    manager = login_as("manager")
    refused = [
        viewer.post(f"/api/v1/cameras/{cam}/recording-gaps/{failed.id}/retry"),  # 403
        viewer.post(f"/api/v1/cameras/{cam}/recording-gaps/retry-failed"),  # 403
        manager.post(f"/api/v1/cameras/{cam}/recording-gaps/{filled.id}/retry"),  # 409
        manager.post(f"/api/v1/cameras/{cam}/recording-gaps/{failed.id}/stop"),  # 409
        manager.post(f"/api/v1/cameras/{cam}/recording-gaps/nope/retry"),  # 404
        manager.post(f"/api/v1/cameras/{cam}/recording-gaps", json={"gap_start": "x"}),  # 422
    ]
    assert [r.status_code for r in refused] == [403, 403, 409, 409, 404, 422]
    assert _actions(db) == []


@contextmanager
def failing_audit_inserts():
    """Every audit insert fails while the block runs (a broken audit table)."""

    def boom(*_args):
        raise RuntimeError("audit table unavailable")

    event.listen(AuditLog, "before_insert", boom)
    try:
        yield
    finally:
        event.remove(AuditLog, "before_insert", boom)


def test_failing_audit_insert_rolls_the_retry_back(cam, db, login_as):
    gap = make_gap(cam, state="failed", fill_attempts=3, last_error="camera said no")
    manager = login_as("manager")
    with failing_audit_inserts():
        resp = manager.post(f"/api/v1/cameras/{cam}/recording-gaps/{gap.id}/retry")
    assert resp.status_code == 500 and resp.json["code"] == "internal_error"
    db.session.expire_all()
    again = db.session.get(RecordingGap, gap.id)
    assert again.fill_state == "failed" and again.fill_attempts == 3
    assert again.last_error == "camera said no" and again.manual_retry is False
    assert _actions(db) == []
    counts = manager.get("/api/v1/cameras").json[0]["counts"]
    assert counts["failed"] == 1 and counts["pending"] == 0


def test_failing_audit_insert_rolls_the_bulk_retry_back(cam, db, login_as):
    make_gap(cam, BASE_TIME, state="failed")
    make_gap(cam, BASE_TIME + timedelta(hours=1), state="expired")
    manager = login_as("manager")
    with failing_audit_inserts():
        resp = manager.post(f"/api/v1/cameras/{cam}/recording-gaps/retry-failed")
    assert resp.status_code == 500
    db.session.expire_all()
    states = sorted(g.fill_state for g in db.session.scalars(db.select(RecordingGap)))
    assert states == ["expired", "failed"]


def test_audit_row_records_actor_role_ip_and_time(cam, db, login_as):
    gap = make_gap(cam, state="failed")
    manager = login_as("manager", username="boss")
    manager.post(f"/api/v1/cameras/{cam}/recording-gaps/{gap.id}/retry")
    row = db.session.scalars(db.select(AuditLog)).one()
    assert row.actor_name == "boss" and row.role == "manager"
    assert row.ip == "127.0.0.1" and row.created_at is not None


def test_audit_rows_cannot_be_changed_through_any_route(app):
    methods = {m for rule in app.url_map.iter_rules() if "audit" in rule.rule for m in rule.methods}
    assert methods <= {"GET", "HEAD", "OPTIONS"}
