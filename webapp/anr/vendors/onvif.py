"""ONVIF Profile G: ``GetRecordingSummary`` tells since when the device holds footage.

Coverage only (ONVIF's replay is RTSP, which the replay path already does). The client is
``onvif-zeep-async`` with the WSDLs it ships, run on one background event loop; the fill's
thread waits for the answer, so the worker never waits on a camera.
"""

import asyncio
import threading
from datetime import datetime
from urllib.parse import urlsplit

from .base import CardCoverage
from .base import Recording
from .base import Refused
from .base import VendorClient
from .base import VendorError
from .base import to_utc

SUMMARY_BOUND_S = 30.0


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


class OnvifClient(VendorClient):
    """The device's search service; the summary is one span [DataFrom, DataUntil]."""

    vendor = "onvif"
    can_download = False

    def __init__(self, host: str, port: int, username: str, password: str, **kw):
        super().__init__(f"http://{host}:{port}", username, password, **kw)
        self.host, self.port = host, port
        self.username, self._password = username, password

    async def _summary(self) -> tuple[datetime | None, datetime | None]:
        from onvif import ONVIFCamera  # zeep and aiohttp load only for cameras that speak ONVIF

        camera = ONVIFCamera(self.host, self.port, self.username, self._password)
        try:
            await camera.update_xaddrs()
            self.check_xaddrs(camera.xaddrs)
            search = await camera.create_search_service()
            summary = await search.GetRecordingSummary()
        finally:
            await camera.close()
        begin = getattr(summary, "DataFrom", None)
        until = getattr(summary, "DataUntil", None)
        count = getattr(summary, "NumberRecordings", None)
        if not count:
            return None, None
        return (to_utc(begin) if begin else None), (to_utc(until) if until else None)

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

    def summary(self) -> tuple[datetime | None, datetime | None]:
        """(DataFrom, DataUntil) of the device's recordings, UTC; (None, None) when it has none."""
        try:
            # The bound covers loading the WSDLs (CPU, a second or two), not just the I/O.
            bound = max(self.timeout_s * 4, SUMMARY_BOUND_S)
            future = asyncio.run_coroutine_threadsafe(self._summary(), _event_loop())
            try:
                return future.result(timeout=bound)
            except TimeoutError:
                future.cancel()
                raise
        except VendorError:
            raise
        except Exception as exc:  # zeep faults, aiohttp errors, timeouts: the device did not answer
            raise VendorError(
                f"ONVIF GetRecordingSummary failed: {type(exc).__name__}: {str(exc)[-160:]}"
            ) from None

    def coverage(self, start: datetime, end: datetime, want_oldest: bool = True) -> CardCoverage:
        """One span from the summary, clipped to the window; holes inside it are not known."""
        begin, until = self.summary()
        if begin is None:
            return CardCoverage([], None)
        until = until or end
        held = [Recording(begin, until, "")] if until > start and begin < end else []
        return CardCoverage(held, begin)

    def oldest(self) -> datetime | None:
        return self.summary()[0]
