"""What every camera vendor client shares: recordings, card coverage, HTTP with Digest auth."""

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from pathlib import Path

import requests
from requests.auth import HTTPDigestAuth

from .ratelimit import TokenBucket

log = logging.getLogger(__name__)

CHUNK = 256 * 1024
CAPPED_CHUNK = 16 * 1024  # under a bandwidth cap: small steps keep the rate smooth
# Two pieces of footage this close count as one run (cameras cut files on whole seconds).
CONTIGUOUS_S = 2.0


class VendorError(Exception):
    """The camera's API failed or refused; ``status`` is the HTTP status when there was one."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class Unsupported(VendorError):
    """The camera does not offer this API (HTTP 404 or 501): use replay instead."""


class DownloadStopped(Exception):
    """The download was ended from outside (Stop, shutdown, lost claim)."""


@dataclass(frozen=True)
class Recording:
    """One piece of footage on the card: its UTC span and how the vendor names it."""

    start: datetime
    end: datetime
    ref: str  # ISAPI playbackURI or Dahua FilePath


@dataclass
class CardCoverage:
    """What the card holds: recordings overlapping the asked window, and its oldest footage."""

    recordings: list[Recording] = field(default_factory=list)
    oldest: datetime | None = None
    asked_oldest: bool = True  # False: the window was held whole and the oldest not asked

    def holds(self, start: datetime, end: datetime) -> bool:
        """Whether the card holds all of [start, end) in one run."""
        spans = self.spans(start, end)
        return (
            len(spans) == 1
            and (spans[0][0] - start).total_seconds() <= CONTIGUOUS_S
            and (end - spans[0][1]).total_seconds() <= CONTIGUOUS_S
        )

    def spans(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """The held parts of [start, end), merged and clipped, in time order."""
        merged: list[list[datetime]] = []
        for rec in sorted(self.recordings, key=lambda r: r.start):
            lo, hi = max(rec.start, start), min(rec.end, end)
            if hi <= lo:
                continue
            if merged and (lo - merged[-1][1]).total_seconds() <= CONTIGUOUS_S:
                merged[-1][1] = max(merged[-1][1], hi)
            else:
                merged.append([lo, hi])
        return [(lo, hi) for lo, hi in merged]


class VendorClient:
    """A camera's HTTP API with Digest auth; subclasses speak one vendor's dialect."""

    vendor = ""
    can_download = False

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        channel: int = 1,
        timezone: str = "UTC",
        timeout_s: float = 15.0,
        buckets: tuple[TokenBucket, ...] = (),
    ):
        self.base_url = base_url.rstrip("/")
        self.channel = channel
        self.timezone = timezone
        self.timeout_s = timeout_s
        self.buckets = tuple(b for b in buckets if b is not None)
        self.session = requests.Session()
        self.session.trust_env = False  # a proxy from the environment must not see the camera
        if username:
            self.session.auth = HTTPDigestAuth(username, password)

    @classmethod
    def for_camera(cls, camera, password: str, **kw) -> "VendorClient":
        """The client of a Camera row (its HTTP API at ``address:http_port``)."""
        base = f"http://{camera.address}:{camera.http_port}"
        return cls(base, camera.username, password, **kw)

    def close(self) -> None:
        """Release the connection pool."""
        self.session.close()

    # --- what subclasses answer -----------------------------------------------------------
    def recordings(self, start: datetime, end: datetime) -> list[Recording]:
        """The card's recordings overlapping [start, end)."""
        raise NotImplementedError

    def oldest(self) -> datetime | None:
        """When the card's oldest footage starts; None when the card is empty."""
        raise NotImplementedError

    def download(self, recording: Recording, dest: Path, **kw) -> int:
        """Write ``recording`` to ``dest``; returns bytes written."""
        raise Unsupported(f"{self.vendor or 'this camera'} offers no download", 501)

    def coverage(self, start: datetime, end: datetime, want_oldest: bool = True) -> CardCoverage:
        """What the card holds for [start, end) and since when (the second question is skipped
        when the window is held whole and ``want_oldest`` is False)."""
        found = CardCoverage(self.recordings(start, end))
        if not want_oldest and found.holds(start, end):
            found.asked_oldest = False
        else:
            found.oldest = self.oldest()
        return found

    # --- HTTP -----------------------------------------------------------------------------
    def request(self, method: str, path: str, **kw) -> requests.Response:
        """One API call; a failure becomes a VendorError naming the status, never the password."""
        url = self.base_url + path
        try:
            response = self.session.request(method, url, timeout=self.timeout_s, **kw)
        except requests.RequestException as exc:
            reason = _short(exc)
            raise VendorError(f"{method} {path}: the camera did not answer ({reason})") from None
        if response.status_code == 401:
            response.close()
            raise VendorError(
                f"{method} {path}: the camera refused the user name or password (HTTP 401)", 401
            )
        if response.status_code in (404, 501):
            response.close()
            raise Unsupported(
                f"{method} {path}: the camera does not offer this API "
                f"(HTTP {response.status_code})",
                response.status_code,
            )
        if response.status_code >= 400:
            detail = "" if kw.get("stream") else response.text[:200].strip()
            response.close()
            raise VendorError(
                f"{method} {path}: HTTP {response.status_code}" + (f": {detail}" if detail else ""),
                response.status_code,
            )
        return response

    def stream_to(
        self,
        response: requests.Response,
        dest: Path,
        *,
        stop: threading.Event | None = None,
        on_bytes: Callable[[int, int], None] | None = None,
    ) -> int:
        """Copy a streamed answer to ``dest`` under the bandwidth caps; returns bytes written.

        ``on_bytes(written, expected)`` follows the copy (expected 0 when the camera sent no
        Content-Length).
        """
        written = 0
        try:
            expected = int(response.headers.get("Content-Length") or 0)
        except ValueError:
            expected = 0
        try:
            with dest.open("wb") as out:
                for chunk in response.iter_content(CAPPED_CHUNK if self.buckets else CHUNK):
                    if stop is not None and stop.is_set():
                        raise DownloadStopped()
                    for bucket in self.buckets:
                        if not bucket.take(len(chunk), stop):
                            raise DownloadStopped()
                    out.write(chunk)
                    written += len(chunk)
                    if on_bytes:
                        on_bytes(written, expected)
        except requests.RequestException as exc:
            reason = _short(exc)
            raise VendorError(f"the download broke off after {written} bytes ({reason})") from None
        finally:
            response.close()
        return written


def _short(exc: Exception) -> str:
    """An exception's class and the end of its message (urllib3 nests long reprs)."""
    text = str(exc)
    return f"{type(exc).__name__}: {text[-160:]}" if text else type(exc).__name__


def to_utc(value: datetime) -> datetime:
    """``value`` as an aware UTC time."""
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
