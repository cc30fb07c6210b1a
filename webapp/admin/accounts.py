"""Admin pages for users and API keys: list, create, disable/enable, new password, unlock, revoke.

Only an admin with no camera scope manages accounts: a scoped admin could otherwise create an
unscoped one. A new password or token is shown once, on the answer to the form that made it.
"""

import secrets

from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_login import current_user
from sqlalchemy import select

from ..domain import accounts
from ..domain.users import UserRefused
from ..domain.users import create_user
from ..errors import Problem
from ..extensions import db
from ..models import KEY_ROLES
from ..models import USER_ROLES
from ..models import ApiKey
from ..models import User
from ..models.user import EMBED_ROLES
from . import bp


def _require_unscoped_admin() -> None:
    if current_user.scope is not None:
        raise Problem(403, "a camera-scoped admin may not manage users and API keys")


def _users_page(status: int = 200, **extra):
    users = db.session.execute(select(User).order_by(User.username)).scalars().all()
    return render_template("admin/users.html", users=users, roles=USER_ROLES, **extra), status


def _keys_page(status: int = 200, **extra):
    keys = db.session.execute(select(ApiKey).order_by(ApiKey.name, ApiKey.created_at)).scalars()
    return render_template(
        "admin/api_keys.html",
        keys=keys.all(),
        roles=KEY_ROLES,
        ceilings=EMBED_ROLES,
        state_of=accounts.key_state,
        **extra,
    ), status


@bp.get("/users")
def users():
    """Every user with role, scope, state and last sign-in, and the form to add one."""
    _require_unscoped_admin()
    return _users_page()


@bp.post("/users")
def create_user_page():
    """Create a user; the generated password is shown once."""
    _require_unscoped_admin()
    password = secrets.token_urlsafe(12)
    try:
        user = create_user(
            request.form.get("username", ""),
            request.form.get("role", ""),
            password,
            accounts.parse_cameras(request.form.get("cameras", "")),
            actor=current_user,
        )
    except (UserRefused, accounts.AccountError) as exc:
        db.session.rollback()
        return _users_page(422, error=str(exc), form=request.form)
    db.session.commit()
    return _users_page(shown_password=(user.username, password))


def _user(user_id: str) -> User:
    user = db.session.get(User, user_id[:64])
    if user is None:
        raise Problem(404, f"user {user_id[:64]} not found")
    return user


@bp.post("/users/<user_id>/active")
def set_user_active(user_id: str):
    """Disable (their sessions end now) or enable a user."""
    _require_unscoped_admin()
    user = _user(user_id)
    active = request.form.get("active") == "1"
    if not active and user.id == current_user.id:
        raise Problem(409, "you cannot disable your own account")
    accounts.set_active(user, active, current_user)
    db.session.commit()
    flash(f"{user.username} is {'enabled' if active else 'disabled'}.")
    return redirect(url_for(".users"), 303)


@bp.post("/users/<user_id>/edit")
def edit_user(user_id: str):
    """Change a user's role, camera scope and display name (one ``user_update`` audit row)."""
    _require_unscoped_admin()
    user = _user(user_id)
    try:
        changed = accounts.edit_user(
            user,
            current_user,
            role=request.form.get("role", user.role),
            cameras=accounts.parse_cameras(request.form.get("cameras", "")),
            display_name=request.form.get("display_name", user.display_name),
        )
    except accounts.AccountError as exc:
        db.session.rollback()
        return _users_page(422, error=f"{user.username} was not changed: {exc}")
    db.session.commit()
    flash(f"{user.username}: {', '.join(sorted(changed)) or 'nothing'} changed.")
    return redirect(url_for(".users"), 303)


@bp.post("/users/<user_id>/password")
def reset_password(user_id: str):
    """Give a user a new generated password, shown once; their sessions end."""
    _require_unscoped_admin()
    user = _user(user_id)
    password = secrets.token_urlsafe(12)
    accounts.set_password(user, password, current_user)
    db.session.commit()
    return _users_page(shown_password=(user.username, password))


@bp.post("/users/<user_id>/unlock")
def unlock_user(user_id: str):
    """Lift the sign-in delays on a user."""
    _require_unscoped_admin()
    user = _user(user_id)
    accounts.unlock(user.username, current_user)
    db.session.commit()
    flash(f"Sign-in delays lifted for {user.username}.")
    return redirect(url_for(".users"), 303)


@bp.get("/api-keys")
def api_keys():
    """Every API key with its state and expiry, and the form to add one."""
    _require_unscoped_admin()
    return _keys_page()


@bp.post("/api-keys")
def create_api_key():
    """Create an API key; its token is shown once and only its SHA-256 is kept."""
    _require_unscoped_admin()
    raw_days = (request.form.get("expires_days") or "").strip()
    try:
        days = int(raw_days) if raw_days else None
        key, token = accounts.create_key(
            request.form.get("name", ""),
            request.form.get("role", ""),
            accounts.parse_cameras(request.form.get("cameras", "")),
            days,
            request.form.get("embed_role_ceiling") or "manager",
            actor=current_user,
        )
    except ValueError as exc:  # AccountError, or days that are not a number
        db.session.rollback()
        message = str(exc) if isinstance(exc, accounts.AccountError) else "expiry is in days"
        return _keys_page(422, error=message, form=request.form)
    db.session.commit()
    return _keys_page(shown_token=(key.name, token))


@bp.post("/api-keys/<key_id>/revoke")
def revoke_api_key(key_id: str):
    """Revoke a key: its next request is a 401."""
    _require_unscoped_admin()
    key = db.session.get(ApiKey, key_id[:64])
    if key is None:
        raise Problem(404, f"API key {key_id[:64]} not found")
    try:
        accounts.revoke_key(key, current_user)
    except accounts.AccountError as exc:
        raise Problem(409, str(exc)) from None
    db.session.commit()
    flash(f"Key {key.name} revoked.")
    return redirect(url_for(".api_keys"), 303)
