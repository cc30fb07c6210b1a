"""Roles, capabilities and camera scope: the one place that decides who may do what."""

from sqlalchemy import bindparam
from sqlalchemy import select

from ..extensions import db
from ..models import Camera
from ..models import valid_camera_id
from .errors import NotFound
from .errors import NotPermitted
from .errors import OutOfScope
from .errors import Unauthenticated

# capability -> (roles that have it, the words of the 403 message)
CAPABILITIES: dict[str, tuple[frozenset[str], str]] = {
    "view": (
        frozenset({"viewer", "guard", "manager", "admin", "integration"}),
        "view cameras and recording gaps",
    ),
    "retry": (frozenset({"manager", "admin"}), "retry recording-gap fill"),
    "read_audit": (frozenset({"manager", "admin"}), "read the audit log"),
    "export_evidence": (frozenset({"manager", "admin"}), "export evidence"),
    "manage_cameras": (frozenset({"admin"}), "manage cameras"),
    "manage_users": (frozenset({"admin"}), "manage users and API keys"),
    "control_fills": (frozenset({"manager", "admin"}), "stop fills or queue a chosen window"),
    "ingest": (frozenset({"admin", "integration"}), "report recording gaps"),
    "mint_embed": (frozenset({"admin", "integration"}), "mint embed sessions"),
    "read_metrics": (frozenset({"admin", "integration"}), "read the fleet's metrics"),
}


def can(principal, capability: str) -> bool:
    """True when the principal's role carries ``capability``."""
    roles, _ = CAPABILITIES[capability]
    role = getattr(principal, "acting_role", None) or getattr(principal, "role", None)
    return role in roles


def require(capability: str, principal) -> None:
    """Refuse (NotPermitted, naming the missing permission) unless the principal has it."""
    if not principal.is_authenticated:
        raise Unauthenticated()
    if not can(principal, capability):
        words = CAPABILITIES[capability][1]
        role = getattr(principal, "acting_role", principal.role)
        raise NotPermitted(f"role '{role}' is not permitted to {words}")


def require_in_scope(principal, camera_ids: list[str], *, listed: bool = False) -> None:
    """Refuse (OutOfScope) unless every camera is in the principal's scope: the ONE place the
    "outside your camera scope" answer is written. ``listed`` names every camera outside it
    (a request about several cameras); otherwise the one camera asked for.
    """
    outside = [c[:64] for c in camera_ids if not principal.in_scope(c)]  # never echo unbounded
    if not outside:
        return
    if listed:
        raise OutOfScope(f"outside your camera scope: {', '.join(outside)}")
    raise OutOfScope(f"camera '{outside[0]}' is outside your camera scope")


def _check_camera(principal, camera_id: str, capability: str) -> str:
    """Capability, then scope (403); the id as it may be echoed in a message."""
    require(capability, principal)
    require_in_scope(principal, [camera_id])
    return camera_id[:64]


def camera_for(principal, camera_id: str, capability: str = "view") -> Camera:
    """Load a camera for a principal: capability, then scope (403), and only then existence (404).

    An out-of-scope id answers the same 403 whether or not the camera exists, so scope is never
    an existence oracle.
    """
    shown = _check_camera(principal, camera_id, capability)
    camera = db.session.get(Camera, camera_id) if valid_camera_id(camera_id) else None
    if camera is None:
        raise NotFound(f"camera {shown} not found")
    return camera


# Built once: executing a prepared statement skips building and hashing it again.
_CAMERA_EXISTS = select(Camera.id).where(Camera.id == bindparam("camera_id"))


def camera_id_for(principal, camera_id: str, capability: str = "view") -> str:
    """``camera_for`` for routes that need only the id: the same checks, no ORM object.

    The JSON gap list's hot path: loading the camera through the ORM cost more than its query.
    """
    shown = _check_camera(principal, camera_id, capability)
    found = (
        valid_camera_id(camera_id)
        and db.session.connection().execute(_CAMERA_EXISTS, {"camera_id": camera_id}).first()
    )
    if not found:
        raise NotFound(f"camera {shown} not found")
    return camera_id


def scope_term(column, principal):
    """The WHERE term keeping rows of the principal's cameras (``column`` holds the camera id);
    None for a principal who sees every camera. ``principal`` is anything with a ``scope``."""
    if principal.scope is None:
        return None
    return column.in_(list(principal.scope))


def scoped(query, column, principal):
    """Narrow a select to the principal's cameras: the ONE camera-scope filter of every list."""
    term = scope_term(column, principal)
    return query if term is None else query.where(term)
