"""What every camera vendor client shares: recordings, card coverage, HTTP with Digest auth."""

import io
import logging
import os
import select
import socket
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import requests
from requests.auth import HTTPDigestAuth

from ...masking import camera_text
from .ratelimit import TokenBucket

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024  # uncapped: fewer, larger reads (each hands the GIL back and forth)
CAPPED_CHUNK = 16 * 1024  # under a bandwidth cap: small steps keep the rate smooth
SPLICE_STEP = 1024 * 1024  # socket to pipe in the kernel: at most this much between checks
SPLICE_HEAD = 64 * 1024  # what goes through Python first, so its head can be judged
SPLICE_WAIT_S = 0.25  # a spliced download waiting for bytes looks at Stop this often
# Answers are read in small raw steps: one step of deflate unpacks to at most ~1000x its size.
READ_STEP = 16 * 1024
MAX_XML_BYTES = 4 * 1024 * 1024  # ANR_CAMERA_MAX_XML_BYTES
MAX_ITEMS = 10_000  # ANR_CARD_MAX_ITEMS
ERROR_BODY_BYTES = 4096  # of an error answer: enough for the camera's reason
FREE_CHECK_BYTES = 4 * 1024 * 1024  # a download looks at the free disk this often
# Two pieces of footage this close count as one run (cameras cut files on whole seconds).
CONTIGUOUS_S = 2.0


class VendorError(Exception):
    """The camera's API failed or refused; ``status`` is the HTTP status when there was one."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class Unsupported(VendorError):
    """The camera does not offer this API (HTTP 404 or 501): use replay instead."""


class Refused(VendorError):
    """The camera's answer was refused: too large, a redirect off the camera, not media."""


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


# The last Digest challenge each camera (address and user) sent, so the next request, in any
# thread or client, answers it at once instead of meeting a 401 first. Bounded; a nonce the
# camera no longer accepts costs the one 401 it always did (requests answers the new one).
CHALLENGES = 1024
_challenges: OrderedDict[tuple[str, str], dict[str, str]] = OrderedDict()
_challenges_lock = threading.Lock()


def _known_challenge(key: tuple[str, str]) -> dict[str, str] | None:
    with _challenges_lock:
        chal = _challenges.get(key)
        if chal is not None:
            _challenges.move_to_end(key)
        return dict(chal) if chal is not None else None


def _remember_challenge(key: tuple[str, str], chal: dict[str, str]) -> None:
    with _challenges_lock:
        _challenges[key] = dict(chal)
        _challenges.move_to_end(key)
        while len(_challenges) > CHALLENGES:
            _challenges.popitem(last=False)


def forget_challenges() -> None:
    """Drop every remembered Digest challenge (tests)."""
    with _challenges_lock:
        _challenges.clear()


class BoundedDigestAuth(HTTPDigestAuth):
    """Digest auth that reads a challenge's body under a cap: requests' own ``handle_401``
    reads it whole, so a 401 carrying a gzip bomb would grow the worker before any check.

    With a ``key`` (the camera's base URL), the camera's last challenge is reused across
    threads and clients: the card check's thread, the download's thread and the next gap's
    client all answer the nonce the camera gave before, without a 401 round trip each.
    """

    def __init__(self, username: str, password: str, key: str = ""):
        super().__init__(username, password)
        self.key = (key, username) if key else None

    def __call__(self, r):
        self.init_per_thread_state()
        if self.key is not None and not self._thread_local.last_nonce:
            chal = _known_challenge(self.key)
            if chal is not None and chal.get("nonce"):
                self._thread_local.chal = chal
                self._thread_local.last_nonce = chal["nonce"]
                self._thread_local.nonce_count = 0  # this thread's own count starts over
        return super().__call__(r)

    def build_digest_header(self, method, url):
        header = super().build_digest_header(method, url)
        if header and self.key is not None:
            _remember_challenge(self.key, self._thread_local.chal)
        return header

    def handle_401(self, r: requests.Response, **kwargs) -> requests.Response:
        if 400 <= r.status_code < 500 and r._content is False:
            data = bytearray()
            try:
                for chunk in r.iter_content(READ_STEP):
                    data += chunk
                    if len(data) > ERROR_BODY_BYTES:
                        break  # the rest is never read: the connection is closed below
            except requests.RequestException:
                pass
            r._content = bytes(data[:ERROR_BODY_BYTES])
            r.close()
        return super().handle_401(r, **kwargs)


class VendorClient:
    """A camera's HTTP API with Digest auth; subclasses speak one vendor's dialect."""

    vendor = ""
    can_download = False
    parallel_oldest = False  # its searches keep no state on the camera: two may run at once

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
        max_xml_bytes: int = MAX_XML_BYTES,
        max_items: int = MAX_ITEMS,
        secrets: tuple[str, ...] = (),
    ):
        self.base_url = base_url.rstrip("/")
        self.channel = channel
        self.timezone = timezone
        self.timeout_s = timeout_s
        self.buckets = tuple(b for b in buckets if b is not None)
        self.max_xml_bytes = max(int(max_xml_bytes), 1024)
        self.max_items = max(int(max_items), 1)
        self.secrets = tuple(secrets) or ((password,) if password else ())
        # Set when the card check is given up: every read and result loop stops at its next step.
        self.cancel = threading.Event()
        self.session = requests.Session()
        self.session.trust_env = False  # a proxy from the environment must not see the camera
        self.session.max_redirects = 0  # redirects are refused in request(), never followed
        if username:
            self.session.auth = BoundedDigestAuth(username, password, key=self.base_url)

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

    def open_download(self, recording: Recording) -> requests.Response:
        """The camera's streamed answer for ``recording`` (status checked, body unread)."""
        raise Unsupported(f"{self.vendor or 'this camera'} offers no download", 501)

    def download(self, recording: Recording, dest: Path, **kw) -> int:
        """Write ``recording`` to ``dest``; returns bytes written (``stream_to``'s bounds)."""
        return self.stream_to(self.open_download(recording), dest, **kw)

    def coverage(self, start: datetime, end: datetime, want_oldest: bool = True) -> CardCoverage:
        """What the card holds for [start, end) and since when (the second question is skipped
        when the window is held whole and ``want_oldest`` is False).

        When both questions are asked anyway and the vendor's searches are stateless
        (``parallel_oldest``), the oldest is asked beside the window's search, not after it:
        the card check takes one round trip instead of two.
        """
        if want_oldest and self.parallel_oldest:
            return self._coverage_together(start, end)
        found = CardCoverage(self.recordings(start, end))
        if not want_oldest and found.holds(start, end):
            found.asked_oldest = False
        else:
            found.oldest = self.oldest()
        return found

    def _coverage_together(self, start: datetime, end: datetime) -> CardCoverage:
        answer: dict[str, object] = {}

        def ask_oldest() -> None:
            try:
                answer["oldest"] = self.oldest()
            except BaseException as exc:  # handed to the card check's own thread below
                answer["error"] = exc

        beside = threading.Thread(target=ask_oldest, daemon=True, name="card-oldest")
        beside.start()
        try:
            found = CardCoverage(self.recordings(start, end))
        finally:
            beside.join()  # bounded: the client's timeouts and ``cancel`` end it
        error = answer.get("error")
        if isinstance(error, BaseException):
            raise error
        oldest = answer.get("oldest")
        found.oldest = oldest if isinstance(oldest, datetime) else None
        return found

    # --- HTTP -----------------------------------------------------------------------------
    def check_cancel(self) -> None:
        """Stop here when the card check was given up (its thread must not go on working)."""
        if self.cancel.is_set():
            raise VendorError("the card check was given up (it ran past its time limit)")

    def request(self, method: str, path: str, **kw) -> requests.Response:
        """One API call; a failure becomes a VendorError naming the status, never the password.

        Redirects are refused (credentials go only to the camera's own address). Without
        ``stream=True`` the body is read here under ``max_xml_bytes``, unpacked bytes counted.
        """
        self.check_cancel()
        url = self.base_url + path
        stream = bool(kw.pop("stream", False))
        try:
            response = self.session.request(
                method, url, timeout=self.timeout_s, stream=True, allow_redirects=False, **kw
            )
        except requests.RequestException as exc:
            reason = self.shown(_short(exc))
            raise VendorError(f"{method} {path}: the camera did not answer ({reason})") from None
        status = response.status_code
        if 300 <= status < 400:
            where = self.shown(response.headers.get("Location", "") or "nowhere")
            response.close()
            raise Refused(
                f"{method} {path}: the camera answered HTTP {status}, a redirect to {where}; "
                "redirects are refused (credentials go only to the camera's own address)",
                status,
            )
        if status == 401:
            response.close()
            raise VendorError(
                f"{method} {path}: the camera refused the user name or password (HTTP 401)", 401
            )
        if status in (404, 501):
            response.close()
            raise Unsupported(
                f"{method} {path}: the camera does not offer this API (HTTP {status})", status
            )
        if status >= 400:
            try:
                detail = self.read_capped(response, f"{method} {path}", ERROR_BODY_BYTES, cut=True)
            except VendorError:
                detail = b""
            text = self.shown(detail.decode("utf-8", "replace").strip())
            raise VendorError(
                f"{method} {path}: HTTP {status}" + (f": {text}" if text else ""), status
            )
        if not stream:
            # requests' own reading is unbounded: fill its cache so .content/.text stay usable.
            response._content = self.read_capped(response, f"{method} {path}", self.max_xml_bytes)
        return response

    def read_capped(self, response: requests.Response, what: str, cap: int, cut=False) -> bytes:
        """The answer's body, decompressed, refused past ``cap`` bytes (or cut there: ``cut``)."""
        data = bytearray()
        try:
            for chunk in response.iter_content(READ_STEP):
                self.check_cancel()
                data += chunk
                if len(data) > cap:
                    if cut:
                        return bytes(data[:cap])
                    raise Refused(
                        f"{what}: the camera's answer is more than {cap} bytes "
                        "(ANR_CAMERA_MAX_XML_BYTES); refused"
                    )
        except requests.RequestException as exc:
            reason = self.shown(_short(exc))
            raise VendorError(f"{what}: the answer broke off ({reason})") from None
        finally:
            response.close()
        return bytes(data)

    def shown(self, text: str) -> str:
        """Camera text fit for a page or a log: masked (with this camera's secrets) and short."""
        return camera_text(text, self.secrets)

    def stream_to(
        self,
        response: requests.Response,
        dest: Path,
        *,
        stop: threading.Event | None = None,
        on_bytes: Callable[[int, int], None] | None = None,
        max_bytes: int = 0,
        min_free_bytes: int = 0,
    ) -> int:
        """Copy a streamed answer to ``dest`` under the bandwidth caps; returns bytes written.

        ``on_bytes(written, expected)`` follows the copy (expected 0 when the camera sent no
        Content-Length). Past ``max_bytes`` (0: no cap), or with the disk's free space below
        ``min_free_bytes``, the copy is refused and ``dest`` removed.
        """
        try:
            with dest.open("wb") as out:
                return self.pump(
                    response, out.write, stop=stop, on_bytes=on_bytes, max_bytes=max_bytes,
                    min_free_bytes=min_free_bytes, disk=dest.parent,
                )  # fmt: skip
        except BaseException:
            dest.unlink(missing_ok=True)  # a refused, broken or stopped download leaves no file
            raise

    def pump(
        self,
        response: requests.Response,
        write: Callable[[bytes], object],
        *,
        stop: threading.Event | None = None,
        on_bytes: Callable[[int, int], None] | None = None,
        max_bytes: int = 0,
        min_free_bytes: int = 0,
        disk: Path | None = None,
        pipe: BinaryIO | None = None,
    ) -> int:
        """Hand a streamed answer to ``write`` chunk by chunk under the bandwidth caps, the byte
        cap and the free-space floor of ``disk`` (where the bytes end up); returns the bytes.

        ``stream_to`` writes a file with it; a download fill writes the cut's pipe with it.
        ``pipe`` is the pipe ``write`` ends in: given, with no bandwidth cap, and the answer
        plain bytes of a known length on a plain TCP socket, the first chunk goes through
        ``write`` (which judges the head) and the rest moves from the socket to the pipe inside
        the kernel (``os.splice``), the same bounds checked before each move: the bytes never
        pass through Python, which took a tenth of a site outage's CPU.
        """
        written = 0
        next_free_check = 0
        try:
            expected = int(response.headers.get("Content-Length") or 0)
        except ValueError:
            expected = 0

        def admit(size: int) -> None:
            """Stop, the caps and the free-space floor, before ``size`` more bytes go on."""
            nonlocal next_free_check
            if stop is not None and stop.is_set():
                raise DownloadStopped()
            for bucket in self.buckets:
                if not bucket.take(size, stop):
                    raise DownloadStopped()
            if max_bytes and written + size > max_bytes:
                raise Refused(
                    f"the download is more than {max_bytes} bytes, more than this window "
                    "can hold (ANR_DOWNLOAD_MAX_MBPS); refused"
                )
            if min_free_bytes and disk is not None and written >= next_free_check:
                next_free_check = written + FREE_CHECK_BYTES
                free = _free_bytes(disk)
                if free - size < min_free_bytes:
                    raise Refused(
                        f"the archive disk has {free // (1024 * 1024)} MB free, under "
                        f"ANR_MIN_FREE_MB ({min_free_bytes // (1024 * 1024)}); "
                        "the download was stopped"
                    )

        body = _plain_body(response, expected) if pipe is not None and not self.buckets else None
        try:
            if body is None:
                for chunk in response.iter_content(CAPPED_CHUNK if self.buckets else CHUNK):
                    admit(len(chunk))
                    write(chunk)
                    written += len(chunk)
                    if on_bytes:
                        on_bytes(written, expected)
                return written
            assert pipe is not None
            if max_bytes and expected > max_bytes:
                admit(expected)  # the camera says so before sending: refused at once
            first = body.read(SPLICE_HEAD)
            if len(first) == SPLICE_HEAD:
                # What the reader holds beyond it (a few kB), so only the socket is left.
                first += body.read(min(len(body.peek()), expected - len(first)))
            admit(len(first))
            write(first)
            written += len(first)
            if on_bytes:
                on_bytes(written, expected)
            pipe.flush()
            while written < expected:
                step = min(SPLICE_STEP, expected - written)
                admit(step)
                written += _splice(body, pipe, step, written, stop)
                if on_bytes:
                    on_bytes(written, expected)
        except requests.RequestException as exc:
            reason = self.shown(_short(exc))
            raise VendorError(f"the download broke off after {written} bytes ({reason})") from None
        except BrokenPipeError:
            raise  # the reader (ffmpeg) ended: the caller knows why
        except OSError as exc:  # the spliced socket: reset, timed out
            reason = self.shown(_short(exc))
            raise VendorError(f"the download broke off after {written} bytes ({reason})") from None
        finally:
            response.close()
        return written


def _plain_body(response: requests.Response, expected: int) -> io.BufferedReader | None:
    """The unread body's reader when the bytes may be spliced: Linux, more than a chunk of a
    known length, no transfer or content encoding, over a plain TCP socket (TLS must be
    decrypted in Python). It reaches under requests to http.client's reader; where that is
    not as expected, None and the bytes go through Python as before."""
    if not hasattr(os, "splice") or expected <= CHUNK:
        return None
    headers = response.headers
    if "Transfer-Encoding" in headers or headers.get("Content-Encoding", "identity") != "identity":
        return None
    message = getattr(response.raw, "_fp", None)  # http.client.HTTPResponse, headers read
    body = getattr(message, "fp", None)
    sock = getattr(getattr(body, "raw", None), "_sock", None)
    if getattr(message, "chunked", True) or not isinstance(body, io.BufferedReader):
        return None
    if type(sock) is not socket.socket:  # noqa: E721 -- an SSLSocket must not be spliced
        return None
    return body


def _splice(
    body: io.BufferedReader, pipe: BinaryIO, size: int, written: int, stop: threading.Event | None
) -> int:
    """Move up to ``size`` bytes from the body's socket to ``pipe`` in the kernel; the count.
    Waits for the socket as long as its read timeout (requests set it), seeing Stop meanwhile;
    a silent or closed camera is an OSError the caller reports."""
    sock = body.raw._sock  # type: ignore[attr-defined]  # checked by _plain_body
    timeout = sock.gettimeout()
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    waited = 0.0
    while True:
        if stop is not None and stop.is_set():
            raise DownloadStopped()
        if not poller.poll(int(SPLICE_WAIT_S * 1000)):
            waited += SPLICE_WAIT_S
            if timeout is not None and waited >= timeout:
                raise TimeoutError(f"no bytes for {timeout:g} s")
            continue
        try:
            moved = os.splice(sock.fileno(), pipe.fileno(), size)
        except BlockingIOError:  # woken without bytes after all
            continue
        if moved == 0:
            raise ConnectionError(f"the camera closed the connection after {written} bytes")
        return moved


def _free_bytes(folder: Path) -> int:
    """Bytes free to an unprivileged writer on the file system of ``folder``."""
    stats = os.statvfs(folder)
    return stats.f_bavail * stats.f_frsize


def _short(exc: Exception) -> str:
    """An exception's class and the end of its message (urllib3 nests long reprs)."""
    text = str(exc)
    return f"{type(exc).__name__}: {text[-160:]}" if text else type(exc).__name__


def to_utc(value: datetime) -> datetime:
    """``value`` as an aware UTC time."""
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
