"""The single audit writer: one row per mutation, in the same transaction as the mutation."""

from collections.abc import Callable
from typing import Any

from flask import has_request_context
from flask import request

from ..extensions import db
from ..models import AuditLog
from ..models import utcnow


class SystemActor:
    """The actor of changes nobody asked for in a request (CLI, worker, indexer)."""

    actor_id = "system"
    actor_name = "system"
    role = "system"


SYSTEM = SystemActor()

# Who is signed in, for a caller that names no actor: the app installs it (``use_request_actor``,
# webapp/__init__.py) so this module never reads the sign-in machinery itself. It answers None
# when nobody is signed in. Gap actions, bulk retries and jobs always pass their actor.
_signed_in: Callable[[], Any] | None = None


def use_request_actor(provider: Callable[[], Any]) -> None:
    """Install how to find a request's signed-in principal (None when nobody is signed in)."""
    global _signed_in
    _signed_in = provider


def _default_actor():
    """The request's signed-in principal, else ``SYSTEM`` (CLI, worker, indexer)."""
    if has_request_context() and _signed_in is not None:
        actor = _signed_in()
        if actor is not None:
            return actor
    return SYSTEM


def _with_key(detail: dict, actor) -> dict:
    """Name the key (``via_key``) or person (``via_user``) behind an embed session in the detail."""
    via = getattr(actor, "embed_via", None)
    if not via:
        return detail
    return {**detail, "via_key" if via.get("kind") == "key" else "via_user": via.get("name")}


def record(
    action: str,
    target_type: str,
    target_id: str | None = None,
    *,
    camera_id: str | None = None,
    detail: dict | None = None,
    actor=None,
) -> AuditLog:
    """Add the audit row for a change to the caller's session and flush it.

    The flush makes a failing insert raise here, before the caller commits, so the mutation and
    its audit row succeed or fail together. The caller commits.
    """
    if actor is None:
        actor = _default_actor()
    row = AuditLog(
        actor=actor.actor_id,
        actor_name=actor.actor_name,
        role=getattr(actor, "acting_role", actor.role),
        action=action,
        target_type=target_type,
        target_id=target_id,
        subject_camera_id=camera_id,
        detail=_with_key(detail or {}, actor),
        ip=request.remote_addr if has_request_context() else None,
        created_at=utcnow(),
    )
    db.session.add(row)
    db.session.flush()
    return row
