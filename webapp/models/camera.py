"""Cameras and their per-state gap statistics."""

import re
from datetime import datetime

from sqlalchemy import Boolean
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from ..domain.vendors import REPLAY_CLOCKS
from ..domain.vendors import VENDORS
from ..domain.vendors import default_replay_clock
from ..extensions import Model
from ..extensions import db
from .types import UTCDateTime
from .types import utcnow

CAMERA_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
# Vendors, their replay clocks (the zone a camera reads replay times in) and their defaults are
# declared in webapp/domain/vendors/, one module per vendor.
__all__ = [
    "FILL_METHODS",
    "REPLAY_CLOCKS",
    "VENDORS",
    "Camera",
    "CameraGapStat",
    "default_replay_clock",
    "valid_camera_id",
]
# How footage comes back: ``download`` fetches the card's recorded files (Hikvision, Dahua),
# ``replay`` streams the window over RTSP, ``auto`` downloads where the vendor offers it and
# falls back to replay (webapp/anr/edge.py).
FILL_METHODS = ("auto", "download", "replay")


def valid_camera_id(value: str) -> bool:
    """True when ``value`` is a camera slug; it becomes a folder name, so nothing else passes."""
    return bool(value) and CAMERA_ID_RE.fullmatch(value) is not None


class Camera(Model):
    """An IP camera whose recordings the recorder archives and ANR replenishes."""

    __tablename__ = "cameras"
    # The fleet page: attention first, then newest gap, then id, all descending (keyset paging).
    __table_args__ = (
        Index("ix_cameras_fleet_order", "attention", "newest_gap_start", "id"),
        # The site filter and the list of sites it offers (walked site to site).
        Index("ix_cameras_site", "site"),
        # The fleet's count of cameras whose footage stopped (fleet_summary): a range holding
        # only those, their attention covered.
        Index("ix_cameras_recording", "enabled", "last_segment_end", "attention"),
        # The queue's "fill schedules": the few cameras with their own window, not every camera.
        Index("ix_cameras_fill_window", "fill_window"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    site: Mapped[str] = mapped_column(String(200), default="")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    vendor: Mapped[str] = mapped_column(String(16), default="generic")
    address: Mapped[str] = mapped_column(String(255), default="")
    rtsp_port: Mapped[int] = mapped_column(Integer, default=554)
    http_port: Mapped[int] = mapped_column(Integer, default=80)
    username: Mapped[str] = mapped_column(String(128), default="")
    # Fernet token of the password under a key derived from SECRET_KEY; see webapp.secrets.
    password_encrypted: Mapped[str] = mapped_column(Text, default="")
    channel: Mapped[int] = mapped_column(Integer, default=1)
    anr_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    anr_replay_url_template: Mapped[str | None] = mapped_column(Text, nullable=True)
    anr_max_gap_hours: Mapped[float | None] = mapped_column(db.Float, nullable=True)
    segment_seconds: Mapped[int] = mapped_column(Integer, default=60)
    replay_clock: Mapped[str] = mapped_column(String(8), default="utc")
    fill_method: Mapped[str] = mapped_column(String(16), default="auto")
    # "HH:MM-HH:MM" in camera local time (may cross midnight): when automatic fills may start on
    # this camera; None follows ANR_FILL_WINDOW. Read by webapp/anr/claims.py (fill_window_of).
    fill_window: Mapped[str | None] = mapped_column(String(11), nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Newest gap_start of any gap: kept by the gap service so the fleet page never scans gaps.
    newest_gap_start: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Fleet order, kept by the gap service: 4 failed, 3 partial, 2 expired gaps (not counting
    # gaps an operator stopped), 1 reserved for a stale camera, 0 nothing needs attention.
    attention: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Download fills at most this many kilobits per second (a camera on a cellular link).
    max_kbps: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Where the camera's card said its footage starts, and when the worker last asked it.
    card_holds_from: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    card_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # End of the newest indexed segment, kept in step by segment writes (models/segment.py), so
    # the fleet page tells a camera that stopped recording without scanning segments.
    last_segment_end: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The recording status the health check last saw (ok, stale, never, off) and since when:
    # a change between two checks is what sends camera.stale / camera.recovered, once.
    recording_status: Mapped[str | None] = mapped_column(String(8), nullable=True)
    recording_status_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"<Camera {self.id}>"


class CameraGapStat(Model):
    """Count and total seconds of a camera's gaps in one state.

    Changed by the gap service in the same transaction as the gap itself, so the fleet overview
    costs O(cameras) whatever the number of gaps.
    """

    __tablename__ = "camera_gap_stats"
    # The queue's counts: one state's rows of every camera (pending), without reading the table.
    __table_args__ = (Index("ix_camera_gap_stats_state", "fill_state", "camera_id", "gap_count"),)

    camera_id: Mapped[str] = mapped_column(
        ForeignKey("cameras.id", ondelete="CASCADE"), primary_key=True
    )
    fill_state: Mapped[str] = mapped_column(String(16), primary_key=True)
    gap_count: Mapped[int] = mapped_column(Integer, default=0)
    gap_seconds: Mapped[int] = mapped_column(db.BigInteger, default=0)
    # Of gap_count, those an operator stopped: counted in their state, not in "needs attention".
    stopped_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
