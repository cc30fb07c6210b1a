"""A fill that asks the camera's card first, then fetches by download or replay.

The card check (ISAPI search, Dahua file find, ONVIF recording summary) runs in the job's own
thread. A window the card no longer holds ends as ``expired`` at once, without spending an
attempt; a window held in part is fetched for that part and ends ``partial``. ``fill_method``
picks the fetch: ``download``, ``replay``, or ``auto`` (download when the vendor offers it and
its API answered the card check; replay when it did not, or the download answers 404/501). A
camera that cannot say what its card holds falls back to retention, as before.
"""

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from datetime import timedelta

from ..domain.states import GapState
from ..domain.vendors import registry
from ..masking import mask_credentials
from ..models import FILL_METHODS
from .download import DownloadJob
from .fill import FillJob
from .fill import FillResult
from .media import ffmpeg_bin
from .phases import Phases
from .replay import ReplayUrlError
from .vendors import CardCoverage
from .vendors import VendorClient
from .vendors import VendorError

log = logging.getLogger(__name__)

CARD_CHECK_TIMEOUT_S = 60  # the client's own I/O timeouts end it sooner
# One card answer serves a camera's other gaps of the same outage for this long (the card's
# past changes only as its oldest footage is overwritten), and this many answers are kept.
CARD_CACHE_S = 60.0
CARD_CACHE_SIZE = 256


class CardCache:
    """What cameras' cards said about outage windows, kept briefly: the camera is asked once
    per outage window, not once per gap. Bounded (oldest dropped first); thread-safe (card
    threads put, the worker's thread gets)."""

    def __init__(self, ttl_s: float = CARD_CACHE_S, size: int = CARD_CACHE_SIZE):
        self.ttl_s = ttl_s
        self.size = size
        self._entries: OrderedDict[tuple[str, datetime, datetime], tuple[float, CardCoverage]]
        self._entries = OrderedDict()
        self._lock = threading.Lock()

    def get(self, camera_id: str, start: datetime, end: datetime) -> CardCoverage | None:
        """The answer of a window of ``camera_id`` holding all of [start, end), if still fresh.

        It says nothing new of the card's oldest footage (``asked_oldest`` False), so the camera
        page keeps the time of the real question."""
        now = time.monotonic()
        with self._lock:
            for key, (at, coverage) in list(self._entries.items()):
                if now - at > self.ttl_s:
                    del self._entries[key]
                elif key[0] == camera_id and key[1] <= start and end <= key[2]:
                    return replace(coverage, asked_oldest=False)
        return None

    def put(self, camera_id: str, start: datetime, end: datetime, coverage: CardCoverage) -> None:
        with self._lock:
            self._entries[(camera_id, start, end)] = (time.monotonic(), coverage)
            self._entries.move_to_end((camera_id, start, end))
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


def card_gone_message(oldest: datetime | None) -> str:
    """``last_error`` of a window the card no longer holds."""
    if oldest is None:
        return "the camera's card holds no footage; this window is gone"
    return f"the camera's card holds footage from {_utc(oldest)}; this window is gone"


def _download_vendors() -> str:
    return " and ".join(v.name for v in registry().values() if v.can_download)


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class EdgeFill:
    """The job the worker polls: card check first, then the inner download or replay job."""

    def __init__(
        self,
        *,
        gap_id: str,
        start: datetime,
        seconds: int,
        method: str,
        client: VendorClient | None,
        replay_job: Callable[[datetime, int], FillJob],
        download_job: Callable[..., DownloadJob],
        secrets: tuple[str, ...] = (),
        ffmpeg: str = "",
        wake: Callable[[], None] = lambda: None,
        refresh_card: bool = True,
        phases: Phases | None = None,
        camera_id: str = "",
        card_cache: CardCache | None = None,
        card_window: tuple[datetime, datetime] | None = None,
    ):
        self.gap_id = gap_id
        self.start_time = start
        self.seconds = seconds
        self.method = method if method in FILL_METHODS else "auto"
        self.client = client
        self.replay_job = replay_job
        self.download_job = download_job
        self.secrets = secrets
        self.ffmpeg = ffmpeg_bin(ffmpeg)
        self.inner: FillJob | DownloadJob | None = None
        self.coverage: CardCoverage | None = None  # None: the card was not asked or not answered
        self.card_error: VendorError | None = None
        self.note: str | None = None  # why only part of the window is fetched
        self.fetch_start = start
        self._early: FillResult | None = None
        self._thread: threading.Thread | None = None
        self._started = 0.0
        self._fell_back = False
        self._lock = threading.Lock()
        self._decided = False
        self._aborted = False
        self.wake = wake  # tells the worker to poll now (a card check or a download ended)
        self.refresh_card = refresh_card  # ask the card's oldest footage even if not needed
        self.phases = phases if phases is not None else Phases()  # where the fill's time went
        self.camera_id = camera_id
        self.card_cache = card_cache
        # What the card is asked about: the camera's whole outage window (its gaps near this
        # one), so the answer serves them all; else this gap's window.
        self.card_window = card_window or (start, self.end)

    # --- the FillJob surface the worker uses ------------------------------------------------
    def __getattr__(self, name: str):
        # Anything else (proc, part, target...) is the running inner job's.
        inner = self.__dict__.get("inner")
        if inner is None:
            raise AttributeError(name)
        return getattr(inner, name)

    def masked(self, text: str) -> str:
        """``text`` with the camera's credentials hidden."""
        return mask_credentials(text, self.secrets)

    @property
    def method_ran(self) -> str:
        """What fetched (or was to fetch) the window, for the fill history: the inner job's
        method (``download``, ``replay``, ...), else what the card check would have led to."""
        if self.inner is not None:
            return getattr(self.inner, "method", "replay")
        return "download" if self.method == "download" else "replay"

    @property
    def end(self) -> datetime:
        return self.start_time + timedelta(seconds=self.seconds)

    @property
    def progress(self) -> float:
        """Share of the whole window in the archive so far, 0..1."""
        if self.inner is None or not self.seconds:
            return 0.0
        skipped = (self.fetch_start - self.start_time).total_seconds()
        inner = self.inner.progress * self.inner.seconds
        return min((skipped + inner) / self.seconds, 1.0)

    def start(self) -> FillResult | None:
        """Ask the card in a thread (or go straight to replay when nobody can be asked)."""
        wants_download = self.method == "download"
        can_download = self.client is not None and self.client.can_download
        if wants_download and not can_download:
            return FillResult(
                GapState.FAILED, 0.0,
                "fill method is download, but this camera's vendor offers no download API "
                f"({_download_vendors()} do); set the fill method to replay or auto",
            )  # fmt: skip
        if self.client is None:
            self._decided = True
            return self._begin(self.start_time, self.seconds, download=False)
        self._started = time.monotonic()
        name = f"card-{self.gap_id}"
        self._thread = threading.Thread(
            target=self._ask_card, args=(self.client,), daemon=True, name=name
        )
        self._thread.start()
        return None

    def _ask_card(self, client: VendorClient) -> None:
        cache = self.card_cache
        try:
            known = cache.get(self.camera_id, self.start_time, self.end) if cache else None
            if known is not None:
                self.coverage = known
            else:
                lo, hi = self.card_window
                with self.phases.timed("search"):
                    self.coverage = client.coverage(lo, hi, want_oldest=self.refresh_card)
                if cache is not None:
                    cache.put(self.camera_id, lo, hi, self.coverage)
        except VendorError as exc:
            self.card_error = exc
            log.info("gap %s: the card could not be asked: %s", self.gap_id, self.masked(str(exc)))
        if self._downloads():
            # A download needs nothing of the worker's thread (a replay's ffmpeg does: it dies
            # with the thread that started it), so it starts here, without waiting for a poll.
            self._settle()
        self.wake()

    def _downloads(self) -> bool:
        """Whether this window is fetched by download (after the card check)."""
        # Auto downloads only from a camera whose API just answered the card check; one that
        # did not (no API, 404/501, unreachable port) is replayed, as before download existed.
        return self.method == "download" or (
            self.method == "auto"
            and self.client is not None
            and self.client.can_download
            and self.coverage is not None
        )

    def _settle(self) -> None:
        """Decide once (card thread or worker thread, whichever comes first)."""
        with self._lock:
            if self._decided or self._aborted:
                return
            self._decided = True
            early = self._decide()
            if early is not None:
                self._early = early

    def running(self) -> bool:
        """True while the card check or the fetch runs; starts the fetch when the check ends."""
        if self._early is not None:
            return False
        with self._lock:  # waits while the card thread is in the middle of deciding
            decided = self._decided
        if not decided:
            if self._thread is not None and self._thread.is_alive():
                if time.monotonic() - self._started < CARD_CHECK_TIMEOUT_S:
                    return True
                self.card_error = VendorError("the camera did not answer the card check in time")
                if self.client is not None:
                    self.client.cancel.set()  # the card thread stops at its next read or item
            self._settle()
        if self._early is not None or self.inner is None:
            return False
        if self.inner.running():
            return True
        if self._should_fall_back():
            return self.running()
        return False

    def _decide(self) -> FillResult | None:
        """Expire, narrow, or pick the fetch method from what the card said."""
        download = self._downloads()
        if self.method == "download" and self.card_error is not None:
            return FillResult(GapState.FAILED, 0.0, self.masked(str(self.card_error)))
        begin, seconds = self.start_time, self.seconds
        if self.coverage is not None:
            spans = self.coverage.spans(self.start_time, self.end)
            if not spans:
                return FillResult(GapState.EXPIRED, 0.0, card_gone_message(self.coverage.oldest))
            first = spans[0][0]
            if first > self.start_time:
                lost = int((first - self.start_time).total_seconds())
                self.note = (
                    f"the camera's card holds footage from {_utc(first)}; "
                    f"the first {lost} s of this window are gone"
                )
                begin, seconds = first, self.seconds - lost
        recordings = None
        if self.coverage is not None:  # the window's own (the card was asked a wider one)
            until = self.end
            recordings = [r for r in self.coverage.recordings if r.end > begin and r.start < until]
        return self._begin(begin, seconds, download=download, recordings=recordings)

    def _begin(self, begin, seconds, *, download: bool, recordings=None) -> FillResult | None:
        self.fetch_start = begin
        if download:
            self.inner = self.download_job(
                start=begin, seconds=seconds, client=self.client, recordings=recordings
            )
        else:
            self.inner = self.replay_job(begin, seconds)
        return self._start_inner(self.inner)

    def _start_inner(self, inner: FillJob | DownloadJob) -> FillResult | None:
        try:
            early = inner.start()
        except ReplayUrlError as exc:
            early = FillResult(GapState.FAILED, 0.0, f"no replay URL can be built: {exc}")
        except OSError as exc:
            early = FillResult(
                GapState.FAILED, 0.0, self.masked(f"ffmpeg could not be started: {exc}")
            )
        except Exception as exc:  # anything else is this attempt's failure, not the worker's
            log.exception("gap %s: fill could not start", self.gap_id)
            early = FillResult(GapState.FAILED, 0.0, self.masked(f"fill could not start: {exc}"))
        if early is not None:
            self._early = self._adjust(early)
        return self._early

    def _should_fall_back(self) -> bool:
        """Auto mode: a download API that answers 404/501 hands the window to replay."""
        if self._fell_back or self.method != "auto" or not isinstance(self.inner, DownloadJob):
            return False
        if self.inner.unsupported is None:
            return False
        self._fell_back = True
        log.info(
            "gap %s: %s; replaying instead", self.gap_id, self.masked(str(self.inner.unsupported))
        )
        self.inner.result()  # removes what the download left
        self.inner = self.replay_job(self.fetch_start, self._fetch_seconds)
        self._start_inner(self.inner)
        return True

    @property
    def _fetch_seconds(self) -> int:
        return self.seconds - int((self.fetch_start - self.start_time).total_seconds())

    def abort(self) -> None:
        """End whatever runs now and remove its files."""
        with self._lock:
            self._aborted = True  # a card check still running starts nothing after this
            inner = self.inner
        if inner is not None:
            inner.abort()

    def stop_keeping(self, note: str) -> None:
        """End the fill now keeping what it copied (an operator's Stop); ``note`` says why.

        During the card check nothing has been copied: the fetch is simply never started.
        """
        with self._lock:
            inner = self.inner
            if inner is None:
                self._aborted = True
        if inner is None:
            return
        if isinstance(inner, FillJob):  # a replay's fragments on disk are footage
            inner.end(note)
        else:  # a download holds nothing usable before its cut
            inner.abort()

    def error_tail(self) -> str:
        return self.inner.error_tail() if self.inner else ""

    def result(self) -> FillResult:
        """The outcome for the whole window (a narrowed fetch reports ``partial``)."""
        if self._early is not None:
            return self._early
        if self.inner is None:
            return FillResult(GapState.FAILED, 0.0, "the fill ended before it could start")
        return self._adjust(self.inner.result())

    def _adjust(self, result: FillResult) -> FillResult:
        if result.outcome == "unsupported":
            return FillResult(GapState.FAILED, 0.0, result.error)
        if not self.note:
            return result
        detail = "; ".join(filter(None, [self.note, result.error]))
        if result.outcome in (GapState.FILLED, GapState.PARTIAL):
            return replace(result, outcome=GapState.PARTIAL, error=detail)
        return replace(result, error=detail)

    @property
    def card_oldest(self) -> datetime | None:
        """Where the card's footage starts, when the card answered."""
        return self.coverage.oldest if self.coverage is not None else None
