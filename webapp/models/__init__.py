"""The data model: one module per aggregate (docs/design.md)."""

from .audit import AuditLog
from .camera import FILL_METHODS
from .camera import REPLAY_CLOCKS
from .camera import VENDORS
from .camera import Camera
from .camera import CameraGapStat
from .camera import default_replay_clock
from .camera import valid_camera_id
from .engine import FillRun
from .engine import WorkerHeartbeat
from .fleet_stats import FleetSiteStat
from .gap import RecordingGap
from .gap import new_id
from .job import JOB_STATES
from .job import Job
from .outbox import OUTBOX_STATES
from .outbox import WebhookDelivery
from .security import LoginAttempt
from .security import UsedEmbedToken
from .segment import Segment
from .types import UTCDateTime
from .types import rfc3339
from .types import utcnow
from .user import KEY_ROLES
from .user import USER_ROLES
from .user import ApiKey
from .user import Principal
from .user import User

__all__ = [
    "FILL_METHODS",
    "JOB_STATES",
    "KEY_ROLES",
    "OUTBOX_STATES",
    "REPLAY_CLOCKS",
    "USER_ROLES",
    "VENDORS",
    "ApiKey",
    "AuditLog",
    "FleetSiteStat",
    "Camera",
    "CameraGapStat",
    "FillRun",
    "Job",
    "LoginAttempt",
    "Principal",
    "RecordingGap",
    "Segment",
    "UTCDateTime",
    "UsedEmbedToken",
    "User",
    "WebhookDelivery",
    "WorkerHeartbeat",
    "default_replay_clock",
    "new_id",
    "rfc3339",
    "utcnow",
    "valid_camera_id",
]
