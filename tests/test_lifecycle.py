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
