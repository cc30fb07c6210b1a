"""Persisted recording gaps, the rows the fill queue works on."""

import uuid
from datetime import datetime

from sqlalchemy import Boolean
from sqlalchemy import Float
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from ..domain.states import PENDING
from ..extensions import Model
from ..masking import mask_credentials
from .types import UTCDateTime
from .types import rfc3339
from .types import utcnow


def new_id() -> str:
    """A UUID4 as text, the id format of gaps, users, keys and audit rows."""
    return str(uuid.uuid4())


class RecordingGap(Model):
    """A hole in a camera's archive that ANR tries to fill from the camera's SD card."""

    __tablename__ = "recording_gaps"
    __table_args__ = (
        UniqueConstraint("camera_id", "gap_start", name="uq_recording_gaps_camera_start"),
        # The list query: one camera, newest first, ties by id (keyset cursor).
        Index("ix_recording_gaps_list", "camera_id", "gap_start", "id"),
        # The filtered list query and per-camera state counts.
        Index("ix_recording_gaps_camera_state", "camera_id", "fill_state", "gap_start", "id"),
        # The queue: pending gaps newest first, and filling gaps by lease expiry.
        Index("ix_recording_gaps_queue", "fill_state", "gap_start"),
        Index("ix_recording_gaps_lease", "fill_state", "lease_until"),
        # Claim order: manual requests, then automatic gaps, each by queue_at
        # (docs/fleet-operations.md).
        Index("ix_recording_gaps_claim", "fill_state", "manual_retry", "queue_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    camera_id: Mapped[str] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"))
    gap_start: Mapped[datetime] = mapped_column(UTCDateTime)
    gap_end: Mapped[datetime] = mapped_column(UTCDateTime)
    gap_seconds: Mapped[int] = mapped_column(Integer)
    fill_state: Mapped[str] = mapped_column(String(16), default=PENDING)
    fill_attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    filled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    recovered_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    progress: Mapped[float | None] = mapped_column(Float, nullable=True)
    manual_retry: Mapped[bool] = mapped_column(Boolean, default=False)
    claimed_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Set by an operator's Stop; the worker holding the lease ends the fill when it sees it.
    stop_requested_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # The claim-order key: when an operator asked (manual requests, oldest first), else the time
    # the camera's card overwrites the window (automatic gaps, soonest first).
    queue_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Who asked for the current request (an operator's name); NULL for automatic work.
    requested_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # Who stopped the last fill: such a gap is the operator's choice, not "needs attention".
    stopped_by: Mapped[str | None] = mapped_column(String(200), nullable=True)

    camera = relationship("Camera", lazy="raise")

    # Columns the JSON API exposes: every column except the lease columns.
    PUBLIC_FIELDS = (
        "id",
        "camera_id",
        "gap_start",
        "gap_end",
        "gap_seconds",
        "fill_state",
        "fill_attempts",
        "last_attempt_at",
        "filled_at",
        "created_at",
        "last_error",
        "recovered_seconds",
        "progress",
        "manual_retry",
    )

    def to_json(self) -> dict:
        """The gap as the JSON API shows it."""
        out = {}
        for name in self.PUBLIC_FIELDS:
            value = getattr(self, name)
            out[name] = rfc3339(value) if isinstance(value, datetime) else value
        out["last_error"] = mask_credentials(self.last_error)
        return out

    def __repr__(self) -> str:
        return f"<RecordingGap {self.camera_id} {self.gap_start} {self.fill_state}>"
