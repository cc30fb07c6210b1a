"""Replenish: the recording-gap console. ``create_app`` builds the Flask app in small steps."""

import logging
import os
from datetime import timedelta

from flask import Flask
from flask import g
from flask import request
from flask_login import current_user
from sqlalchemy import event

from . import cli
from . import config as config_mod
from . import errors
from .admin import bp as admin_bp
from .api import bp as api_bp
from .audit.views import bp as audit_bp
from .auth import bp as auth_bp
from .auth import credentials  # noqa: F401  (registers the user and key loaders)
from .auth.credentials import is_bearer_request
from .auth.unauthorized import install as install_unauthorized
from .embed import bp as embed_signon_bp
from .errors import Problem
from .extensions import csrf
from .extensions import db
from .extensions import login_manager
from .extensions import migrate
from .gaps import bp as gaps_bp
from .health import bp as health_bp
from .pages import presenters
from .plumbing import accesslog
from .plumbing import limits
from .plumbing.security import apply_security_headers
from .plumbing.sessions import EmbedAwareSessionInterface
from .queue import bp as queue_bp


def create_app(test_config: dict | None = None) -> Flask:
    """Create and configure an app; tests pass a mapping that overrides the environment."""
    app = Flask(
        __name__,
        template_folder="../templates",
        static_folder="../static",
        instance_path=os.environ.get("REPLENISH_INSTANCE") or None,
        instance_relative_config=True,
    )
    configure(app, test_config)
    register_limits(app)
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_request_hooks(app)
    register_template_helpers(app)
    register_commands(app)
    return app


def configure(app: Flask, test_config: dict | None) -> None:
    """Environment first, then the test mapping; a SECRET_KEY is generated once if absent."""
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.from_mapping(config_mod.from_environment(app.instance_path))
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="replenish_session",
        # The lifetime counts from sign-in and the cookie's expiry with it (plumbing/sessions.py):
        # re-signing an unchanged cookie on every request (every poll) would send the same thing.
        SESSION_REFRESH_EACH_REQUEST=False,
        REMEMBER_COOKIE_HTTPONLY=True,
        WTF_CSRF_CHECK_DEFAULT=False,  # checked in one hook below, skipped for bearer requests
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
    )
    if test_config:
        app.config.update(test_config)
    # Flask's own setting bounds the signed cookie (max age, expiry); see plumbing/sessions.py.
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(
        hours=float(app.config["SESSION_LIFETIME_HOURS"])
    )
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = config_mod.load_secret_key(app.instance_path)
    uri = config_mod.normalise_database_url(app.config["SQLALCHEMY_DATABASE_URI"])
    app.config["SQLALCHEMY_DATABASE_URI"] = uri
    config_mod.secure_instance(app.instance_path, uri)
    if uri.startswith("sqlite"):
        # Wait for a busy SQLite writer, but only DB_BUSY_TIMEOUT_S: then 503, not a held worker.
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            "connect_args": {"timeout": float(app.config["DB_BUSY_TIMEOUT_S"])}
        }
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    accesslog.install()


def register_limits(app: Flask) -> None:
    """Body size, form parts, JSON depth and the trusted proxies (see plumbing/limits.py)."""
    limits.install(app)


def register_extensions(app: Flask) -> None:
    """Bind the module-level extensions to this app."""
    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(__file__), "..", "migrations"))
    login_manager.init_app(app)
    login_manager.login_view = "auth.login_form"
    login_manager.login_message = "Sign in to continue."
    login_manager.session_protection = "basic"
    csrf.init_app(app)
    app.session_interface = EmbedAwareSessionInterface()
    install_unauthorized(login_manager)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        with app.app_context():
            _sqlite_pragmas()


def _sqlite_pragmas() -> None:
    """WAL and foreign keys on every SQLite connection (cascades need foreign keys on)."""
    engine = db.engine

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()


def register_blueprints(app: Flask) -> None:
    """Attach every blueprint; the gap pages and the queue a second time as the embed layout.

    ``/embed/cameras...`` is the gaps blueprint again (endpoints ``embed.*``) and
    ``/embed/queue`` the queue blueprint again (``embed_queue.*``): their links are relative
    (``url_for(".camera_gaps")``), so an embedded page never links out of /embed. What only the
    embed has (sign-on, framing, the cookie, the compact layout) keys on the ``/embed/`` prefix
    (``plumbing.security.embed_request``).
    """
    for bp in (auth_bp, gaps_bp, api_bp, audit_bp, admin_bp, embed_signon_bp, health_bp, queue_bp):
        app.register_blueprint(bp)
    app.register_blueprint(gaps_bp, url_prefix="/embed", name="embed")
    app.register_blueprint(queue_bp, url_prefix="/embed", name="embed_queue")


def register_errorhandlers(app: Flask) -> None:
    """JSON, htmx-inline or full-page errors (see webapp.errors)."""
    errors.register_errorhandlers(app)


def register_request_hooks(app: Flask) -> None:
    """CSRF for session-cookie writes; the security headers (docs/design.md) on every answer."""

    def raise_nul():
        raise Problem(400, "the request contains a NUL character", "invalid_characters")

    @app.before_request
    def refuse_nul_bytes():
        # No text the app stores or matches may hold NUL (PostgreSQL refuses it outright).
        fields = list(request.args.items(multi=True))
        if request.mimetype == "application/x-www-form-urlencoded":
            fields += request.form.items(multi=True)
        if "\x00" in request.path or any("\x00" in k + v for k, v in fields):
            raise_nul()

    @app.before_request
    def check_csrf():
        if not app.config.get("WTF_CSRF_ENABLED", True):
            return
        if request.method not in ("POST", "PUT", "PATCH", "DELETE") or is_bearer_request():
            return
        if request.path.startswith("/api/") and not current_user.is_authenticated:
            return  # no session to forge a request with: the API answers 401, not a CSRF error
        csrf.protect()

    @app.after_request
    def headers(resp):
        return apply_security_headers(resp)

    @app.teardown_appcontext
    def forget_bearer(_exc):
        g.pop("bearer_auth", None)


def register_template_helpers(app: Flask) -> None:
    """Filters and globals the templates share."""
    presenters.install(app)


def register_commands(app: Flask) -> None:
    """The ``flask`` command groups (see the README)."""
    cli.install(app)
