"""Users and API keys: revoke, expire, disable at once; embed sessions capped and named."""

from datetime import timedelta

import pytest

from tests.conftest import PASSWORD
from tests.factories import make_api_key
from tests.factories import make_camera
from tests.factories import make_gap
from tests.factories import make_user
from webapp.extensions import db
from webapp.models import ApiKey
from webapp.models import AuditLog
from webapp.models import User
from webapp.models import utcnow


@pytest.fixture
def world(app):
    with app.app_context():
        make_camera("cam1")
        make_camera("cam2")
        make_gap("cam1", state="failed")
    return app


def _cli(app, *args, input=None):
    result = app.test_cli_runner().invoke(args=list(args), input=input)
    return result


def test_revoked_key_is_401_on_the_next_request(world):
    result = _cli(world, "apikeys", "create", "vms", "--role", "integration")
    assert result.exit_code == 0, result.output
    token = result.output.split("token: ")[1].strip()
    headers = {"Authorization": f"Bearer {token}"}
    client = world.test_client()
    assert client.get("/api/v1/cameras", headers=headers).status_code == 200
    listed = _cli(world, "apikeys", "list").output
    assert "vms" in listed and "active" in listed and "embed up to manager" in listed
    assert _cli(world, "apikeys", "revoke", "vms").exit_code == 0
    resp = client.get("/api/v1/cameras", headers=headers)
    assert resp.status_code == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert "revoked" in _cli(world, "apikeys", "list").output
    again = _cli(world, "apikeys", "revoke", "vms")
    assert again.exit_code != 0 and "no unrevoked key named 'vms'" in again.output


def test_expired_key_is_401(world):
    result = _cli(world, "apikeys", "create", "tmp", "--role", "admin", "--expires-days", "1")
    assert result.exit_code == 0 and "expires" in result.output
    token = result.output.split("token: ")[1].strip()
    headers = {"Authorization": f"Bearer {token}"}
    client = world.test_client()
    assert client.get("/api/v1/cameras", headers=headers).status_code == 200
    with world.app_context():
        key = db.session.execute(db.select(ApiKey).where(ApiKey.name == "tmp")).scalar_one()
        key.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    assert client.get("/api/v1/cameras", headers=headers).status_code == 401
    assert "expired" in _cli(world, "apikeys", "list").output


def test_disabled_user_is_signed_out_at_once_and_cannot_sign_in(world, login_as):
    manager = login_as("manager", username="mona")
    assert manager.get("/api/v1/cameras").status_code == 200
    result = _cli(world, "users", "disable", "mona")
    assert result.exit_code == 0 and "disabled mona" in result.output
    assert manager.get("/api/v1/cameras").status_code == 401
    assert manager.get("/cameras").status_code == 302  # to the sign-in page
    fresh = world.test_client()
    assert fresh.post("/login", data={"username": "mona", "password": PASSWORD}).status_code == 401
    assert "disabled" in _cli(world, "users", "list").output
    assert _cli(world, "users", "enable", "mona").exit_code == 0
    assert fresh.post("/login", data={"username": "mona", "password": PASSWORD}).status_code == 302
    with world.app_context():
        actions = [a.action for a in db.session.scalars(db.select(AuditLog))]
        assert "user_disable" in actions and "user_enable" in actions


def test_set_password_from_stdin_ends_sessions(world, login_as):
    manager = login_as("manager", username="mona")
    result = _cli(world, "users", "set-password", "mona", "--password-stdin", input="new pass 99\n")
    assert result.exit_code == 0, result.output
    assert manager.get("/api/v1/cameras").status_code == 401
    fresh = world.test_client()
    assert fresh.post("/login", data={"username": "mona", "password": PASSWORD}).status_code == 401
    resp = fresh.post("/login", data={"username": "mona", "password": "new pass 99"})
    assert resp.status_code == 302
    short = _cli(world, "users", "set-password", "mona", "--password-stdin", input="short\n")
    assert short.exit_code != 0 and "at least 8 characters" in short.output
    unknown = _cli(world, "users", "disable", "nobody")
    assert unknown.exit_code != 0 and "no user named 'nobody'" in unknown.output


@pytest.fixture
def embed_world(world):
    with world.app_context():
        make_user("boss", "admin")
        make_user("mona", "manager")
        token = make_api_key("integration", name="vms")
        key = db.session.execute(db.select(ApiKey).where(ApiKey.name == "vms")).scalar_one()
        world.config["VMS_KEY"] = {"Authorization": f"Bearer {token}"}
        world.config["VMS_KEY_ID"] = key.id
    return world


def _embed_client(app, username, **body):
    resp = app.test_client().post(
        "/api/v1/embed-sessions",
        json={"username": username, **body},
        headers=app.config["VMS_KEY"],
    )
    assert resp.status_code == 201, resp.json
    browser = app.test_client()
    assert browser.get(resp.json["url"]).status_code == 302
    return browser


def test_embed_audit_rows_name_the_key(embed_world):
    browser = _embed_client(embed_world, "mona", camera_id="cam1")
    resp = browser.post("/api/v1/cameras/cam1/recording-gaps/retry-failed")
    assert resp.status_code == 200
    with embed_world.app_context():
        row = db.session.execute(
            db.select(AuditLog).where(AuditLog.action == "anr_retry_failed")
        ).scalar_one()
        assert row.actor_name == "mona via key vms"
        assert row.detail["via_key"] == "vms"
        assert row.role == "manager"


def test_embed_session_of_an_admin_acts_at_most_as_the_key_ceiling(embed_world):
    with embed_world.app_context():
        key = db.session.get(ApiKey, embed_world.config["VMS_KEY_ID"])
        key.embed_role_ceiling = "viewer"
        db.session.commit()
    browser = _embed_client(embed_world, "mona")
    resp = browser.post("/api/v1/cameras/cam1/recording-gaps/retry-failed")
    assert resp.status_code == 403
    assert "role 'viewer'" in resp.json["error"]
    assert browser.get("/audit").status_code == 403


def test_embed_session_never_acts_as_admin(embed_world, login_as):
    admin = login_as("admin")
    resp = admin.post("/api/v1/embed-sessions", json={"username": "boss"})
    assert resp.status_code == 201
    browser = embed_world.test_client()
    browser.get(resp.json["url"])
    assert browser.get("/admin/cameras").status_code == 403
    with embed_world.app_context():
        assert (
            db.session.execute(db.select(User.role).where(User.username == "boss")).scalar_one()
            == "admin"
        )


def test_embed_scope_is_capped_by_the_key(embed_world):
    with embed_world.app_context():
        key = db.session.get(ApiKey, embed_world.config["VMS_KEY_ID"])
        key.camera_scope = ["cam1"]
        db.session.commit()
    browser = _embed_client(embed_world, "mona")
    assert browser.get("/api/v1/cameras/cam1/recording-gaps").status_code == 200
    assert browser.get("/api/v1/cameras/cam2/recording-gaps").status_code == 403


# §18: revocation reaches sessions, every session has a bounded lifetime, people who mint are named.


@pytest.mark.parametrize("how", ["revoke", "expire"])
def test_embed_session_ends_on_the_next_request_when_its_key_goes(embed_world, how):
    browser = _embed_client(embed_world, "mona", camera_id="cam1")
    assert browser.get("/api/v1/cameras").status_code == 200
    if how == "revoke":
        assert _cli(embed_world, "apikeys", "revoke", "vms").exit_code == 0
    else:
        with embed_world.app_context():
            key = db.session.get(ApiKey, embed_world.config["VMS_KEY_ID"])
            key.expires_at = utcnow() - timedelta(seconds=1)
            db.session.commit()
    assert browser.get("/api/v1/cameras").status_code == 401
    resp = browser.post("/api/v1/cameras/cam1/recording-gaps/retry-failed")
    assert resp.status_code == 401
    with embed_world.app_context():
        assert not db.session.scalars(
            db.select(AuditLog).where(AuditLog.action == "anr_retry_failed")
        ).all()


def _later(monkeypatch, seconds: float) -> None:
    """Move the sessions' clock forward (the lifetime is counted from sign-in)."""
    import webapp.plumbing.sessions

    real = webapp.plumbing.sessions.time.time
    monkeypatch.setattr(webapp.plumbing.sessions.time, "time", lambda: real() + seconds)


def test_a_session_cookie_lives_session_lifetime_hours(world, login_as, monkeypatch):
    manager = login_as("manager", username="mona")
    resp = manager.get("/api/v1/cameras")
    assert resp.status_code == 200
    cookie = manager.client.get_cookie("replenish_session")
    assert cookie is not None and cookie.expires is not None  # a bounded cookie, not a 31-day one
    lifetime = cookie.expires.timestamp() - utcnow().timestamp()
    assert 11.9 * 3600 < lifetime <= 12 * 3600 + 5
    _later(monkeypatch, 11 * 3600)
    assert manager.get("/api/v1/cameras").status_code == 200  # requests do not extend it ...
    _later(monkeypatch, 12 * 3600 + 1)
    assert manager.get("/api/v1/cameras").status_code == 401  # ... and after 12 h it is over


def test_an_embed_session_lives_embed_session_minutes(embed_world, monkeypatch):
    browser = _embed_client(embed_world, "mona", camera_id="cam1")
    assert browser.get("/api/v1/cameras").status_code == 200
    _later(monkeypatch, 59 * 60)
    assert browser.get("/api/v1/cameras").status_code == 200
    _later(monkeypatch, 60 * 60 + 1)
    assert browser.get("/api/v1/cameras").status_code == 401


def test_person_minted_embed_session_is_named_and_capped_by_the_person(embed_world, login_as):
    sadmin = login_as("admin", cameras=["cam1"], username="sadmin")
    with embed_world.app_context():
        make_user("manager2", "manager")  # unscoped
    resp = sadmin.post("/api/v1/embed-sessions", json={"username": "manager2"})
    assert resp.status_code == 201, resp.json
    assert (
        sadmin.post(
            "/api/v1/embed-sessions", json={"username": "manager2", "camera_id": "cam2"}
        ).status_code
        == 403
    )
    browser = embed_world.test_client()
    assert browser.get(resp.json["url"]).status_code == 302
    seen = [c["id"] for c in browser.get("/api/v1/cameras").json]
    assert seen == ["cam1"]
    assert browser.post("/api/v1/cameras/cam2/recording-gaps/retry-failed").status_code == 403
    assert browser.post("/api/v1/cameras/cam1/recording-gaps/retry-failed").status_code == 200
    with embed_world.app_context():
        row = db.session.execute(
            db.select(AuditLog).where(AuditLog.action == "anr_retry_failed")
        ).scalar_one()
        assert row.actor_name == "manager2 via admin sadmin"
        assert row.detail["via_user"] == "sadmin"
        minted = db.session.execute(
            db.select(AuditLog).where(AuditLog.action == "embed_session_create")
        ).scalar_one()
        assert minted.actor_name == "sadmin"
    # The person's scope narrows: so does the session, on its next request.
    with embed_world.app_context():
        person = db.session.execute(db.select(User).where(User.username == "sadmin")).scalar_one()
        person.camera_scope = ["cam2"]
        db.session.commit()
    assert browser.get("/api/v1/cameras").json == []
    assert browser.post("/api/v1/cameras/cam1/recording-gaps/retry-failed").status_code == 403
    # The person who minted it is disabled: the session ends with them.
    assert _cli(embed_world, "users", "disable", "sadmin").exit_code == 0
    assert browser.get("/api/v1/cameras").status_code == 401


def test_metrics_check_the_acting_role_of_an_embed_session(embed_world):
    with embed_world.app_context():
        admin_key = make_api_key("admin", name="adm")
    resp = embed_world.test_client().post(
        "/api/v1/embed-sessions",
        json={"username": "boss"},  # an unscoped admin, acting as manager at most
        headers={"Authorization": f"Bearer {admin_key}"},
    )
    assert resp.status_code == 201, resp.json
    browser = embed_world.test_client()
    assert browser.get(resp.json["url"]).status_code == 302
    assert browser.get("/api/v1/cameras").status_code == 200
    resp = browser.get("/metrics", headers={"Accept": "application/json"})
    assert resp.status_code == 403
