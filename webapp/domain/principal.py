"""Roles, capabilities and camera scope: the one place that decides who may do what."""

from flask import abort
from flask_login import current_user

from ..errors import Problem
from ..extensions import db
from ..models import Camera
from ..models import valid_camera_id

# capability -> (roles that have it, the words of the 403 message)
CAPABILITIES: dict[str, tuple[frozenset[str], str]] = {
    "view": (
        frozenset({"viewer", "guard", "manager", "admin", "integration"}),
        "view cameras and recording gaps",
    ),
    "retry": (frozenset({"manager", "admin"}), "retry recording-gap fill"),
    "read_audit": (frozenset({"manager", "admin"}), "read the audit log"),
    "manage_cameras": (frozenset({"admin"}), "manage cameras"),
    "manage_users": (frozenset({"admin"}), "manage users and API keys"),
    "control_fills": (frozenset({"manager", "admin"}), "stop fills or queue a chosen window"),
    "ingest": (frozenset({"admin", "integration"}), "report recording gaps"),
    "mint_embed": (frozenset({"admin", "integration"}), "mint embed sessions"),
}


def can(principal, capability: str) -> bool:
    """True when the principal's role carries ``capability``."""
    roles, _ = CAPABILITIES[capability]
    role = getattr(principal, "acting_role", None) or getattr(principal, "role", None)
    return role in roles


def require(capability: str, principal=None) -> None:
    """403 naming the missing permission unless the principal has ``capability``."""
    principal = principal if principal is not None else current_user
    if not principal.is_authenticated:
        abort(401)
    if not can(principal, capability):
        words = CAPABILITIES[capability][1]
        role = getattr(principal, "acting_role", principal.role)
        raise Problem(403, f"role '{role}' is not permitted to {words}")


def camera_for(principal, camera_id: str, capability: str = "view") -> Camera:
    """Load a camera for a principal: capability, then scope (403), and only then existence (404).

    An out-of-scope id answers the same 403 whether or not the camera exists, so scope is never
    an existence oracle.
    """
    require(capability, principal)
    shown = camera_id[:64]  # never echo an unbounded id back
    if not principal.in_scope(camera_id):
        raise Problem(403, f"camera '{shown}' is outside your camera scope")
    camera = db.session.get(Camera, camera_id) if valid_camera_id(camera_id) else None
    if camera is None:
        raise Problem(404, f"camera {shown} not found")
    return camera


def scoped(query, column, principal=None):
    """Narrow a select to the principal's cameras (``column`` holds the camera id)."""
    principal = principal if principal is not None else current_user
    if principal.scope is None:
        return query
    return query.where(column.in_(list(principal.scope)))
