"""Incident retrieval across cameras and the site-wide retry (SPEC §22) through the API."""

from datetime import timedelta

import pytest

from tests.factories import BASE_TIME
from tests.factories import make_camera
from tests.factories import make_gap
from webapp.models import AuditLog
from webapp.models import Camera
from webapp.models import RecordingGap

START = "2026-06-13T12:00:00Z"
END = "2026-06-13T12:10:00Z"


@pytest.fixture
def site(db):
    make_camera("lobby", site="HQ")
    make_camera("dock", site="HQ")
    make_camera("roof", site="Annex")


def retrieve(session, camera_ids, start=START, end=END):
    body = {"camera_ids": camera_ids, "start": start, "end": end}
    return session.post("/api/v1/retrievals", json=body)


def test_one_window_is_queued_on_each_camera_with_one_incident_audit_row(site, login_as, db):
    # The dock already has a gap in that window: refused with its reason, the others go ahead.
    clash = make_gap("dock", BASE_TIME + timedelta(minutes=2), 60, "failed")
    resp = retrieve(login_as("manager"), ["lobby", "dock", "roof", "lobby"])
    assert resp.status_code == 201, resp.json
    queued = {q["camera_id"]: q["gap_id"] for q in resp.json["queued"]}
    assert set(queued) == {"lobby", "roof"}
    [refused] = resp.json["refused"]
    assert refused["camera_id"] == "dock" and refused["code"] == "gap_overlap"
    assert clash.id in refused["error"]
    gaps = db.session.scalars(db.select(RecordingGap).where(RecordingGap.manual_retry)).all()
    assert {g.id for g in gaps} == set(queued.values())
    assert all(g.gap_seconds == 600 for g in gaps)
    actions = db.session.scalars(db.select(AuditLog.action)).all()
    assert sorted(actions) == ["anr_incident_window", "anr_manual_window", "anr_manual_window"]
    incident = db.session.scalars(
        db.select(AuditLog).where(AuditLog.action == "anr_incident_window")
    ).one()
    assert incident.detail["queued"] == ["lobby", "roof"]
    assert incident.detail["refused"] == ["dock"]


def test_a_disabled_camera_is_refused_by_name(site, login_as, db):
    db.session.get(Camera, "roof").enabled = False
    db.session.commit()
    resp = retrieve(login_as("manager"), ["lobby", "roof"])
    assert resp.status_code == 201
    assert [r["code"] for r in resp.json["refused"]] == ["camera_disabled"]


@pytest.mark.parametrize("role", ["viewer", "guard"])
def test_viewers_may_not_retrieve(site, login_as, db, role):
    resp = retrieve(login_as(role), ["lobby"])
    assert resp.status_code == 403
    assert "stop fills or queue a chosen window" in resp.json["error"]
    assert db.session.scalars(db.select(RecordingGap)).all() == []


def test_cameras_outside_the_scope_are_403_naming_them_and_nothing_is_queued(site, login_as, db):
    resp = retrieve(login_as("manager", cameras=["lobby"]), ["lobby", "dock", "nosuch"])
    assert resp.status_code == 403
    assert "dock" in resp.json["error"] and "nosuch" in resp.json["error"]
    assert db.session.scalars(db.select(RecordingGap)).all() == []


@pytest.mark.parametrize(
    ("camera_ids", "start", "end", "status", "named"),
    [
        (["lobby", "lobbby"], START, END, 422, "lobbby"),
        ([], START, END, 422, "camera_ids"),
        ("lobby", START, END, 422, "camera_ids"),
        (["Not An Id!"], START, END, 422, "Not An Id!"),
        (["lobby"], "yesterday", END, 422, "start"),
        (["lobby"], END, START, 422, "end"),
    ],
)
def test_bad_input_is_4xx_naming_the_problem(
    site, login_as, db, camera_ids, start, end, status, named
):
    resp = retrieve(login_as("manager"), camera_ids, start, end)
    assert resp.status_code == status, resp.json
    assert named in str(resp.json)
    assert db.session.scalars(db.select(RecordingGap)).all() == []


def test_a_body_that_is_not_an_object_is_400(site, login_as):
    resp = login_as("manager").post("/api/v1/retrievals", json=["lobby"])
    assert resp.status_code == 400 and "camera_ids" in resp.json["error"]


def test_site_wide_retry_covers_the_sites_cameras_in_scope(site, login_as, db):
    make_gap("lobby", BASE_TIME, 60, "failed")
    make_gap("dock", BASE_TIME, 60, "partial")
    make_gap("dock", BASE_TIME + timedelta(hours=1), 60, "expired")
    make_gap("roof", BASE_TIME, 60, "failed")  # another site: untouched
    resp = login_as("manager").post("/api/v1/cameras/retry-failed?site=HQ")
    assert resp.status_code == 202, resp.json
    assert resp.json["retried"] == 3 and resp.json["site"] == "HQ"
    assert {c["camera_id"] for c in resp.json["cameras"]} == {"lobby", "dock"}
    states = dict(
        db.session.execute(db.select(RecordingGap.camera_id, RecordingGap.fill_state)).all()
    )
    assert states["roof"] == "failed" and states["lobby"] == "pending"
    # Each camera's own audit row, as its own Retry N failed writes.
    assert db.session.scalars(db.select(AuditLog.action)).all() == ["anr_retry_failed"] * 2


def test_site_wide_retry_keeps_to_the_managers_scope(site, login_as, db):
    make_gap("lobby", BASE_TIME, 60, "failed")
    dock = make_gap("dock", BASE_TIME, 60, "failed")
    resp = login_as("manager", cameras=["lobby"]).post("/api/v1/cameras/retry-failed?site=HQ")
    assert resp.status_code == 202 and resp.json["retried"] == 1
    db.session.expire_all()
    assert db.session.get(RecordingGap, dock.id).fill_state == "failed"


@pytest.mark.parametrize(
    ("query", "status", "named"),
    [("", 422, "site"), ("?site=", 422, "site"), ("?site=Nowhere", 404, "Nowhere")],
)
def test_site_wide_retry_bad_sites(site, login_as, query, status, named):
    resp = login_as("manager").post(f"/api/v1/cameras/retry-failed{query}")
    assert resp.status_code == status and named in resp.json["error"]


def test_a_viewer_may_not_retry_a_site(site, login_as):
    resp = login_as("viewer").post("/api/v1/cameras/retry-failed?site=HQ")
    assert resp.status_code == 403 and "retry" in resp.json["error"]
