"""The append-only audit log (written only by ``webapp.domain.audit.record``)."""

from datetime import datetime

from sqlalchemy import JSON
from sqlalchemy import Index
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from ..extensions import Model
from .gap import new_id
from .types import UTCDateTime
from .types import rfc3339
from .types import utcnow


class AuditLog(Model):
    """Who did what to which target, and when. No route updates or deletes these rows."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_time", "created_at", "id"),
        Index("ix_audit_log_camera_time", "subject_camera_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    actor: Mapped[str] = mapped_column(String(64))
    actor_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target_type: Mapped[str] = mapped_column(String(64))
    target_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    subject_camera_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "actor": self.actor,
            "actor_name": self.actor_name,
            "role": self.role,
            "action": self.action,
            "target_type": self.target_type,
            "target_id": self.target_id,
            "subject_camera_id": self.subject_camera_id,
            "detail": self.detail,
            "ip": self.ip,
            "created_at": rfc3339(self.created_at),
        }
