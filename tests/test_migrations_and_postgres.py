"""Alembic migrations match the models, on SQLite and PostgreSQL; the API works on PostgreSQL."""

from datetime import timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade
from flask_migrate import upgrade
from sqlalchemy import create_engine
from sqlalchemy import text

from tests.factories import BASE_TIME
from tests.factories import make_camera
from tests.factories import make_gap
from tests.factories import make_gaps
from webapp import create_app
from webapp.config import normalise_database_url
from webapp.extensions import db as _db


def _schema_diff(app):
    with app.app_context():
        with _db.engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(ctx, _db.metadata)


def _fresh_app(tmp_path, monkeypatch, url):
    monkeypatch.setenv("REPLENISH_INSTANCE", str(tmp_path / "instance"))
    return create_app({"TESTING": True, "SECRET_KEY": "k", "SQLALCHEMY_DATABASE_URI": url})


def test_sqlite_upgrade_builds_exactly_the_models_and_downgrades(tmp_path, monkeypatch):
    app = _fresh_app(tmp_path, monkeypatch, f"sqlite:///{tmp_path}/m.db")
    with app.app_context():
        upgrade()
    assert _schema_diff(app) == []
    with app.app_context():
        downgrade(revision="base")
        tables = _db.inspect(_db.engine).get_table_names()
        assert set(tables) <= {"alembic_version"}


def test_sqlite_upgrade_keeps_the_fleet_count_triggers(tmp_path, monkeypatch):
    """A batch migration rebuilding ``cameras`` drops its triggers: it must create them again."""
    from webapp.models.fleet_stats import TRIGGERS

    app = _fresh_app(tmp_path, monkeypatch, f"sqlite:///{tmp_path}/t.db")
    with app.app_context():
        upgrade()
        with _db.engine.begin() as conn:
            names = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
            assert set(TRIGGERS) <= set(names.scalars())
            conn.execute(
                text(
                    "INSERT INTO cameras (id, name, site, timezone, vendor, address, rtsp_port,"
                    " http_port, username, password_encrypted, channel, anr_enabled,"
                    " segment_seconds, replay_clock, fill_method, enabled, attention, created_at,"
                    " updated_at) VALUES ('c1', 'C', 'S', 'UTC', 'generic', '', 554, 80, '', '',"
                    " 1, 0, 60, 'utc', 'auto', 1, 4, '2026-01-01', '2026-01-01')"
                )
            )
            row = conn.execute(text("SELECT * FROM fleet_site_stats")).one()
        assert tuple(row) == ("S", 1, 1, 1, 1)
        _db.engine.dispose()


def _reset_postgres(url: str) -> None:
    engine = create_engine(normalise_database_url(url))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture
def pg_url(require_postgres):
    _reset_postgres(require_postgres)
    yield require_postgres
    _reset_postgres(require_postgres)


@pytest.mark.postgres
def test_postgres_upgrade_builds_exactly_the_models(pg_url, tmp_path, monkeypatch):
    app = _fresh_app(tmp_path, monkeypatch, pg_url)
    with app.app_context():
        upgrade()
    assert _schema_diff(app) == []
    with app.app_context():
        _db.engine.dispose()


@pytest.fixture
def pg_app(pg_url, make_app):
    app = make_app(SQLALCHEMY_DATABASE_URI=pg_url)
    yield app
    with app.app_context():
        _db.session.remove()
        _db.engine.dispose()


@pytest.mark.postgres
def test_postgres_list_paging_retry_and_counts(pg_app):
    from tests.conftest import PASSWORD
    from tests.conftest import csrf_token_from
    from tests.conftest import walk_link_pages
    from tests.factories import make_user

    with pg_app.app_context():
        make_camera("cam1")
        made = make_gaps("cam1", 12, state="failed")
        make_gap(
            "cam1",
            BASE_TIME - timedelta(days=1),
            state="filled",
            filled_at=BASE_TIME + timedelta(microseconds=120),
        )
        make_user("pgm", "manager")
        ids = {g.id for g in made}
    client = pg_app.test_client()
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    client.post("/login", data={"username": "pgm", "password": PASSWORD, "csrf_token": token})
    url = "/api/v1/cameras/cam1/recording-gaps?state=failed&limit=5"
    seen, _ = walk_link_pages(client.get, url)
    assert len(seen) == 12 and set(seen) == ids
    # Times come back as UTC RFC 3339 whatever the server's own zone.
    first = client.get("/api/v1/cameras/cam1/recording-gaps?state=filled").json[0]
    assert (
        first["gap_start"] == "2026-06-12T12:00:00Z" and first["gap_end"] == "2026-06-12T12:01:00Z"
    )
    one = sorted(ids)[0]
    retried = client.post(f"/api/v1/cameras/cam1/recording-gaps/{one}/retry")
    assert retried.status_code == 200 and retried.json["fill_state"] == "pending"
    bulk = client.post("/api/v1/cameras/cam1/recording-gaps/retry-failed")
    assert bulk.json == {"retried": 11}
    counts = client.get("/api/v1/cameras").json[0]["counts"]
    assert counts == {
        "pending": 12,
        "filling": 0,
        "filled": 1,
        "partial": 0,
        "failed": 0,
        "expired": 0,
    }
    assert client.get("/cameras/cam1/gaps").status_code == 200
    assert client.get("/cameras").status_code == 200
