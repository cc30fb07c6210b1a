"""Role matrix and camera scope, for every route that needs a permission."""

import pytest

from tests.factories import BASE_TIME
from tests.factories import make_camera
from tests.factories import make_gap

ROLES = ("viewer", "guard", "manager", "admin", "integration")


@pytest.fixture
def world(db):
    make_camera("cam1")
    make_camera("cam2")
    gap = make_gap("cam1", BASE_TIME, state="failed")
    filling = make_gap("cam1", BASE_TIME.replace(hour=13), state="filling")
    return {"gap": gap.id, "filling": filling.id}


# (method, url, json body, roles allowed). Allowed roles must not get 401/403.
def routes(w):
    window = {"gap_start": "2026-06-13T08:00:00Z", "gap_end": "2026-06-13T08:01:00Z"}
    return [
        ("GET", "/api/v1/cameras", None, ROLES),
        ("GET", "/api/v1/cameras/cam1/recording-gaps", None, ROLES),
        ("GET", "/api/v1/cameras/cam1/gaps", None, ROLES),
        ("GET", "/api/v1/openapi.json", None, ROLES),
        (
            "POST",
            f"/api/v1/cameras/cam1/recording-gaps/{w['gap']}/retry",
            None,
            ("manager", "admin"),
        ),
        ("POST", "/api/v1/cameras/cam1/recording-gaps/retry-failed", None, ("manager", "admin")),
        (
            "POST",
            f"/api/v1/cameras/cam1/recording-gaps/{w['filling']}/stop",
            None,
            ("manager", "admin"),
        ),
        # Ingest: integration/admin report gaps; a manager's POST queues a chosen window.
        (
            "POST",
            "/api/v1/cameras/cam1/recording-gaps",
            window,
            ("integration", "admin", "manager"),
        ),
        ("POST", "/api/v1/embed-sessions", {"username": "nobody"}, ("integration", "admin")),
        ("GET", f"/api/v1/cameras/cam1/recording-gaps/{w['gap']}/footage", None, ROLES),
        (
            "POST",
            f"/api/v1/cameras/cam1/recording-gaps/{w['gap']}/export",
            None,
            ("manager", "admin"),
        ),
        ("GET", f"/cameras/cam1/gaps/{w['gap']}/watch", None, ROLES),
        ("GET", "/cameras", None, ROLES),
        ("GET", "/cameras/cam1/gaps", None, ROLES),
        ("POST", f"/cameras/cam1/gaps/{w['gap']}/retry", None, ("manager", "admin")),
        ("POST", "/cameras/cam1/gaps/retry-failed", None, ("manager", "admin")),
        ("GET", "/audit", None, ("manager", "admin")),
        ("GET", "/audit.csv", None, ("manager", "admin")),
        ("GET", "/admin/cameras", None, ("admin",)),
        ("GET", "/admin/cameras/new", None, ("admin",)),
        ("GET", "/admin/cameras/cam1", None, ("admin",)),
    ]


def _call(session_or_headers, client, method, url, body):
    if isinstance(session_or_headers, dict):  # integration: bearer headers
        return client.open(url, method=method, json=body, headers=session_or_headers)
    if method == "GET":
        return session_or_headers.get(url)
    return session_or_headers.post(url, json=body)


@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(world, role, login_as, client):
    who = login_as(role)
    for method, url, body, allowed in routes(world):
        resp = _call(who, client, method, url, body)
        if role in allowed:
            assert resp.status_code not in (401, 403), (role, method, url, resp.data[:200])
        else:
            assert resp.status_code == 403, (role, method, url, resp.status_code)


def test_refusal_names_the_missing_permission(world, login_as):
    viewer = login_as("viewer")
    resp = viewer.post(f"/api/v1/cameras/cam1/recording-gaps/{world['gap']}/retry")
    assert resp.status_code == 403
    assert resp.json == {
        "error": "role 'viewer' is not permitted to retry recording-gap fill",
        "code": "forbidden",
    }


@pytest.mark.parametrize("role", ["viewer", "manager", "integration"])
def test_out_of_scope_existing_and_missing_cameras_answer_the_same_403(
    world, role, login_as, client
):
    who = login_as(role, cameras=["cam1"])
    existing = _call(who, client, "GET", "/api/v1/cameras/cam2/recording-gaps", None)
    missing = _call(who, client, "GET", "/api/v1/cameras/ghost/recording-gaps", None)
    assert existing.status_code == missing.status_code == 403
    assert existing.json["code"] == missing.json["code"] == "forbidden"
    # Same wording apart from the id the caller typed: no existence oracle.
    assert existing.json["error"].replace("cam2", "X") == missing.json["error"].replace(
        "ghost", "X"
    )


def test_scoped_principal_sees_only_its_cameras(world, login_as):
    viewer = login_as("viewer", cameras=["cam1"])
    assert [c["id"] for c in viewer.get("/api/v1/cameras").json] == ["cam1"]
    assert viewer.get("/api/v1/cameras/cam1/recording-gaps").status_code == 200
    page = viewer.get("/cameras").get_data(as_text=True)
    assert "cam1" in page and "cam2" not in page


def test_scoped_manager_cannot_retry_out_of_scope(world, login_as, db):
    make_gap("cam2", BASE_TIME, state="failed")
    manager = login_as("manager", cameras=["cam1"])
    resp = manager.post("/api/v1/cameras/cam2/recording-gaps/retry-failed")
    assert resp.status_code == 403


def test_revoked_and_expired_keys_are_refused(world, app, client):
    from datetime import timedelta

    from tests.factories import make_api_key
    from webapp.extensions import db
    from webapp.models import ApiKey
    from webapp.models import utcnow

    with app.app_context():
        revoked = make_api_key("integration", name="revoked")
        expired = make_api_key("integration", name="expired")
        keys = {k.name: k for k in db.session.scalars(db.select(ApiKey))}
        keys["revoked"].revoked_at = utcnow()
        keys["expired"].expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    for token in (revoked, expired):
        resp = client.get("/api/v1/cameras", headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 401


def test_bearer_request_sets_no_session_cookie(world, app, client):
    from tests.factories import make_api_key

    with app.app_context():
        token = make_api_key("integration")
    resp = client.get("/api/v1/cameras", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200
    assert "Set-Cookie" not in resp.headers
