"""The data model of SPEC §1: one module per aggregate."""

from .audit import AuditLog
from .camera import VENDORS
from .camera import Camera
from .camera import CameraGapStat
from .camera import valid_camera_id
from .engine import FillRun
from .engine import UsedEmbedToken
from .engine import WorkerHeartbeat
from .gap import FILL_STATES
from .gap import RecordingGap
from .gap import new_id
from .security import JOB_STATES
from .security import Job
from .security import LoginAttempt
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
    "FILL_STATES",
    "JOB_STATES",
    "KEY_ROLES",
    "USER_ROLES",
    "VENDORS",
    "ApiKey",
    "AuditLog",
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
    "WorkerHeartbeat",
    "new_id",
    "rfc3339",
    "utcnow",
    "valid_camera_id",
]
