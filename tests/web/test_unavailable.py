"""A database that is locked, stopped or gone answers 503 + Retry-After, never 500."""

import sqlite3
import time
import uuid

import pytest
from sqlalchemy import create_engine
from sqlalchemy import text

from tests import factories
from tests.conftest import PASSWORD
from tests.conftest import csrf_token_from
from webapp.config import normalise_database_url
from webapp.extensions import db as _db


def test_api_post_without_credential_is_401_with_bearer_challenge(csrf_app):
    client = csrf_app.test_client()
    resp = client.post("/api/v1/cameras/cam1/recording-gaps/retry-failed")
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert resp.json["code"] == "unauthorized"


def test_api_post_with_a_session_still_needs_the_csrf_header(csrf_app):
    with csrf_app.app_context():
        factories.make_camera("cam1")
        factories.make_user("mgr", "manager", password=PASSWORD)
    client = csrf_app.test_client()
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    signed_in = client.post(
        "/login", data={"username": "mgr", "password": PASSWORD, "csrf_token": token}
    )
    assert signed_in.status_code == 302
    resp = client.post("/api/v1/cameras/cam1/recording-gaps/retry-failed")
    assert resp.status_code == 400
    assert resp.json["code"] == "csrf_failed"


def test_locked_sqlite_answers_503_within_the_busy_timeout(app, login_as, tmp_path):
    with app.app_context():
        factories.make_camera("cam1")
        factories.make_gap("cam1", state="failed")
    manager = login_as("manager")
    holder = sqlite3.connect(tmp_path / "test.db", timeout=0)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        resp = manager.post("/api/v1/cameras/cam1/recording-gaps/retry-failed")
        took = time.monotonic() - started
    finally:
        holder.rollback()
        holder.close()
    assert resp.status_code == 503
    assert resp.headers["Retry-After"]
    assert resp.json["code"] == "db_busy"
    assert took < 5, f"held the request {took:.1f} s"


def _gone_database_app(make_app, base_url: str):
    """An app whose PostgreSQL database is created, used, then dropped under it."""
    name = f"replenish_sec_gone_{uuid.uuid4().hex[:8]}"
    admin_url = base_url.rsplit("/", 1)[0] + "/postgres"
    admin = create_engine(normalise_database_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    app = make_app(SQLALCHEMY_DATABASE_URI=base_url.rsplit("/", 1)[0] + "/" + name)
    return app, admin, name


@pytest.mark.postgres
def test_postgres_dropped_under_the_app_answers_503(make_app, require_postgres):
    app, admin, name = _gone_database_app(make_app, require_postgres)
    with app.app_context():
        factories.make_camera("cam1")
        factories.make_user("boss", "admin")
    client = app.test_client()
    client.post("/login", data={"username": "boss", "password": PASSWORD})
    assert client.get("/cameras").status_code == 200
    with admin.connect() as conn:
        # Ends the app's pooled connections (as a restart of the server would), then drops it.
        conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()
    for path in ("/cameras", "/cameras/cam1/gaps", "/audit", "/admin/cameras", "/login", "/nope"):
        resp = client.get(path)
        assert resp.status_code == 503, (path, resp.status_code)
        assert resp.headers["Retry-After"]
        assert b"<html" in resp.data and b"Internal Server Error" not in resp.data
    for path in ("/api/v1/cameras", "/api/v1/cameras/cam1/recording-gaps"):
        resp = client.get(path)
        assert resp.status_code == 503, (path, resp.status_code)
        assert resp.headers["Retry-After"]
        assert resp.json["code"] == "db_unavailable"
    resp = client.post("/api/v1/cameras/cam1/recording-gaps/retry-failed")
    assert resp.status_code == 503


@pytest.mark.postgres
def test_postgres_terminated_backends_are_replaced(make_app, require_postgres):
    app, admin, name = _gone_database_app(make_app, require_postgres)
    try:
        with app.app_context():
            factories.make_camera("cam1")
        client = app.test_client()
        with admin.connect() as conn:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"),
                {"d": name},
            )
        # A pooled connection that was terminated is noticed and replaced (pre-ping).
        assert client.get("/healthz").status_code == 200
        assert client.get("/login").status_code == 200
    finally:
        with app.app_context():
            _db.engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _terminate(admin, name: str, pid: int | None = None) -> int:
    """End the app's backends on database ``name`` (one ``pid``, or all); how many ended."""
    with admin.connect() as conn:
        query = "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = :d"
        if pid is not None:
            query += " AND pid = :p"
        return conn.execute(text(query), {"d": name, "p": pid}).scalar_one()


@pytest.mark.postgres
def test_teardown_of_a_request_whose_connection_was_terminated_does_not_raise(
    make_app, require_postgres
):
    app, admin, name = _gone_database_app(make_app, require_postgres)
    try:
        ctx = app.app_context()
        ctx.push()
        # A transaction is open on the connection when the server ends it, as mid-request.
        pid = _db.session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        assert _terminate(admin, name, pid) == 1
        ctx.pop()  # the teardown's rollback meets the dead connection: it must not raise
        assert app.test_client().get("/healthz").status_code == 200
    finally:
        with app.app_context():
            _db.engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.postgres
def test_backends_terminated_under_load_are_503_or_200_never_500(make_app, require_postgres):
    import threading

    app, admin, name = _gone_database_app(make_app, require_postgres)
    try:
        with app.app_context():
            factories.make_camera("cam1")
            factories.make_gap("cam1", state="failed")
            factories.make_user("boss", "admin")
        client = app.test_client()
        client.post("/login", data={"username": "boss", "password": PASSWORD})
        done = threading.Event()
        ended = []

        def kill_backends():
            for _ in range(400):  # bounded: at most a few seconds
                if done.is_set():
                    return
                ended.append(_terminate(admin, name))
                time.sleep(0.01)

        killer = threading.Thread(target=kill_backends)
        killer.start()
        statuses = []
        try:
            for n in range(150):
                path = ("/api/v1/cameras", "/cameras/cam1/gaps", "/api/v1/queue")[n % 3]
                resp = client.get(path)
                statuses.append(resp.status_code)
                if resp.status_code == 503:
                    assert resp.headers["Retry-After"]
        finally:
            done.set()
            killer.join(10)
        assert sum(ended) > 0
        assert set(statuses) <= {200, 503}, sorted(set(statuses))
    finally:
        with app.app_context():
            _db.engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
