"""Hostile and odd input answers a clear 4xx, never a 500, and changes nothing."""

import threading
from datetime import timedelta

import pytest
from sqlalchemy import text

from tests.factories import make_camera
from tests.factories import make_gap
from webapp.domain import gapstate
from webapp.masking import mask_credentials
from webapp.models import AuditLog
from webapp.models import RecordingGap
from webapp.models import utcnow


@pytest.fixture
def cam(db):
    make_camera("cam1")
    return "cam1"


def z(dt):
    return dt.isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize(
    ("method", "url", "kw"),
    [
        ("post", "/api/v1/cameras/cam1/recording-gaps/ab%00cd/retry", {}),
        ("get", "/api/v1/cameras/cam1/recording-gaps?state=fail%00ed", {}),
        ("get", "/audit?actor=a%00b", {}),
        ("post", "/login", {"data": {"username": "a\x00b", "password": "x"}}),
    ],
)
def test_nul_bytes_are_a_400(cam, login_as, method, url, kw):
    manager = login_as("manager")
    resp = getattr(manager, method)(url, **kw)
    assert resp.status_code == 400


@pytest.mark.parametrize(
    "query",
    [
        {"to": "0001-01-01T00:00:00Z"},
        {"from": "0001-01-01T00:00:00+01:00"},
        {"to": "9999-12-31T23:59:59-01:00"},
    ],
)
def test_out_of_range_times_are_refused(cam, login_as, query):
    viewer = login_as("viewer")
    assert viewer.get("/api/v1/cameras/cam1/gaps", query_string=query).status_code == 400


def test_out_of_range_ingest_is_422(cam, login_as):
    key = login_as("integration")
    from flask import current_app

    client = current_app.test_client()
    resp = client.post(
        "/api/v1/cameras/cam1/recording-gaps",
        json={"gap_start": "2026-01-01T00:00:00Z", "gap_end": "9999-12-31T23:59:59-01:00"},
        headers=key,
    )
    assert resp.status_code == 422


def test_sub_second_gap_is_refused(cam, login_as, db):
    key = login_as("integration")
    from flask import current_app

    start = (utcnow() - timedelta(hours=1)).replace(microsecond=0)
    resp = current_app.test_client().post(
        "/api/v1/cameras/cam1/recording-gaps",
        json={"gap_start": z(start), "gap_end": z(start + timedelta(milliseconds=500))},
        headers=key,
    )
    assert resp.status_code == 422 and "gap_end" in resp.json["fields"]
    assert db.session.scalars(db.select(RecordingGap)).all() == []


def test_cookie_plus_junk_bearer_is_not_the_session(cam, login_as, db):
    gap = make_gap(cam, state="failed")
    manager = login_as("manager")
    resp = manager.client.post(
        f"/api/v1/cameras/cam1/recording-gaps/{gap.id}/retry",
        headers={"Authorization": "Bearer junk"},
    )
    assert resp.status_code == 401
    db.session.expire_all()
    assert db.session.get(RecordingGap, gap.id).fill_state == "failed"


def test_a_change_based_on_a_stale_read_loses(cam, db):
    gap = make_gap(cam, state="pending")
    # Another writer claims it behind this session's back.
    db.session.execute(
        text("UPDATE recording_gaps SET fill_state = 'filling' WHERE id = :id"), {"id": gap.id}
    )
    with pytest.raises(gapstate.GapConflict):
        gapstate.change_state(gap, "expired")
    assert gapstate.change_state_if_current(gap, "expired") is False


def test_retry_racing_a_claim_answers_409_not_a_lost_update(cam, login_as, db, monkeypatch):
    gap = make_gap(cam, state="pending")
    manager = login_as("manager")
    from webapp.domain import gap_actions as actions

    real = actions.gap_of

    def claimed_meanwhile(camera, gap_id, lock=False):
        loaded = real(camera, gap_id, lock)
        db.session.execute(
            text("UPDATE recording_gaps SET fill_state = 'filling' WHERE id = :id"), {"id": gap_id}
        )
        return loaded

    monkeypatch.setattr(actions, "gap_of", claimed_meanwhile)
    resp = manager.post(f"/api/v1/cameras/cam1/recording-gaps/{gap.id}/retry")
    assert resp.status_code == 409
    assert db.session.scalars(db.select(AuditLog)).all() == []


def test_camera_credentials_in_a_template_never_reach_the_audit_log(app, runner, db):
    result = runner.invoke(
        args=[
            "cameras",
            "add",
            "c9",
            "--name",
            "x",
            "--template",
            "rtsp://admin:Hunter2pw@10.0.0.9/replay?s={start}",
        ]
    )
    # Refused with a pointer to the credential fields: nothing stored, nothing audited.
    assert result.exit_code != 0 and "Username and Password fields" in result.output
    assert "Hunter2pw" not in result.output
    assert db.session.scalars(db.select(AuditLog)).all() == []


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("rtsp://admin:p@ss@cam/x", "rtsp://***@cam/x"),
        ("http://u:pw@h:80/a?email=x@y", "http://***@h:80/a?email=x@y"),
        ("rtsp://cam/x?password=s3cret&a=1", "rtsp://cam/x?password=***&a=1"),
    ],
)
def test_masking(url, shown):
    assert mask_credentials(url) == shown


def test_templates_with_format_specs_are_refused_at_save(db):
    from webapp.domain.cameras import validate

    for template in ("http://h/{channel:d}", "http://h/{start!r}", "http://h/{nope}"):
        _, errors = validate(
            {"id": "cx", "name": "x", "anr_replay_url_template": template}, creating=True
        )
        assert "anr_replay_url_template" in errors


@pytest.mark.postgres
def test_concurrent_identical_ingest_on_postgres_never_500s(require_postgres, make_app):
    from tests.factories import make_api_key
    from tests.test_migrations_and_postgres import _reset_postgres

    _reset_postgres(require_postgres)
    app = make_app(SQLALCHEMY_DATABASE_URI=require_postgres)
    try:
        with app.app_context():
            make_camera("cam1")
            token = make_api_key("integration")
        start = (utcnow() - timedelta(hours=1)).replace(microsecond=0)
        body = {"gap_start": z(start), "gap_end": z(start + timedelta(seconds=30))}
        codes = []

        def report():
            client = app.test_client()
            resp = client.post(
                "/api/v1/cameras/cam1/recording-gaps",
                json=body,
                headers={"Authorization": f"Bearer {token}"},
            )
            codes.append(resp.status_code)

        threads = [threading.Thread(target=report) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(codes) == [200] * 7 + [201]
        with app.app_context():
            from webapp.domain.gap_queries import state_counts
            from webapp.extensions import db as _db

            assert state_counts(["cam1"])["cam1"]["counts"]["pending"] == 1
            _db.session.remove()
            _db.engine.dispose()
    finally:
        _reset_postgres(require_postgres)
