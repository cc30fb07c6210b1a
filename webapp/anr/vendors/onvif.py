"""ONVIF Profile G: what the card holds (search service) and where to replay it (replay service).

The client is ``onvif-zeep-async`` with the WSDLs it ships (WS-Security UsernameToken digest),
run on one background event loop; the fill's thread waits for the answer, so the worker never
waits on a camera. Services are found through ``GetServices`` (the library misfiles the
recording/search/replay entries of ``GetCapabilities``); an XAddr or replay URI on another host
than the camera's is refused. Every SOAP answer is read under the camera cap
(``ANR_CAMERA_MAX_XML_BYTES``, decompressed bytes counted) by ``BoundedSoapResponse``: the library
reads whole answers, so its HTTP sessions are made with that response class, and a redirect
is refused, never followed. The replay itself is
RTSP (``webapp/anr/onvif_replay.py``).
"""

import asyncio
import contextvars
import threading
from datetime import datetime
from datetime import timedelta
from urllib.parse import urlsplit

import aiohttp

from .base import MAX_XML_BYTES
from .base import CardCoverage
from .base import Recording
from .base import Refused
from .base import VendorClient
from .base import VendorError
from .base import to_utc

SUMMARY_BOUND_S = 30.0
MAX_RECORDINGS = 50
SEARCH_ROUNDS = 5  # GetRecordingSearchResults calls before a search counts as finished


SOAP_CHUNK = 64 * 1024
# The cap of the question being asked: set by ``_ask`` for the task that runs it.
_soap_cap: contextvars.ContextVar[int] = contextvars.ContextVar("soap_cap", default=MAX_XML_BYTES)


class SoapAnswerTooLarge(aiohttp.ClientError):
    """A SOAP answer past the cap (a bomb, an endless stream): the exchange is abandoned."""


class BoundedSoapResponse(aiohttp.ClientResponse):
    """An aiohttp response whose ``read()`` stops at the cap instead of buffering everything.

    ``content`` yields decompressed bytes, so a gzip bomb is counted as what it unpacks to.
    """

    async def read(self) -> bytes:
        if self._body is None:
            cap, size, pieces = _soap_cap.get(), 0, []
            try:
                async for piece in self.content.iter_chunked(SOAP_CHUNK):
                    size += len(piece)
                    if size > cap:
                        raise SoapAnswerTooLarge(
                            f"the camera's ONVIF answer is more than {cap} bytes; refused"
                        )
                    pieces.append(piece)
            except BaseException:
                self.close()  # hang up: the rest is never read
                raise
            self._body = b"".join(pieces)
        return await super().read()


class SoapRedirectRefused(aiohttp.ClientError):
    """The camera answered a SOAP request with a redirect: never followed (the WS-Security
    digest would go along)."""


async def _refuse_redirect(_session, _context, params) -> None:
    where = params.response.headers.get("Location", "")
    raise SoapRedirectRefused(
        f"the camera redirected its ONVIF answer ({params.response.status} to "
        f"{urlsplit(where).hostname or 'elsewhere'}); refused (credentials go only to the camera)"
    )


def _bounded_session(*args, **kw) -> aiohttp.ClientSession:
    """The ONVIF library's HTTP session, made bounded: capped answers, no redirects followed."""
    refusal = aiohttp.TraceConfig()
    refusal.on_request_redirect.append(_refuse_redirect)
    kw["trace_configs"] = [*(kw.get("trace_configs") or ()), refusal]
    return aiohttp.ClientSession(*args, response_class=BoundedSoapResponse, **kw)


def _bounded_sessions() -> None:
    """Make the ONVIF library open its HTTP sessions through ``_bounded_session``."""
    from onvif import client  # zeep loads only for cameras that speak ONVIF

    client.ClientSession = _bounded_session


_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def _event_loop() -> asyncio.AbstractEventLoop:
    """One event loop thread for every ONVIF question: the library's WSDL caches belong to
    the loop that filled them, so a loop per question would wait on another loop's locks."""
    global _loop
    with _loop_lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, daemon=True, name="onvif").start()
        return _loop


def _fault_text(exc: Exception) -> str:
    """A short, credential-free reason for a failed SOAP exchange."""
    text = str(exc)
    if "NotAuthorized" in text or "not authorized" in text.lower() or "401" in text:
        return "the camera refused the username or password (ONVIF NotAuthorized)"
    if isinstance(exc, SoapAnswerTooLarge | SoapRedirectRefused):
        return text
    return f"{type(exc).__name__}: {text[-160:]}"


class OnvifClient(VendorClient):
    """The device's search and replay services; recordings are ONVIF recording tokens."""

    vendor = "onvif"
    can_download = False

    def __init__(self, host: str, port: int, username: str, password: str, **kw):
        super().__init__(f"http://{host}:{port}", username, password, **kw)
        self.host, self.port = host, port
        self.username, self._password = username, password
        self.replay_uris: dict[str, str] = {}  # recording token -> RTSP URI (GetReplayUri)
        self.last_error = ""  # why the last question failed (no credential in it)

    @classmethod
    def for_camera(cls, camera, password: str, **kw) -> "OnvifClient":
        """The client of a Camera row: device service at ``address:http_port``."""
        return cls(camera.address, camera.http_port, camera.username, password, **kw)

    # --- the SOAP exchanges (on the ONVIF loop) ------------------------------------------
    def _same_host(self, url: str, what: str) -> None:
        host = urlsplit(url).hostname or ""
        if host.lower() != self.host.lower():
            raise VendorError(f"the camera's {what} points at another host ({host}); refused")

    async def _ask(self, start: datetime | None, end: datetime | None):
        from onvif import ONVIFCamera  # zeep loads only for cameras that speak ONVIF

        _bounded_sessions()
        _soap_cap.set(self.max_xml_bytes)
        camera = ONVIFCamera(self.host, self.port, self.username, self._password)
        try:
            await camera.update_xaddrs()
            self.check_xaddrs(camera.xaddrs)
            search = await camera.create_search_service()
            summary = await search.GetRecordingSummary()
            if not getattr(summary, "NumberRecordings", None):
                return [], None
            oldest = to_utc(summary.DataFrom) if getattr(summary, "DataFrom", None) else None
            if start is None or end is None:
                return [], oldest
            recordings = await self._recordings(search)
            held = [r for r in recordings if r.end > start and r.start < end]
            if held:
                replay = await camera.create_replay_service()
                first = min(held, key=lambda r: r.start)
                answer = await replay.GetReplayUri(
                    {
                        "StreamSetup": {
                            "Stream": "RTP-Unicast",
                            "Transport": {"Protocol": "RTSP"},
                        },
                        "RecordingToken": first.ref,
                    }
                )
                uri = answer if isinstance(answer, str) else getattr(answer, "Uri", "")
                self._same_host(uri, "replay URI")
                self.replay_uris[first.ref] = uri
            return recordings, oldest
        finally:
            await camera.close()

    def check_xaddrs(self, xaddrs: dict) -> None:
        """Refuse service addresses off the camera: the credentials would follow them."""
        own = self.host.strip("[]").lower()
        for xaddr in (xaddrs or {}).values():
            parts = urlsplit(str(xaddr or ""))
            if parts.scheme not in ("http", "https") or (parts.hostname or "") != own:
                raise Refused(
                    f"the camera's ONVIF service address {self.shown(str(xaddr))} is not on "
                    f"the camera ({self.host}); refused (credentials go only to the camera)"
                )

    async def _recordings(self, search) -> list[Recording]:
        """FindRecordings, then its results, then each recording's own earliest/latest."""
        token = await search.FindRecordings(
            {"Scope": {}, "MaxMatches": MAX_RECORDINGS, "KeepAliveTime": timedelta(seconds=10)}
        )
        infos: list = []
        for _ in range(SEARCH_ROUNDS):
            results = await search.GetRecordingSearchResults(
                {
                    "SearchToken": token,
                    "MaxResults": MAX_RECORDINGS,
                    "WaitTime": timedelta(seconds=2),
                }
            )
            infos += list(getattr(results, "RecordingInformation", None) or [])
            if getattr(results, "SearchState", "Completed") == "Completed":
                break
        recordings = []
        for info in infos[:MAX_RECORDINGS]:
            detail = await search.GetRecordingInformation({"RecordingToken": info.RecordingToken})
            begin = getattr(detail, "EarliestRecording", None)
            until = getattr(detail, "LatestRecording", None)
            if begin and until:
                recordings.append(Recording(to_utc(begin), to_utc(until), info.RecordingToken))
        return recordings

    def _run(self, start: datetime | None, end: datetime | None):
        try:
            # The bound covers loading the WSDLs (CPU, a second or two), not just the I/O.
            bound = max(self.timeout_s * 4, SUMMARY_BOUND_S)
            future = asyncio.run_coroutine_threadsafe(self._ask(start, end), _event_loop())
            try:
                return future.result(timeout=bound)
            except TimeoutError:
                future.cancel()
                raise
        except VendorError as exc:
            self.last_error = str(exc)
            raise
        except Exception as exc:  # zeep faults, aiohttp errors, timeouts: the device did not answer
            self.last_error = f"ONVIF search failed: {_fault_text(exc)}"
            raise VendorError(self.last_error) from None

    # --- what the engine asks -----------------------------------------------------------
    def recordings(self, start: datetime, end: datetime) -> list[Recording]:
        """The recordings overlapping [start, end), each one span [earliest, latest]."""
        return [r for r in self._run(start, end)[0] if r.end > start and r.start < end]

    def coverage(self, start: datetime, end: datetime, want_oldest: bool = True) -> CardCoverage:
        """Each recording's span, clipped by ``CardCoverage``; holes inside one are not known.

        The replay URI of the recording that covers the window is asked too (``replay_uri``).
        """
        recordings, oldest = self._run(start, end)
        held = [r for r in recordings if r.end > start and r.start < end]
        return CardCoverage(held, oldest)

    def oldest(self) -> datetime | None:
        return self._run(None, None)[1]

    def replay_uri(self) -> str | None:
        """The replay URI of the first recording holding the window (asked by ``coverage``).

        One URI serves the whole window: a Profile G replay URI takes any clock range.
        """
        return next(iter(self.replay_uris.values()), None)
