"""Recording health: is a camera still recording? ``ok``, ``stale``, ``never`` or ``off``.

An enabled camera whose newest segment ended more than ``ANR_STALE_MINUTES`` ago is stale; one
that never had a segment is never. Status is worked out when read (pages, API) from the
maintained ``cameras.last_segment_end``; the worker's health check keeps the last status it saw
on the camera, and a change between two checks is one ``camera.stale`` or ``camera.recovered``
alert (see docs/design.md, "Recording health").
"""

from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from sqlalchemy import case
from sqlalchemy import select
from sqlalchemy import update

from ..extensions import db
from ..extensions import rows_matched
from ..models import Camera
from .states import RECORDING_ATTENTION

RECORDING_LABELS = {
    "ok": "Recording",
    "stale": "Stale",
    "never": "Never recorded",
    "off": "Disabled",
}
RECORDING_HELP = {
    "ok": "Footage arrived within the stale limit",
    "stale": "No new footage for longer than the stale limit: the recorder may have lost it",
    "never": "No footage has ever been indexed for this camera",
    "off": "The camera is disabled: it is not expected to record",
}
DEFAULT_STALE_MINUTES = 10.0


def stale_after(config) -> timedelta:
    """``ANR_STALE_MINUTES`` as a timedelta."""
    return timedelta(minutes=float(config.get("ANR_STALE_MINUTES", DEFAULT_STALE_MINUTES)))


def recording_status(
    enabled: bool, last_segment_end: datetime | None, now: datetime, limit: timedelta
) -> str:
    """The camera's recording status at ``now``."""
    if not enabled:
        return "off"
    if last_segment_end is None:
        return "never"
    return "stale" if now - last_segment_end > limit else "ok"


@dataclass
class Transition:
    """A camera whose status changed since the last check, and the alert it raises (if any)."""

    camera: Camera
    before: str | None
    after: str
    event: str | None


def _event(before: str | None, after: str) -> str | None:
    """Which alert a change raises: going quiet is ``camera.stale``, coming back ``recovered``."""
    if after in RECORDING_ATTENTION and before not in RECORDING_ATTENTION:
        return "camera.stale"
    if after == "ok" and before in RECORDING_ATTENTION:
        return "camera.recovered"
    return None


def check_transitions(now: datetime, limit: timedelta) -> list[Transition]:
    """Compare every camera's status with the stored one; store the new one (caller commits).

    A compare-and-set per change, so two workers checking at once raise each alert once.
    A brand-new camera without footage stays unrecorded (status NULL) until the stale limit
    has passed since it was added, so it raises its one alert then.
    """
    out = []
    for camera in db.session.execute(select(Camera).order_by(Camera.id)).scalars():
        after = recording_status(camera.enabled, camera.last_segment_end, now, limit)
        before = camera.recording_status
        if after == before:
            continue
        if after == "never" and before is None and camera.created_at >= now - limit:
            continue  # just added: give it the stale limit to send its first footage
        result = db.session.execute(
            update(Camera)
            .where(
                Camera.id == camera.id,
                Camera.recording_status.is_(None)
                if before is None
                else Camera.recording_status == before,
            )
            .values(
                recording_status=after,
                recording_status_at=now,
                # Fleet order: a camera that stopped recording comes after gap trouble (4..2)
                # and before cameras with nothing to see (docs/fleet-operations.md).
                attention=case(
                    (Camera.attention >= 2, Camera.attention),
                    else_=1 if after in RECORDING_ATTENTION else 0,
                ),
            )
            .execution_options(synchronize_session=False)
        )
        changed = rows_matched(result)
        if changed:
            out.append(Transition(camera, before, after, _event(before, after)))
    return out
