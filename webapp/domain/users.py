"""People who sign in: creating a user, shared by the CLI, the demo seed and the admin pages."""

from sqlalchemy import select

from ..extensions import db
from ..models import USER_ROLES
from ..models import User
from .audit import record


class UserRefused(ValueError):
    """The new user's name, role or password is not acceptable (the message says which)."""


def create_user(
    username: str,
    role: str,
    password: str,
    cameras: list[str] | None = None,
    display_name: str = "",
    *,
    actor,
) -> User:
    """Create a user with its audit row (the caller commits); UserRefused names what is wrong."""
    norm = User.normalise(username)
    if not norm or len(norm) > 150 or any(c.isspace() for c in norm):
        raise UserRefused("username must be 1-150 characters without spaces")
    if role not in USER_ROLES:
        raise UserRefused(f"role must be one of {', '.join(USER_ROLES)}")
    if db.session.execute(select(User).where(User.username == norm)).scalar_one_or_none():
        raise UserRefused(f"user '{norm}' already exists")
    if len(password) < 8:
        raise UserRefused("password must be at least 8 characters")
    user = User(
        username=norm, display_name=display_name or username, role=role, camera_scope=cameras
    )
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    detail = {"username": norm, "role": role, "cameras": cameras}
    record("user_create", "user", user.id, detail=detail, actor=actor)
    return user
