"""Webhook delivery: the worker's sender threads post the outbox rows, signed, with back-off.

Alerts are written to the ``webhook_outbox`` table with the change they report
(webapp/domain/alerts.py); here each configured receiver has one daemon thread that claims its
due rows oldest first and posts them. A slow or failing receiver delays only its own alerts;
a restart loses nothing (the rows wait in the table); two workers never post the same row at
the same time (a claim moves ``next_attempt_at`` forward with a compare-and-set).
"""

import hashlib
import hmac
import logging
import threading
import urllib.error
import urllib.request
from datetime import timedelta

from flask import Flask
from sqlalchemy import select
from sqlalchemy import update

from ..domain.alerts import receivers
from ..extensions import db
from ..extensions import rows_matched
from ..masking import camera_text
from ..masking import mask_credentials
from ..models import WebhookDelivery
from ..models import utcnow

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Replenish-Signature"
DELIVERY_TIMEOUT_S = 10
IDLE_S = 0.5  # how often an idle sender looks for new rows
MAX_BACKOFF_S = 3600.0


def sign(body: bytes, secret: str) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of the exact body bytes, for the receiver to verify."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def post(url: str, body: bytes, secret: str) -> tuple[bool, str]:
    """One POST of ``body``; (delivered, what happened in words fit for a log or a page)."""
    headers = {"Content-Type": "application/json", "User-Agent": "Replenish-ANR"}
    if secret:
        headers[SIGNATURE_HEADER] = sign(body, secret)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=DELIVERY_TIMEOUT_S) as resp:
            return 200 <= resp.status < 300, f"HTTP {resp.status}"
    except urllib.error.HTTPError as exc:
        return False, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        return False, camera_text(str(getattr(exc, "reason", exc)))


class Sender:
    """Delivery threads for every configured receiver, running until ``stop()``."""

    def __init__(self, app: Flask):
        self.app = app
        self.secret = app.config.get("ANR_WEBHOOK_SECRET", "") or ""
        self.attempts = int(app.config.get("ANR_WEBHOOK_ATTEMPTS", 5))
        self.backoff_s = float(app.config.get("ANR_WEBHOOK_BACKOFF_S", 2.0))
        self.stopping = threading.Event()
        self.wake = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self) -> "Sender":
        """One thread per receiver (none when no receiver is configured)."""
        for url in receivers(self.app.config):
            thread = threading.Thread(
                target=self._run, args=(url,), name="anr-webhook", daemon=True
            )
            thread.start()
            self.threads.append(thread)
        return self

    def poke(self) -> None:
        """New rows were committed: look at once rather than at the next idle tick."""
        self.wake.set()

    def drain(self, timeout: float = 5.0) -> None:
        """Give rows that are due now up to ``timeout`` to go out (a worker shutting down)."""
        if not self.threads:
            return
        deadline = utcnow() + timedelta(seconds=timeout)
        while utcnow() < deadline and any(t.is_alive() for t in self.threads):
            due = db.session.execute(
                select(WebhookDelivery.id)
                .where(
                    WebhookDelivery.state == "pending",
                    WebhookDelivery.next_attempt_at <= utcnow(),
                )
                .limit(1)
            ).first()
            db.session.rollback()
            if due is None:
                return
            self.wake.set()
            self.stopping.wait(0.1)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the current delivery; undelivered rows wait for the next start."""
        self.stopping.set()
        self.wake.set()
        for thread in self.threads:
            thread.join(timeout=timeout)

    def _run(self, url: str) -> None:
        with self.app.app_context():
            while not self.stopping.is_set():
                try:
                    sent = self.send_next(url)
                except Exception:
                    # A busy database must not end the sender; the row is tried again later.
                    db.session.rollback()
                    log.exception("webhook %s: delivery step failed", mask_credentials(url))
                    sent = False
                if not sent:
                    self.wake.wait(IDLE_S)
                    self.wake.clear()
            db.session.remove()

    def send_next(self, url: str) -> bool:
        """Claim and post the oldest due row of ``url``; False when none is due."""
        now = utcnow()
        row = db.session.execute(
            select(WebhookDelivery.id, WebhookDelivery.next_attempt_at)
            .where(
                WebhookDelivery.receiver == url,
                WebhookDelivery.state == "pending",
                WebhookDelivery.next_attempt_at <= now,
            )
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(1)
        ).first()
        if row is None:
            db.session.rollback()
            return False
        result = db.session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == row.id,
                WebhookDelivery.state == "pending",
                WebhookDelivery.next_attempt_at == row.next_attempt_at,
            )
            .values(next_attempt_at=now + timedelta(seconds=DELIVERY_TIMEOUT_S * 3))
            .execution_options(synchronize_session=False)
        )
        claimed = rows_matched(result)
        db.session.commit()
        if not claimed:
            return True  # another worker took it; look for the next one
        delivery = db.session.get(WebhookDelivery, row.id)
        if delivery is None:
            return True  # pruned since it was claimed; look for the next one
        ok, status = post(url, delivery.body.encode(), self.secret)
        delivery.attempts += 1
        delivery.last_attempt_at = utcnow()
        delivery.last_status = status
        shown = mask_credentials(url)
        if ok:
            delivery.state = "delivered"
            delivery.delivered_at = delivery.last_attempt_at
            log.info(
                "webhook %s: %s delivered (%s, try %d)",
                shown,
                delivery.event,
                status,
                delivery.attempts,
            )
        elif delivery.attempts >= self.attempts:
            delivery.state = "failed"
            log.error(
                "webhook %s: %s given up after %d tries: %s",
                shown,
                delivery.event,
                delivery.attempts,
                status,
            )
        else:
            wait = min(self.backoff_s * 2 ** (delivery.attempts - 1), MAX_BACKOFF_S)
            delivery.next_attempt_at = delivery.last_attempt_at + timedelta(seconds=wait)
            log.warning(
                "webhook %s: try %d/%d failed: %s", shown, delivery.attempts, self.attempts, status
            )
        db.session.commit()
        return True
