"""Alerts to webhook receivers, written to the outbox in the transaction of the change they report.

The worker's sender threads (webapp/anr/webhooks.py) post them; a row stays until its receiver
answers 2xx or the attempts run out, so a restart loses nothing. Admin pages read each
receiver's last status from here.
"""

import json
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import func
from sqlalchemy import select

from ..extensions import db
from ..masking import mask_credentials
from ..models import Camera
from ..models import RecordingGap
from ..models import WebhookDelivery
from ..models import rfc3339
from ..models import utcnow
from .states import ATTENTION
from .states import GapState

# Gap states an operator must hear about: the attention states.
ALERT_STATES = ATTENTION


def receivers(config=None) -> list[str]:
    """The configured receiver URLs (``ANR_WEBHOOK_URLS``, space-separated)."""
    config = config if config is not None else current_app.config
    return [u for u in (config.get("ANR_WEBHOOK_URLS") or "").split() if u]


def enqueue(event: str, payload: dict) -> list[WebhookDelivery]:
    """One outbox row per receiver for ``event``; the caller commits with its change."""
    urls = receivers()
    if not urls:
        return []
    document = {"event": event, "sent_at": rfc3339(utcnow().replace(microsecond=0)), **payload}
    body = json.dumps(document, separators=(",", ":"))
    rows = [WebhookDelivery(receiver=url, event=event, body=body) for url in urls]
    db.session.add_all(rows)
    return rows


def gaps_changed(gaps: list[RecordingGap]) -> None:
    """Queue ``recording_gap.<state>`` for each gap that became failed, partial or expired."""
    for gap in gaps:
        # An operator's own Stop is their decision, not something to alert anyone about.
        if gap.fill_state in ALERT_STATES and not gap.stopped_by:
            enqueue(f"recording_gap.{gap.fill_state}", {"gap": gap.to_json()})


def camera_health_changed(camera: Camera, event: str, status: str, stale_minutes: float) -> None:
    """Queue ``camera.stale`` or ``camera.recovered`` for one status change."""
    enqueue(
        event,
        {
            "camera": {
                "id": camera.id,
                "name": camera.name,
                "site": camera.site,
                "recording_status": status,
                "last_segment_end": rfc3339(camera.last_segment_end),
                "stale_minutes": stale_minutes,
            }
        },
    )


@dataclass
class ReceiverStatus:
    """What an admin needs to know about one receiver."""

    url: str  # masked
    configured: bool
    pending: int
    failed: int
    delivered: int
    last_attempt_at: datetime | None
    last_status: str | None
    last_event: str | None
    last_delivered_at: datetime | None

    @property
    def healthy(self) -> bool:
        """True when the last attempt succeeded (or nothing was ever sent)."""
        return self.last_status is None or self.last_status.startswith("HTTP 2")


def receiver_statuses() -> list[ReceiverStatus]:
    """Each configured receiver (and any with rows left from an earlier configuration)."""
    counts: dict[str, dict[str, int]] = {}
    for url, state, n in db.session.execute(
        select(WebhookDelivery.receiver, WebhookDelivery.state, func.count()).group_by(
            WebhookDelivery.receiver, WebhookDelivery.state
        )
    ):
        counts.setdefault(url, {})[state] = n
    configured = receivers()
    out = []
    for url in configured + sorted(set(counts) - set(configured)):
        last = db.session.execute(
            select(WebhookDelivery)
            .where(WebhookDelivery.receiver == url, WebhookDelivery.last_attempt_at.is_not(None))
            .order_by(WebhookDelivery.last_attempt_at.desc())
            .limit(1)
        ).scalar_one_or_none()
        delivered_at = db.session.execute(
            select(func.max(WebhookDelivery.delivered_at)).where(WebhookDelivery.receiver == url)
        ).scalar()
        n = counts.get(url, {})
        out.append(
            ReceiverStatus(
                url=mask_credentials(url),
                configured=url in configured,
                pending=n.get(GapState.PENDING, 0),
                failed=n.get(GapState.FAILED, 0),
                delivered=n.get("delivered", 0),
                last_attempt_at=last.last_attempt_at if last else None,
                last_status=last.last_status if last else None,
                last_event=last.event if last else None,
                last_delivered_at=delivered_at,
            )
        )
    return out
