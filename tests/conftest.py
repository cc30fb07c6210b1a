"""Shared fixtures: an app on a real SQLite file, a client, a CLI runner and ``login_as``."""

import os
import re

import pytest
from flask.testing import FlaskClient

from tests import factories
from webapp import create_app
from webapp.extensions import db as _db

PASSWORD = "correct horse 1"


def _config(tmp_path, **extra) -> dict:
    cfg = {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'test.db'}",
        "ANR_RECORDINGS_DIR": str(tmp_path / "recordings"),
        "WTF_CSRF_ENABLED": False,
        # scrypt at full strength costs ~50 ms a hash; the real method is tested once (test_cli).
        "PASSWORD_HASH_METHOD": "scrypt:1024:8:1",
    }
    cfg.update(extra)
    return cfg


class FreshContextClient(FlaskClient):
    """A test client whose every request runs in its own app context, as in production.

    Tests hold an app context for their database work (the ``db`` fixture); without this, Flask
    would reuse it for the request, carrying ``g`` (the signed-in user) from request to request.
    """

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture
def make_app(tmp_path, monkeypatch):
    """Build an app with config overrides; its tables are created on its database."""
    monkeypatch.setenv("REPLENISH_INSTANCE", str(tmp_path / "instance"))

    def build(**extra):
        app = create_app(_config(tmp_path, **extra))
        app.test_client_class = FreshContextClient
        with app.app_context():
            _db.create_all()
        return app

    return build


@pytest.fixture
def app(make_app):
    """An app with CSRF off (tests of security use ``csrf_app``)."""
    return make_app()


@pytest.fixture
def csrf_app(make_app):
    """An app with CSRF protection on, as in production."""
    return make_app(WTF_CSRF_ENABLED=True)


@pytest.fixture
def db(app):
    """The database session inside an app context."""
    with app.app_context():
        yield _db


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def csrf_token_from(html: str) -> str:
    match = re.search(r'hx-headers=\'\{"X-CSRFToken": "([^"]+)"\}\'', html)
    assert match, "page has no CSRF header for htmx"
    return match.group(1)


class Session:
    """A signed-in browser: a test client plus its CSRF token for POSTs."""

    def __init__(self, app, client, user):
        self.app, self.client, self.user = app, client, user
        self.csrf = None

    def token(self) -> str:
        if self.csrf is None:
            # Sign-in rotates the session, so the token comes from a page seen after it.
            page = self.client.get("/cameras")
            self.csrf = csrf_token_from(page.get_data(as_text=True))
        return self.csrf

    def get(self, url, **kw):
        return self.client.get(url, **kw)

    def post(self, url, **kw):
        headers = dict(kw.pop("headers", {}) or {})
        headers.setdefault("X-CSRFToken", self.token())
        return self.client.post(url, headers=headers, **kw)

    def delete(self, url, **kw):
        headers = dict(kw.pop("headers", {}) or {})
        headers.setdefault("X-CSRFToken", self.token())
        return self.client.delete(url, headers=headers, **kw)


@pytest.fixture
def login_as(app):
    """``login_as(role, cameras=None)``: a new user of that role signed in on its own client.

    For ``integration`` (API keys only) it returns headers with a bearer token instead.
    """
    counter = {"n": 0}

    def login(role: str, cameras=None, username: str | None = None):
        counter["n"] += 1
        with app.app_context():
            if role == "integration":
                token = factories.make_api_key("integration", cameras)
                return {"Authorization": f"Bearer {token}"}
            name = username or f"{role}{counter['n']}"
            user = factories.make_user(name, role, cameras, PASSWORD)
            user_id = user.id
        client = app.test_client()
        page = client.get("/login").get_data(as_text=True)
        token = csrf_token_from(page)
        resp = client.post(
            "/login", data={"username": name, "password": PASSWORD, "csrf_token": token}
        )
        assert resp.status_code == 302, resp.get_data(as_text=True)
        session = Session(app, client, user_id)
        return session

    return login


def walk_link_pages(get, url: str, max_pages: int = 50) -> tuple[list[str], int]:
    """Follow ``Link: rel="next"`` from ``url``; returns (every gap id seen, pages read)."""
    seen: list[str] = []
    pages = 0
    while url:
        resp = get(url)
        assert resp.status_code == 200, resp.get_data(as_text=True)
        seen += [g["id"] for g in resp.json]
        link = resp.headers.get("Link")
        url = link[1 : link.index(">")] if link else None
        pages += 1
        assert pages <= max_pages, "the cursor never ends"
    return seen, pages


@pytest.fixture
def require_postgres():
    """The PostgreSQL URL for tests that need it; skipped without one unless CI demands it."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail("REQUIRE_POSTGRES=1 but TEST_DATABASE_URL is not set")
        pytest.skip("TEST_DATABASE_URL not set (PostgreSQL tests)")
    return url
