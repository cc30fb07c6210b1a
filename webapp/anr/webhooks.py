"""Failure alerts: a signed JSON POST to each ``ANR_WEBHOOK_URLS`` receiver, off the fill path.

Each receiver has one daemon thread and a bounded queue: a slow or failing receiver delays only
its own alerts (back-off), never a fill or another receiver, and memory stays bounded. Each
outcome is logged (receiver URLs masked, like every URL in a log line).
"""

import hashlib
import hmac
import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request

from ..domain.states import ATTENTION as ALERT_STATES
from ..masking import mask_credentials
from ..models import RecordingGap
from ..models import rfc3339
from ..models import utcnow

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Replenish-Signature"
DELIVERY_TIMEOUT_S = 10
QUEUE_LIMIT = 1000  # alerts waiting per receiver


def sign(body: bytes, secret: str) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of the exact body bytes, for the receiver to verify."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def alert_body(gap: RecordingGap) -> bytes:
    """The JSON document sent for a gap that needs an operator's attention."""
    event = {
        "event": f"recording_gap.{gap.fill_state}",
        "sent_at": rfc3339(utcnow().replace(microsecond=0)),
        "gap": gap.to_json(),
    }
    return json.dumps(event, separators=(",", ":")).encode()


class Notifier:
    """Sends alerts for gaps that became failed, partial or expired."""

    def __init__(self, urls: str, secret: str, attempts: int = 5, backoff_s: float = 2.0):
        self.urls = [u for u in (urls or "").split() if u]
        self.secret = secret or ""
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.queues: dict[str, queue.Queue] = {}
        self.lock = threading.Lock()

    @classmethod
    def from_config(cls, config) -> "Notifier":
        return cls(
            config.get("ANR_WEBHOOK_URLS", ""),
            config.get("ANR_WEBHOOK_SECRET", ""),
            attempts=int(config.get("ANR_WEBHOOK_ATTEMPTS", 5)),
            backoff_s=float(config.get("ANR_WEBHOOK_BACKOFF_S", 2.0)),
        )

    def notify(self, gaps: list[RecordingGap]) -> None:
        """Queue one delivery per receiver for each gap in an alert state; returns at once."""
        if not self.urls:
            return
        for gap in gaps:
            # An operator's own Stop is their decision, not something to alert anyone about.
            if gap.fill_state not in ALERT_STATES or gap.stopped_by:
                continue
            body = alert_body(gap)
            for url in self.urls:
                try:
                    self._queue_for(url).put_nowait(body)
                except queue.Full:
                    log.error(
                        "webhook %s: %d alerts waiting; dropping one for gap %s",
                        mask_credentials(url),
                        QUEUE_LIMIT,
                        gap.id,
                    )

    def _queue_for(self, url: str) -> queue.Queue:
        """The receiver's queue, with its delivery thread started on first use."""
        with self.lock:
            if url not in self.queues:
                self.queues[url] = queue.Queue(maxsize=QUEUE_LIMIT)
                threading.Thread(
                    target=self._drain,
                    args=(url, self.queues[url]),
                    name="anr-webhook",
                    daemon=True,
                ).start()
            return self.queues[url]

    def _drain(self, url: str, pending: queue.Queue) -> None:
        while True:
            body = pending.get()
            try:
                self.deliver(url, body)
            finally:
                pending.task_done()

    def deliver(self, url: str, body: bytes) -> bool:
        """POST ``body`` until the receiver answers 2xx or the attempts run out."""
        headers = {"Content-Type": "application/json", "User-Agent": "Replenish-ANR"}
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(body, self.secret)
        shown = mask_credentials(url)
        for attempt in range(1, self.attempts + 1):
            request = urllib.request.Request(url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=DELIVERY_TIMEOUT_S) as resp:
                    log.info("webhook %s: delivered (HTTP %s, try %d)", shown, resp.status, attempt)
                    return True
            except urllib.error.HTTPError as exc:
                problem = f"HTTP {exc.code}"
            except (urllib.error.URLError, OSError) as exc:
                problem = mask_credentials(str(getattr(exc, "reason", exc)))
            log.warning("webhook %s: try %d/%d failed: %s", shown, attempt, self.attempts, problem)
            if attempt < self.attempts:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
        log.error("webhook %s: giving up after %d tries", shown, self.attempts)
        return False

    def wait(self, timeout: float = 30.0) -> None:
        """Let pending deliveries finish (a worker shutting down, or a test)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(q.unfinished_tasks == 0 for q in list(self.queues.values())):
                return
            time.sleep(0.05)
