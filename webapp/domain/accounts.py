"""Lifecycle of users and API keys: disable, enable, new password, unlock, create and revoke keys.

Shared by the ``flask users`` / ``flask apikeys`` commands and the admin pages. Each function
changes rows and writes its audit row in the caller's session; the caller commits.
"""

import secrets
from datetime import timedelta

from sqlalchemy import select

from ..extensions import db
from ..models import KEY_ROLES
from ..models import USER_ROLES
from ..models import ApiKey
from ..models import Camera
from ..models import User
from ..models import utcnow
from ..models.user import EMBED_ROLES
from . import throttle
from .audit import record

MIN_PASSWORD = 8
MAX_EXPIRES_DAYS = 3650


class AccountError(ValueError):
    """A lifecycle request that cannot be done, in words for the operator."""


def user_named(username: str) -> User:
    """The user with this username (case-insensitive); AccountError when there is none."""
    norm = User.normalise(username)
    user = db.session.execute(select(User).where(User.username == norm)).scalar_one_or_none()
    if user is None:
        raise AccountError(f"no user named '{norm[:150]}'")
    return user


def end_sessions(user: User) -> None:
    """Make every session cookie of the user worthless at its next request."""
    user.session_epoch = (user.session_epoch or 0) + 1


def set_active(user: User, active: bool, actor) -> None:
    """Disable (ending every session at once) or enable a user."""
    if user.active == active:
        return
    user.active = active
    if not active:
        end_sessions(user)
    record(
        "user_enable" if active else "user_disable",
        "user",
        user.id,
        detail={"username": user.username},
        actor=actor,
    )


KEEP = object()  # an edit_user argument left as it is


def edit_user(user: User, actor, *, role=KEEP, cameras=KEEP, display_name=KEEP) -> dict:
    """Change a user's role, camera scope (None: all cameras) or display name, audited.

    Returns ``{field: [before, after]}`` of what changed (nothing changed: no audit row).
    ``actor`` is who makes the change: an admin may not change their own role or scope (they
    would lock themselves out of this page). The caller commits.
    """
    wanted: dict = {}
    if role is not KEEP:
        if role not in USER_ROLES:
            raise AccountError(f"role must be one of {', '.join(USER_ROLES)}")
        wanted["role"] = role
    if cameras is not KEEP:
        wanted["camera_scope"] = cameras
    if display_name is not KEEP:
        name = str(display_name or "").strip()
        if len(name) > 200:
            raise AccountError("display name: at most 200 characters")
        wanted["display_name"] = name or user.username
    changed = {k: [getattr(user, k), v] for k, v in wanted.items() if getattr(user, k) != v}
    if getattr(actor, "id", None) == user.id and ({"role", "camera_scope"} & changed.keys()):
        raise AccountError("you cannot change your own role or camera scope")
    if not changed:
        return {}
    for name, (_, after) in changed.items():
        setattr(user, name, after)
    detail = {"username": user.username, "changed": changed}
    record("user_update", "user", user.id, detail=detail, actor=actor)
    return changed


def set_password(user: User, password: str, actor) -> None:
    """Give a user a new password; their sessions end and their sign-in delays are lifted."""
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password needs at least {MIN_PASSWORD} characters")
    user.set_password(password)
    end_sessions(user)
    throttle.unlock(user.username)
    record("user_set_password", "user", user.id, detail={"username": user.username}, actor=actor)


def unlock(username: str, actor) -> int:
    """Lift every sign-in delay on a username (known or not); returns the counters removed."""
    norm = User.normalise(username)[:150]
    removed = throttle.unlock(norm)
    user = db.session.execute(select(User.id).where(User.username == norm)).scalar()
    record("user_unlock", "user", user, detail={"username": norm, "counters": removed}, actor=actor)
    return removed


def mint_api_key(name: str, role: str, cameras: list[str] | None, expires_at=None):
    """Create an API key; returns (key, token). The token is shown once and never stored."""
    token = "rpl_" + secrets.token_urlsafe(32)
    key = ApiKey(
        name=name,
        role=role,
        camera_scope=cameras,
        token_sha256=ApiKey.hash_token(token),
        prefix=token[:10],
        expires_at=expires_at,
    )
    db.session.add(key)
    return key, token


def parse_cameras(raw: str | None) -> list[str] | None:
    """A comma-separated camera list as a sorted scope; None (all cameras) when empty.

    A camera that does not exist is refused by name ("lobbby"): a typo would otherwise leave
    the person with a scope that silently shows nothing.
    """
    ids = sorted({c.strip() for c in (raw or "").split(",") if c.strip()})
    if not ids:
        return None
    known = set(db.session.scalars(select(Camera.id).where(Camera.id.in_(ids))))
    unknown = [c[:64] for c in ids if c not in known]
    if unknown:
        raise AccountError(f"no such camera: {', '.join(unknown[:20])}")
    return ids


def key_state(key: ApiKey) -> str:
    """``active``, ``revoked`` or ``expired``."""
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= utcnow():
        return "expired"
    return "active"


def create_key(
    name: str,
    role: str,
    cameras: list[str] | None,
    expires_days: int | None = None,
    embed_role_ceiling: str = "manager",
    *,
    actor,
) -> tuple[ApiKey, str]:
    """Create an API key; returns (key, token). The token is shown once and never stored."""
    name = (name or "").strip()
    if not name or len(name) > 150 or any(c.isspace() for c in name):
        raise AccountError("a key name is 1-150 characters without spaces")
    if role not in KEY_ROLES:
        raise AccountError(f"role must be one of {', '.join(KEY_ROLES)}")
    if embed_role_ceiling not in EMBED_ROLES:
        raise AccountError(f"embed role ceiling must be one of {', '.join(EMBED_ROLES)}")
    if expires_days is not None and not 1 <= expires_days <= MAX_EXPIRES_DAYS:
        raise AccountError(f"expiry must be 1 to {MAX_EXPIRES_DAYS} days")
    if any(key_state(k) == "active" for k in keys_named(name)):
        raise AccountError(f"an active key named '{name}' exists; revoke it first")
    expires_at = utcnow() + timedelta(days=expires_days) if expires_days else None
    key, token = mint_api_key(name, role, cameras, expires_at)
    key.embed_role_ceiling = embed_role_ceiling
    db.session.flush()
    record(
        "apikey_create",
        "api_key",
        key.id,
        detail={
            "name": name,
            "role": role,
            "cameras": cameras,
            "expires_at": expires_at.isoformat() if expires_at else None,
            "embed_role_ceiling": embed_role_ceiling,
        },
        actor=actor,
    )
    return key, token


def keys_named(name: str) -> list[ApiKey]:
    """Every key with this name (revoked and expired ones included), newest first."""
    return list(
        db.session.execute(
            select(ApiKey).where(ApiKey.name == name).order_by(ApiKey.created_at.desc())
        ).scalars()
    )


def revoke_key(key: ApiKey, actor) -> None:
    """Revoke a key: its next request is a 401."""
    if key.revoked_at is not None:
        raise AccountError(f"key '{key.name}' ({key.prefix}) is already revoked")
    key.revoked_at = utcnow()
    detail = {"name": key.name, "prefix": key.prefix}
    record("apikey_revoke", "api_key", key.id, detail=detail, actor=actor)


def revoke_named(name: str, actor) -> list[ApiKey]:
    """Revoke every unrevoked key with this name; AccountError when there is none."""
    keys = [k for k in keys_named(name) if k.revoked_at is None]
    if not keys:
        raise AccountError(f"no unrevoked key named '{name[:150]}'")
    for key in keys:
        revoke_key(key, actor)
    return keys
