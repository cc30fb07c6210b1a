"""The recording-gaps JSON API: listing, validation, paging, retry and bulk retry."""

from datetime import timedelta

import pytest

from tests.conftest import walk_link_pages
from tests.factories import BASE_TIME
from tests.factories import make_camera
from tests.factories import make_gap
from tests.factories import make_gaps
from webapp.models import AuditLog
from webapp.models import RecordingGap

LIST = "/api/v1/cameras/{}/recording-gaps"


@pytest.fixture
def cam(db):
    make_camera("cam1", timezone="Europe/Berlin")
    make_camera("cam2")
    return "cam1"


def test_list_newest_first_with_every_public_field(cam, login_as, db):
    make_gaps(cam, 3)
    viewer = login_as("viewer")
    resp = viewer.get(LIST.format(cam))
    assert resp.status_code == 200
    starts = [g["gap_start"] for g in resp.json]
    assert starts == sorted(starts, reverse=True)
    assert set(resp.json[0]) == set(RecordingGap.PUBLIC_FIELDS)
    assert "claimed_by" not in resp.json[0] and "lease_until" not in resp.json[0]
    assert resp.json[0]["gap_start"].endswith("Z")


def test_ties_on_gap_start_are_ordered_by_id(cam, login_as, db):
    make_gap(cam, BASE_TIME)
    make_gap("cam2", BASE_TIME)  # same start, other camera: not listed
    viewer = login_as("viewer")
    body = viewer.get(LIST.format(cam)).json
    assert [g["camera_id"] for g in body] == ["cam1"]


def test_state_filter(cam, login_as, db):
    make_gap(cam, BASE_TIME, state="failed")
    make_gap(cam, BASE_TIME + timedelta(hours=1), state="filled")
    viewer = login_as("viewer")
    body = viewer.get(LIST.format(cam) + "?state=failed").json
    assert [g["fill_state"] for g in body] == ["failed"]


@pytest.mark.parametrize("bad", ["bogus", "FAILED", "failed,pending", "%00", "x" * 300])
def test_bad_state_is_400_naming_valid_states(cam, login_as, bad):
    viewer = login_as("viewer")
    resp = viewer.get(LIST.format(cam), query_string={"state": bad})
    assert resp.status_code == 400
    assert resp.json["code"] == "invalid_state"
    for state in ("pending", "filling", "filled", "partial", "failed", "expired"):
        assert state in resp.json["error"]


@pytest.mark.parametrize("bad", ["x", "1.5", "10abc", "--1", "1e3"])
def test_non_integer_limit_is_400(cam, login_as, bad):
    viewer = login_as("viewer")
    resp = viewer.get(LIST.format(cam), query_string={"limit": bad})
    assert resp.status_code == 400
    assert resp.json == {"error": f"limit must be an integer, got '{bad}'", "code": "invalid_limit"}


@pytest.mark.parametrize(("raw", "expected"), [("0", 1), ("-5", 1), ("2", 2), ("99999", 7)])
def test_limit_is_clamped(cam, login_as, db, raw, expected):
    make_gaps(cam, 7)
    viewer = login_as("viewer")
    assert len(viewer.get(LIST.format(cam) + f"?limit={raw}").json) == expected


def test_default_limit_is_500_and_max_5000(cam, db, login_as):
    from webapp.domain.paging import DEFAULT_LIMIT
    from webapp.domain.paging import MAX_LIMIT
    from webapp.domain.paging import parse_limit

    assert (DEFAULT_LIMIT, MAX_LIMIT) == (500, 5000)
    assert parse_limit(None) == 500 and parse_limit("123456") == 5000


def test_cursor_paging_has_no_duplicates_or_holes(cam, login_as, db):
    made = make_gaps(cam, 23)
    # Two gaps with the same start on the same camera cannot exist (unique), so ties by id are
    # exercised through equal-start rows of other tests; here: walk all pages.
    viewer = login_as("viewer")
    seen, pages = walk_link_pages(viewer.get, LIST.format(cam) + "?limit=5")
    assert pages == 5
    assert len(seen) == len(set(seen)) == 23
    assert set(seen) == {g.id for g in made}


def test_cursor_keeps_state_filter(cam, login_as, db):
    make_gaps(cam, 4, state="failed")
    make_gaps(cam, 4, state="filled", start=BASE_TIME + timedelta(days=1))
    viewer = login_as("viewer")
    resp = viewer.get(LIST.format(cam) + "?state=failed&limit=3")
    link = resp.headers["Link"]
    assert "state=failed" in link and 'rel="next"' in link
    rest = viewer.get(link[1 : link.index(">")]).json
    assert [g["fill_state"] for g in rest] == ["failed"]


@pytest.mark.parametrize("bad", ["garbage", "!!!", "MjAyNg"])
def test_bad_cursor_is_400(cam, login_as, bad):
    viewer = login_as("viewer")
    resp = viewer.get(LIST.format(cam), query_string={"before": bad})
    assert resp.status_code == 400
    assert resp.json["code"] == "invalid_cursor"


def test_unknown_camera_is_404_json(cam, login_as):
    viewer = login_as("viewer")
    resp = viewer.get(LIST.format("nope"))
    assert resp.status_code == 404
    assert resp.json == {"error": "camera nope not found", "code": "not_found"}


def _retry(session, cam, gap_id):
    return session.post(f"/api/v1/cameras/{cam}/recording-gaps/{gap_id}/retry")


@pytest.mark.parametrize("state", ["pending", "failed", "partial", "expired"])
def test_retry_moves_retryable_states_to_pending(cam, login_as, db, state):
    gap = make_gap(
        cam,
        state=state,
        fill_attempts=3,
        last_error="boom",
        last_attempt_at=BASE_TIME,
        filled_at=None,
    )
    manager = login_as("manager")
    resp = _retry(manager, cam, gap.id)
    assert resp.status_code == 200
    body = resp.json
    assert body["fill_state"] == "pending"
    assert body["fill_attempts"] == 0
    assert body["last_attempt_at"] is None and body["last_error"] is None
    assert body["filled_at"] is None and body["manual_retry"] is True
    row = db.session.scalars(db.select(AuditLog).where(AuditLog.action == "anr_retry_gap")).one()
    assert row.target_type == "recording_gap" and row.target_id == gap.id
    assert row.subject_camera_id == cam
    assert row.detail == {"camera_id": cam, "previous_state": state}
    assert row.actor == manager.user and row.role == "manager"


@pytest.mark.parametrize("state", ["filled", "filling"])
def test_retry_of_filled_or_filling_is_409_without_audit(cam, login_as, db, state):
    gap = make_gap(cam, state=state)
    manager = login_as("manager")
    resp = _retry(manager, cam, gap.id)
    assert resp.status_code == 409
    assert resp.json["code"] == "gap_state_conflict"
    db.session.expire_all()
    assert db.session.get(RecordingGap, gap.id).fill_state == state
    assert db.session.scalars(db.select(AuditLog)).all() == []


def test_retry_of_another_cameras_gap_is_404(cam, login_as, db):
    other = make_gap("cam2", state="failed")
    manager = login_as("manager")
    resp = _retry(manager, cam, other.id)
    assert resp.status_code == 404
    assert resp.json == {"error": f"recording gap {other.id} not found", "code": "not_found"}
    db.session.expire_all()
    assert db.session.get(RecordingGap, other.id).fill_state == "failed"
    assert db.session.scalars(db.select(AuditLog)).all() == []


def test_retry_unknown_gap_and_unknown_camera_are_404(cam, login_as):
    manager = login_as("manager")
    assert _retry(manager, cam, "no-such-gap").status_code == 404
    assert _retry(manager, "ghost", "no-such-gap").json["error"] == "camera ghost not found"


def test_retry_failed_moves_all_failed_partial_expired_with_one_audit_row(cam, login_as, db):
    moved = [
        make_gap(cam, BASE_TIME, state="failed").id,
        make_gap(cam, BASE_TIME + timedelta(hours=1), state="partial").id,
        make_gap(cam, BASE_TIME + timedelta(hours=2), state="expired").id,
    ]
    kept = make_gap(cam, BASE_TIME + timedelta(hours=3), state="filled").id
    untouched = make_gap("cam2", BASE_TIME, state="failed").id
    manager = login_as("manager")
    resp = manager.post(f"/api/v1/cameras/{cam}/recording-gaps/retry-failed")
    assert resp.status_code == 200 and resp.json == {"retried": 3}
    db.session.expire_all()
    states = {g.id: g.fill_state for g in db.session.scalars(db.select(RecordingGap))}
    assert all(states[i] == "pending" for i in moved)
    assert states[kept] == "filled" and states[untouched] == "failed"
    rows = db.session.scalars(db.select(AuditLog)).all()
    assert len(rows) == 1 and rows[0].action == "anr_retry_failed"
    assert rows[0].detail["count"] == 3 and sorted(rows[0].detail["gap_ids"]) == sorted(moved)
    counts = manager.get("/api/v1/cameras").json
    cam1 = next(c for c in counts if c["id"] == cam)
    assert cam1["counts"]["pending"] == 3 and cam1["counts"]["failed"] == 0


def test_retry_failed_with_nothing_to_retry_writes_no_audit(cam, login_as, db):
    manager = login_as("manager")
    assert manager.post(f"/api/v1/cameras/{cam}/recording-gaps/retry-failed").json == {"retried": 0}
    assert db.session.scalars(db.select(AuditLog)).all() == []


def test_cameras_endpoint_counts_follow_state_changes(cam, login_as, db):
    gap = make_gap(cam, state="failed", seconds=90)
    make_gap(cam, BASE_TIME + timedelta(hours=1), state="filled", seconds=30)
    manager = login_as("manager")
    before = next(c for c in manager.get("/api/v1/cameras").json if c["id"] == cam)
    assert before["counts"]["failed"] == 1 and before["missing_seconds"] == 90
    _retry(manager, cam, gap.id)
    after = next(c for c in manager.get("/api/v1/cameras").json if c["id"] == cam)
    assert after["counts"]["failed"] == 0 and after["counts"]["pending"] == 1
    assert after["newest_gap_start"] == "2026-06-13T13:00:00Z"
    assert "password" not in str(after) and "username" not in after
    # The camera's own answer is the list's entry for it.
    assert manager.get(f"/api/v1/cameras/{cam}").json == after


def test_one_camera_answers_in_scope_only(cam, db, login_as):
    make_camera("cam-elsewhere")
    assert login_as("viewer").get(f"/api/v1/cameras/{cam}").json["id"] == cam
    scoped = login_as("viewer", cameras=[cam])
    assert scoped.get(f"/api/v1/cameras/{cam}").status_code == 200
    assert scoped.get("/api/v1/cameras/cam-elsewhere").status_code == 403
    unknown = login_as("viewer").get("/api/v1/cameras/no-such-camera")
    assert unknown.status_code == 404 and unknown.json["code"] == "not_found"


def test_no_credential_401_has_www_authenticate(client, cam):
    resp = client.get(LIST.format(cam))
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert resp.json["code"] == "unauthorized"


def test_bad_bearer_token_is_401(client, cam):
    resp = client.get(LIST.format(cam), headers={"Authorization": "Bearer nope"})
    assert resp.status_code == 401


def test_unknown_api_route_is_json_404(login_as):
    viewer = login_as("viewer")
    resp = viewer.get("/api/v1/nothing-here")
    assert resp.status_code == 404 and resp.json["code"] == "not_found"


def test_times_in_the_list_match_the_python_formatter(cam, login_as, db):
    from datetime import timedelta

    from webapp.models import rfc3339

    exact = BASE_TIME + timedelta(seconds=3)
    fine = BASE_TIME + timedelta(seconds=7, microseconds=120)
    gap = make_gap(cam, state="failed", last_attempt_at=fine, filled_at=exact)
    body = login_as("viewer").get(LIST.format(cam)).json[0]
    assert body["last_attempt_at"] == rfc3339(fine) == "2026-06-13T12:00:07.000120Z"
    assert body["filled_at"] == rfc3339(exact) == "2026-06-13T12:00:03Z"
    assert body["created_at"] == rfc3339(gap.created_at)
