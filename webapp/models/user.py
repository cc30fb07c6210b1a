"""People (users) and machine credentials (API keys)."""

import hashlib
from datetime import datetime

from flask import current_app
from flask import has_app_context
from flask_login import UserMixin
from sqlalchemy import JSON
from sqlalchemy import Boolean
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from werkzeug.security import check_password_hash
from werkzeug.security import generate_password_hash

from ..extensions import Model
from .gap import new_id
from .types import UTCDateTime
from .types import utcnow

USER_ROLES = ("viewer", "guard", "manager", "admin")
# What an embed session may act as, lowest first: never admin, whatever the user or key.
EMBED_ROLES = ("viewer", "guard", "manager")


def password_method() -> str:
    """The hash method for new passwords: full-strength scrypt, or a cheap one tests configure."""
    if has_app_context():
        return current_app.config.get("PASSWORD_HASH_METHOD", "scrypt")
    return "scrypt"


KEY_ROLES = USER_ROLES + ("integration",)


class Principal:
    """What users and API keys share: a role, a camera scope and an audit identity."""

    id: str
    role: str
    camera_scope: list | None
    # Set for one request by an embed session that was minted for a single camera.
    narrowed_to: list | None = None
    # Set for one request by an embed session: the role it may act as, and who minted it
    # (``minter()`` of that key or person: kind, id, name, label).
    role_ceiling: str | None = None
    embed_via: dict | None = None

    @property
    def via_key(self) -> str | None:
        """The name of the API key that minted this embed session, if a key did."""
        via = self.embed_via
        return via.get("name") if via and via.get("kind") == "key" else None

    @property
    def via_label(self) -> str | None:
        """Who minted this embed session, as audit rows say it ("key vms", "admin sadmin")."""
        return self.embed_via.get("label") if self.embed_via else None

    @property
    def acting_role(self) -> str:
        """The role this request acts with: the principal's, capped by an embed session."""
        if self.role_ceiling is None or self.role not in USER_ROLES:
            return self.role
        return min(self.role, self.role_ceiling, key=USER_ROLES.index)

    @property
    def scope(self) -> list | None:
        """Camera ids this principal may see now (None = every camera)."""
        if self.narrowed_to is None:
            return self.camera_scope
        if self.camera_scope is None:
            return list(self.narrowed_to)
        return [c for c in self.narrowed_to if c in self.camera_scope]

    def in_scope(self, camera_id: str) -> bool:
        """True when the principal may see ``camera_id``."""
        scope = self.scope
        return scope is None or camera_id in scope

    @property
    def actor_id(self) -> str:
        return self.id

    def minter(self) -> dict:
        """What an embed session minted by this principal carries to name and re-check it."""
        raise NotImplementedError

    @property
    def actor_name(self) -> str:
        raise NotImplementedError


class User(UserMixin, Principal, Model):
    """A person who signs in with a username and password."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    # Stored lower-cased, which makes the unique index case-insensitive on every database.
    username: Mapped[str] = mapped_column(String(150), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    camera_scope: Mapped[list | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Bumped at sign-out: every session cookie issued before stops matching (cookie sessions
    # live in the browser, so this is how a signed-out cookie is made worthless).
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)

    @staticmethod
    def normalise(username: str) -> str:
        return (username or "").strip().lower()

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password, method=password_method())

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

    def get_id(self) -> str:  # Flask-Login: user id and epoch, so a rotated session is refused
        return f"{self.id}:{self.session_epoch}"

    @property
    def actor_name(self) -> str:
        if self.via_label:
            return f"{self.username} via {self.via_label}"[:200]
        return self.username

    def minter(self) -> dict:
        return {
            "kind": "user",
            "id": self.id,
            "name": self.username,
            "label": f"{self.role} {self.username}",
        }


class ApiKey(Principal, Model):
    """A bearer token for a machine client; only its SHA-256 is stored."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(150))
    role: Mapped[str] = mapped_column(String(16))
    camera_scope: Mapped[list | None] = mapped_column(JSON, nullable=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The highest role an embed session minted by this key may act as (never admin).
    embed_role_ceiling: Mapped[str] = mapped_column(
        String(16), default="manager", server_default="manager"
    )

    # Flask-Login treats the loaded key as the current principal for this request only.
    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self) -> bool:
        now = utcnow()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    def get_id(self) -> str:
        return f"key:{self.id}"

    @staticmethod
    def hash_token(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    @property
    def actor_name(self) -> str:
        return f"key:{self.name}"

    def minter(self) -> dict:
        return {"kind": "key", "id": self.id, "name": self.name, "label": f"key {self.name}"}
