"""Token buckets that cap download bandwidth per camera and for the whole worker."""

import threading
import time

MIN_BURST_BYTES = 16 * 1024


class TokenBucket:
    """``take(n)`` blocks until ``n`` bytes fit under ``kbps`` (kilobits per second)."""

    def __init__(self, kbps: float, burst_s: float = 0.25):
        self.rate = kbps * 1000 / 8  # bytes per second
        # A small burst: enough for one read chunk, too small to overshoot a short download.
        self.capacity = max(self.rate * burst_s, MIN_BURST_BYTES)
        self.tokens = self.capacity
        self.stamp = time.monotonic()
        self.lock = threading.Lock()

    def take(self, n: int, stop: threading.Event | None = None) -> bool:
        """Wait until ``n`` bytes may pass; False when ``stop`` was set while waiting."""
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            # Go into debt and sleep it off: chunk sizes larger than the burst still pass.
            self.tokens -= n
            wait = -self.tokens / self.rate if self.tokens < 0 else 0.0
        if wait <= 0:
            return True
        if stop is not None:
            return not stop.wait(wait)
        time.sleep(wait)
        return True


_shared: dict[float, TokenBucket] = {}
_shared_lock = threading.Lock()


def shared_bucket(kbps: float) -> TokenBucket | None:
    """The process-wide bucket for ``ANR_MAX_KBPS`` (None when uncapped): one for all fills."""
    if not kbps or kbps <= 0:
        return None
    with _shared_lock:
        if kbps not in _shared:
            _shared[kbps] = TokenBucket(kbps)
        return _shared[kbps]
