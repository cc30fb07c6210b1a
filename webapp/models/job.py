"""Background jobs: work that outlives its request (a bulk retry of many gaps)."""

from datetime import datetime

from sqlalchemy import JSON
from sqlalchemy import ForeignKey
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from ..extensions import Model
from .gap import new_id
from .types import UTCDateTime
from .types import rfc3339
from .types import utcnow

JOB_STATES = ("queued", "running", "done", "failed")


class Job(Model):
    """Work that outlives its request (a bulk retry of many gaps); its progress is visible.

    The worker claims a job like a gap (``claimed_by``, ``lease_until``, renewed per batch).
    ``active_key`` names its kind, camera and filter while it is queued or running and is NULL
    after: the unique index lets only one such job exist at a time, on every database.
    """

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(32))
    camera_id: Mapped[str | None] = mapped_column(
        ForeignKey("cameras.id", ondelete="CASCADE"), nullable=True, index=True
    )
    requested_by: Mapped[str] = mapped_column(String(200))
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    params: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    active_key: Mapped[str | None] = mapped_column(
        String(200), nullable=True, unique=True, index=True
    )
    claimed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    def to_json(self) -> dict:
        """The job as ``GET /api/v1/jobs/{id}`` shows it."""
        return {
            "id": self.id,
            "kind": self.kind,
            "camera_id": self.camera_id,
            "requested_by": self.requested_by,
            "total": self.total,
            "done": self.done,
            "state": self.state,
            "error": self.error,
            "created_at": rfc3339(self.created_at),
            "updated_at": rfc3339(self.updated_at),
            "finished_at": rfc3339(self.finished_at),
        }
