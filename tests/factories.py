"""Test factories: cameras, gaps in any state, users and API keys, built through the real code."""

from datetime import datetime
from datetime import timedelta
from datetime import timezone

from webapp.domain import cameras as camera_settings
from webapp.domain import gapstate
from webapp.domain.accounts import mint_api_key
from webapp.domain.segments import add_segment
from webapp.domain.vendors import vendor
from webapp.extensions import db
from webapp.models import RecordingGap
from webapp.models import Segment
from webapp.models import User

BASE_TIME = datetime(2026, 6, 13, 12, 0, 0, tzinfo=timezone.utc)


def make_camera(camera_id: str = "cam1", **fields):
    """Create and commit a camera with sensible defaults."""
    # A replay source by default: operators' requests on a camera without one are refused.
    # Cameras whose vendor default can build a replay URL (an address given) keep using it.
    own_default = vendor(fields.get("vendor")).has_replay_source and fields.get("address")
    if not own_default:
        fields.setdefault(
            "anr_replay_url_template", "rtsp://192.0.2.1/replay?from={start}&to={end}"
        )
    data = {"id": camera_id, "name": fields.pop("name", f"Camera {camera_id}"), **fields}
    clean, errors = camera_settings.validate(data, creating=True)
    assert not errors, errors
    camera = camera_settings.save(None, clean)
    db.session.commit()
    return camera


def make_gap(
    camera_id: str = "cam1",
    start: datetime | None = None,
    seconds: int = 60,
    state: str = "pending",
    **fields,
) -> RecordingGap:
    """Create and commit a gap in ``state``, keeping the camera statistics right."""
    start = start or BASE_TIME
    gap, _ = gapstate.record_gap(camera_id, start, start + timedelta(seconds=seconds))
    # Tests need gaps in any state without running a worker: walk the state machine as the
    # engine would (a fill starts, then ends in ``state``), so statistics follow on their own.
    if state == "expired":
        gapstate.change_state(gap, "expired")
    elif state != "pending":
        gapstate.change_state(gap, "filling")
        if state != "filling":
            gapstate.change_state(gap, state)
    for name, value in fields.items():
        setattr(gap, name, value)
    db.session.commit()
    return gap


def make_running_fill(
    camera_id: str, now: datetime, worker_id: str = "w1", started_at: datetime | None = None
) -> RecordingGap:
    """A 2-minute gap 5 minutes old, mid-copy: filling at 50 % with its open fill run, as a
    worker leaves it (claimed 30 s ago unless ``started_at`` says when its run began)."""
    from webapp.models import FillRun

    claimed = now - timedelta(seconds=30)
    gap = make_gap(
        camera_id, now - timedelta(minutes=5), 120, state="filling",
        progress=0.5, claimed_by=worker_id, last_attempt_at=claimed,
    )  # fmt: skip
    db.session.add(
        FillRun(
            gap_id=gap.id, camera_id=camera_id, worker_id=worker_id,
            started_at=started_at or claimed,
        )
    )  # fmt: skip
    return gap


def make_gaps(
    camera_id: str,
    count: int,
    state: str = "pending",
    step_s: int = 600,
    start: datetime | None = None,
) -> list[RecordingGap]:
    """``count`` gaps one ``step_s`` apart, oldest first."""
    start = start or BASE_TIME
    return [
        make_gap(camera_id, start + timedelta(seconds=i * step_s), 60, state) for i in range(count)
    ]


def make_user(username: str, role: str, cameras=None, password: str = "correct horse 1"):
    """Create and commit a user."""
    user = User(
        username=User.normalise(username), display_name=username, role=role, camera_scope=cameras
    )
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    return user


def make_api_key(role: str, cameras=None, name: str | None = None) -> str:
    """Create an API key and return its bearer token."""
    _, token = mint_api_key(name or f"{role}-key", role, cameras)
    db.session.commit()
    return token


def make_footage(camera_id: str, end: datetime | None = None, seconds: int = 60):
    """One indexed segment ending at ``end`` (default: now): the camera is recording."""
    end = end or datetime.now(timezone.utc).replace(microsecond=0)
    segment = Segment(
        camera_id=camera_id,
        path=f"{camera_id}/{end:%Y%m%d_%H%M%S}.mp4",
        start_time=end - timedelta(seconds=seconds),
        end_time=end,
        duration_s=float(seconds),
    )
    add_segment(segment)
    db.session.commit()
    return segment
