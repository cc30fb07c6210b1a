"""Indexed archive files: the recorded footage the coverage timeline and holes endpoint read."""

from datetime import datetime

from sqlalchemy import BigInteger
from sqlalchemy import Float
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from ..extensions import Model
from .types import UTCDateTime


class Segment(Model):
    """One archive file ``YYYYmmdd_HHMMSS.mp4`` under the camera's recordings folder."""

    __tablename__ = "segments"
    __table_args__ = (
        UniqueConstraint("camera_id", "path", name="uq_segments_camera_path"),
        Index("ix_segments_camera_time", "camera_id", "start_time", "end_time"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    camera_id: Mapped[str] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(String(255))
    start_time: Mapped[datetime] = mapped_column(UTCDateTime)
    end_time: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_s: Mapped[float] = mapped_column(Float)
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    # File mtime when probed: an unchanged (size, mtime) lets a rescan skip probing.
    mtime: Mapped[float] = mapped_column(Float, default=0.0)
    # SHA-256 (hex) of the file when it was written or first indexed: what `flask anr verify`
    # and an evidence export compare against (docs/design.md, Evidence).
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
