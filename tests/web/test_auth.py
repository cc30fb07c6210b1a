"""Sign-in, safe redirects, session rotation, CSRF, headers and escaping."""

import re

import pytest

from tests.conftest import PASSWORD
from tests.conftest import csrf_token_from
from tests.factories import make_camera
from tests.factories import make_gap
from tests.factories import make_user
from webapp.auth.views import safe_next
from webapp.models import AuditLog


@pytest.fixture
def people(csrf_app):
    with csrf_app.app_context():
        make_user("alice", "manager")
        make_camera("cam1")
        make_gap("cam1", state="failed")
    return csrf_app


def _login(client, username, password, next_url=None):
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    data = {"username": username, "password": password, "csrf_token": token}
    if next_url is not None:
        data["next"] = next_url
    return client.post("/login", data=data)


def test_login_with_right_password_redirects_to_fleet(people):
    client = people.test_client()
    resp = _login(client, "Alice", PASSWORD)  # usernames are case-insensitive
    assert resp.status_code == 302 and resp.location.endswith("/cameras")
    assert client.get("/cameras").status_code == 200


def test_wrong_password_and_unknown_user_get_the_same_message(people):
    client = people.test_client()
    wrong = _login(client, "alice", "nope")
    unknown = _login(client, "mallory", "nope")
    assert wrong.status_code == unknown.status_code == 401
    msg = "Wrong username or password."
    assert msg in wrong.get_data(as_text=True) and msg in unknown.get_data(as_text=True)


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "\\\\evil.example",
        "http:/evil.example",
        "javascript:alert(1)",
        "/\t/evil.example",
        " //evil.example",
        "evil.example",
    ],
)
def test_open_redirects_on_next_are_refused(people, target):
    client = people.test_client()
    resp = _login(client, "alice", PASSWORD, next_url=target)
    assert resp.status_code == 302
    assert resp.location in ("/cameras", "http://localhost/cameras")


def test_relative_next_is_followed(people):
    client = people.test_client()
    resp = _login(client, "alice", PASSWORD, next_url="/cameras/cam1/gaps?state=failed")
    assert resp.location.endswith("/cameras/cam1/gaps?state=failed")


def test_safe_next_rules():
    assert safe_next("/audit") == "/audit"
    assert safe_next("//x") is None and safe_next("https://x") is None
    assert safe_next("/a\\b") is None and safe_next(None) is None


def test_login_rotates_the_session(people):
    client = people.test_client()
    client.get("/login")
    before = client.get_cookie("replenish_session").value
    _login(client, "alice", PASSWORD)
    after = client.get_cookie("replenish_session").value
    assert before != after
    # A cookie captured before sign-in does not carry the login.
    thief = people.test_client()
    thief.set_cookie("replenish_session", before)
    assert thief.get("/cameras").status_code == 302


def test_logout_needs_post_with_csrf_and_kills_copies_of_the_cookie(people):
    client = people.test_client()
    _login(client, "alice", PASSWORD)
    page = client.get("/cameras").get_data(as_text=True)
    stolen = client.get_cookie("replenish_session").value
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400  # no CSRF token
    resp = client.post("/logout", data={"csrf_token": csrf_token_from(page)})
    assert resp.status_code == 302
    copy = people.test_client()
    copy.set_cookie("replenish_session", stolen)
    assert copy.get("/cameras").status_code == 302


def test_session_post_without_csrf_is_refused_and_changes_nothing(people):
    from webapp.extensions import db
    from webapp.models import RecordingGap

    client = people.test_client()
    _login(client, "alice", PASSWORD)
    with people.app_context():
        gap_id = db.session.scalars(db.select(RecordingGap.id)).one()
    resp = client.post(f"/api/v1/cameras/cam1/recording-gaps/{gap_id}/retry")
    assert resp.status_code == 400 and resp.json["code"] == "csrf_failed"
    page_post = client.post(f"/cameras/cam1/gaps/{gap_id}/retry")
    assert page_post.status_code == 400
    with people.app_context():
        assert db.session.get(RecordingGap, gap_id).fill_state == "failed"
        assert db.session.scalars(db.select(AuditLog)).all() == []


def test_csrf_header_allows_session_post(people):
    client = people.test_client()
    _login(client, "alice", PASSWORD)
    token = csrf_token_from(client.get("/cameras").get_data(as_text=True))
    resp = client.post(
        "/api/v1/cameras/cam1/recording-gaps/retry-failed", headers={"X-CSRFToken": token}
    )
    assert resp.status_code == 200 and resp.json == {"retried": 1}


def test_bearer_post_needs_no_csrf(people):
    from tests.factories import make_api_key

    with people.app_context():
        token = make_api_key("manager")
    client = people.test_client()
    resp = client.post(
        "/api/v1/cameras/cam1/recording-gaps/retry-failed",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert resp.status_code == 200


def test_security_headers_on_pages_and_api(people):
    client = people.test_client()
    for url in ("/login", "/healthz", "/api/v1/cameras"):
        resp = client.get(url)
        csp = resp.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'self'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Referrer-Policy"] == "same-origin"
        assert "HX-Request" in resp.headers.get("Vary", "")


def test_session_cookie_is_httponly_and_lax(people):
    client = people.test_client()
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    resp = client.post(
        "/login", data={"username": "alice", "password": PASSWORD, "csrf_token": token}
    )
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_no_inline_script_or_style_in_pages(people):
    client = people.test_client()
    _login(client, "alice", PASSWORD)
    for url in ("/login", "/cameras", "/cameras/cam1/gaps", "/audit"):
        html = client.get(url).get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), url
        assert " style=" not in html and "<style" not in html, url
        assert " onclick=" not in html.lower()


def test_camera_named_script_is_rendered_as_text(people, login_as):
    from webapp.extensions import db
    from webapp.models import Camera

    with people.app_context():
        db.session.get(Camera, "cam1").name = "<script>alert(1)</script>"
        db.session.commit()
    client = people.test_client()
    _login(client, "alice", PASSWORD)
    for url in ("/cameras", "/cameras/cam1/gaps"):
        html = client.get(url).get_data(as_text=True)
        assert "<script>alert(1)</script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_generated_secret_key_is_kept_under_instance(tmp_path, monkeypatch):
    from webapp import create_app

    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("REPLENISH_INSTANCE", str(tmp_path / "inst"))
    cfg = {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db"}
    first = create_app(cfg).config["SECRET_KEY"]
    second = create_app(cfg).config["SECRET_KEY"]
    key_file = tmp_path / "inst" / "secret_key"
    assert first == second == key_file.read_text().strip() and len(first) >= 32
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"


def test_expired_session_on_htmx_request_gets_hx_redirect(people):
    client = people.test_client()
    resp = client.get(
        "/cameras/cam1/gaps?state=failed",
        headers={"HX-Request": "true", "HX-Current-URL": "http://localhost/cameras/cam1/gaps"},
    )
    assert resp.status_code == 401
    assert resp.headers["HX-Redirect"].startswith("/login?next=")
    assert "<html" not in resp.get_data(as_text=True)
