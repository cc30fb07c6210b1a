"""The single audit writer: one row per mutation, in the same transaction as the mutation."""

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
    actor,
) -> AuditLog:
    """Add the audit row for a change to the caller's session and flush it.

    The flush makes a failing insert raise here, before the caller commits, so the mutation and
    its audit row succeed or fail together. The caller commits. ``actor`` is who asked: the
    view's principal, ``SYSTEM`` for the CLI and the engine, a job's requester for its batches.
    """
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
