"""Engine bookkeeping: worker heartbeats and fill runs (history and metrics)."""

from datetime import datetime

from sqlalchemy import BigInteger
from sqlalchemy import Float
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from ..extensions import Model
from .types import UTCDateTime
from .types import utcnow


class WorkerHeartbeat(Model):
    """The last sign of life of each ANR worker process, reported by ``/readyz``."""

    __tablename__ = "worker_heartbeats"

    worker_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255), default="")
    pid: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    running: Mapped[int] = mapped_column(Integer, default=0)
    # ANR_CONCURRENCY of that worker, so the queue page shows running/concurrency.
    concurrency: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Set by a clean shutdown, so the queue page says "stopped" rather than "not answering".
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class FillRun(Model):
    """One fill attempt and how it ended: a gap's history and the source of the fill metrics.

    Never deleted or reset by Retry: the history of every attempt stays.
    """

    __tablename__ = "fill_runs"
    __table_args__ = (
        Index("ix_fill_runs_outcome", "outcome"),
        # The queue page's recent outcomes.
        Index("ix_fill_runs_ended", "ended_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    gap_id: Mapped[str] = mapped_column(String(36), index=True)
    camera_id: Mapped[str] = mapped_column(String(64))
    worker_id: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # filled | partial | failed | stopped | returned (worker shut down; not counted)
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    recovered_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    # replay (RTSP/HTTP stream copy) or download (a vendor's file download).
    method: Mapped[str] = mapped_column(String(16), default="replay", server_default="replay")
    bytes_written: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # The attempt's error, credentials masked.
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The operator whose request this run serves; NULL for automatic work.
    requested_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # Where the footage came from (the replay URL), credentials masked; the evidence manifest.
    source: Mapped[str | None] = mapped_column(Text, nullable=True)
