"""The simulated camera's vendor APIs: Hikvision ISAPI search/download and Dahua's file API.

The "card" records continuously in blocks (``block_seconds``, aligned to the epoch) from its
oldest footage up to now; a block is rendered by ffmpeg when first asked for and cached. Both
APIs demand HTTP Digest auth when the camera has credentials. Per channel (a channel is one
camera on this simulated recorder) the card can be told where its oldest footage starts, to
refuse the APIs (404/501, as cameras without them do) and to send at most ``rate_kbps``.
"""

import hashlib
import logging
import secrets
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import asdict
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import quote
from urllib.parse import unquote
from urllib.parse import urlsplit
from urllib.request import parse_http_list
from urllib.request import parse_keqv_list
from xml.etree.ElementTree import Element
from xml.etree.ElementTree import SubElement
from xml.etree.ElementTree import tostring
from zoneinfo import ZoneInfo

from ..anr.vendors import xmlsafe
from ..anr.vendors.hikvision import ISAPI_NS
from ..anr.vendors.hikvision import isapi_time
from ..anr.vendors.ratelimit import TokenBucket
from ..domain.times import parse_time
from ..domain.vendors import registry
from .footage import render_footage

log = logging.getLogger(__name__)

REALM = "SimCam"
DEFAULT_HOLD = timedelta(days=30)  # how far back a card reaches unless told otherwise
CACHED_FILES = 48
SEND_CHUNK = 256 * 1024
DAHUA_TIME = "%Y-%m-%d %H:%M:%S"


@dataclass
class Card:
    """One channel's card: ``oldest`` footage (None: ``DEFAULT_HOLD`` back), its timezone (Dahua
    paths and times are local), ``refuse`` (HTTP status for every vendor call, 0 = answer),
    ``refuse_download`` (the same for downloads only) and ``rate_kbps`` (0 = loopback speed)."""

    oldest: datetime | None = None
    timezone: str = "UTC"
    refuse: int = 0
    refuse_download: int = 0
    rate_kbps: float = 0.0


class VendorApi:
    """Answers the vendor endpoints for a SimCam; ``handle`` says whether it took the request."""

    def __init__(self, cam, credentials: tuple[str, str] | None = None, block_seconds: int = 600):
        self.cam = cam
        self.credentials = credentials
        self.block_seconds = int(block_seconds)
        self.cards: dict[int, Card] = {}
        self.calls: list[tuple[str, int]] = []  # (endpoint, channel): what the tests assert on
        self._lock = threading.Lock()
        self._nonces: set[str] = set()
        self._finders: dict[str, dict] = {}
        self._cache: OrderedDict[tuple[int, int], Path] = OrderedDict()
        self._render_locks: dict[tuple[int, int], threading.Lock] = {}
        self._dir = tempfile.TemporaryDirectory(prefix="simcam-card-")

    # --- settings -------------------------------------------------------------------------
    def card(self, channel: int) -> Card:
        """How ``channel``'s card answers now."""
        with self._lock:
            return self.cards.get(channel) or Card()

    def set_card(self, channel: int, **fields) -> Card:
        """Change ``channel``'s card (fields of Card; ``oldest`` may be an ISO string)."""
        if isinstance(fields.get("oldest"), str):
            fields["oldest"] = _iso(fields["oldest"])
        with self._lock:
            current = self.cards.get(channel) or Card()
            card = Card(**{**asdict(current), **fields})
            ZoneInfo(card.timezone)  # an unknown zone fails here, not in a request
            self.cards[channel] = card
        return card

    def close(self) -> None:
        """Remove the rendered card files."""
        self._dir.cleanup()

    # --- the card -------------------------------------------------------------------------
    def held_from(self, card: Card) -> datetime:
        """Where the card's footage starts."""
        oldest = card.oldest or datetime.now(UTC) - DEFAULT_HOLD
        return oldest.astimezone(UTC).replace(microsecond=0)

    def blocks(
        self, card: Card, start: datetime, end: datetime
    ) -> Iterator[tuple[datetime, datetime]]:
        """(start, end) of every recording overlapping [start, end), oldest first (lazily)."""
        now = datetime.now(UTC).replace(microsecond=0)
        lo = max(start, self.held_from(card))
        hi = min(end, now)
        size = self.block_seconds
        edge = int(lo.timestamp()) // size * size
        while edge < hi.timestamp():
            block_start = max(datetime.fromtimestamp(edge, UTC), self.held_from(card))
            block_end = min(datetime.fromtimestamp(edge + size, UTC), now)
            if block_end > block_start:
                yield block_start, block_end
            edge += size

    def footage(self, start: datetime, end: datetime) -> Path:
        """The MP4 of one recording, rendered once and kept (a bounded cache)."""
        key = (int(start.timestamp()), int((end - start).total_seconds()))
        with self._lock:
            lock = self._render_locks.setdefault(key, threading.Lock())
        with lock:
            with self._lock:
                if key in self._cache and self._cache[key].exists():
                    self._cache.move_to_end(key)
                    return self._cache[key]

            path = Path(self._dir.name) / f"{key[0]}_{key[1]}.mp4"
            render_footage(start, key[1], path, self.cam.ffmpeg)
            with self._lock:
                self._cache[key] = path
                while len(self._cache) > CACHED_FILES:
                    _, old = self._cache.popitem(last=False)
                    old.unlink(missing_ok=True)
        return path

    def prerender(self, start: datetime, end: datetime, channel: int = 1) -> None:
        """Render the recordings covering [start, end) now (the demo warms its card)."""
        for begin, finish in self.blocks(self.card(channel), start, end):
            self.footage(begin, finish)

    # --- HTTP -----------------------------------------------------------------------------
    def handle(self, handler, method: str) -> bool:
        """Serve the request if it is a vendor endpoint; False leaves it to the caller."""
        path = urlsplit(handler.path).path
        endpoint: Callable[[object, bytes], None] | None = None
        # Each vendor's dialect, served for the vendors the registry declares able to download.
        dialects: dict[str, list[tuple[str, str, Callable[[object, bytes], None]]]] = {
            "hikvision": [
                ("POST", "/ISAPI/ContentMgmt/search", self._isapi_search),
                ("GET", "/ISAPI/ContentMgmt/download", self._isapi_download),
            ],
            "dahua": [
                ("GET", "/cgi-bin/mediaFileFind.cgi", self._dahua_find),
                ("GET", "/cgi-bin/RPC_Loadfile/", self._dahua_load),
            ],
        }
        for name, declared in registry().items():
            routes = dialects.get(name, []) if declared.can_download else []
            for verb, prefix, answer in routes:
                exact = not prefix.endswith("/")
                if verb == method and (path == prefix if exact else path.startswith(prefix)):
                    endpoint = answer
        if endpoint is None:
            return False
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""  # read even when refusing
        if not self.authorized(handler, method):
            return True
        try:
            endpoint(handler, body)
        except (ValueError, KeyError) as exc:
            _send(handler, 400, f"bad request: {exc}".encode(), "text/plain")
        except (BrokenPipeError, ConnectionResetError):
            log.info("simcam client went away during a download")
        return True

    def authorized(self, handler, method: str) -> bool:
        """True for a request with the camera's Digest credentials (or none needed); else 401."""
        credentials = self.credentials
        if not credentials:
            return True
        header = handler.headers.get("Authorization", "")
        if header[:7].lower() == "digest " and self._digest_ok(header[7:], method, credentials):
            return True
        nonce = secrets.token_hex(16)
        with self._lock:
            self._nonces.add(nonce)
        challenge = (
            f'Digest realm="{REALM}", qop="auth", nonce="{nonce}", '
            f'opaque="{secrets.token_hex(8)}", algorithm=MD5'
        )
        _send(handler, 401, b"Unauthorized", "text/plain", {"WWW-Authenticate": challenge})
        return False

    def _digest_ok(self, raw: str, method: str, credentials: tuple[str, str]) -> bool:
        fields = parse_keqv_list(parse_http_list(raw))
        user, password = credentials
        with self._lock:
            known = fields.get("nonce") in self._nonces
        if not known or fields.get("username") != user or fields.get("realm") != REALM:
            return False

        def md5(text: str) -> str:
            return hashlib.md5(text.encode()).hexdigest()  # noqa: S324  (Digest is MD5)

        ha1 = md5(f"{user}:{REALM}:{password}")
        ha2 = md5(f"{method}:{fields.get('uri', '')}")
        if fields.get("qop") == "auth":
            parts = [ha1, fields["nonce"], fields.get("nc", ""), fields.get("cnonce", ""), "auth"]
            expected = md5(":".join(parts + [ha2]))
        else:
            expected = md5(f"{ha1}:{fields['nonce']}:{ha2}")
        return secrets.compare_digest(expected, fields.get("response", ""))

    def _refused(self, handler, card: Card, download: bool) -> bool:
        status = card.refuse or (card.refuse_download if download else 0)
        if status:
            _send(handler, status, b"Not supported", "text/plain")
        return bool(status)

    # --- Hikvision ISAPI ------------------------------------------------------------------
    def _isapi_search(self, handler, body: bytes) -> None:
        root = xmlsafe.parse(body)
        track = int(xmlsafe.text(root, "trackList", "trackID") or "101")
        channel = track // 100
        self.calls.append(("isapi-search", channel))
        card = self.card(channel)
        if self._refused(handler, card, False):
            return
        span = xmlsafe.child(xmlsafe.child(root, "timeSpanList"), "timeSpan")
        start = _iso(xmlsafe.text(span, "startTime"))
        end = _iso(xmlsafe.text(span, "endTime"))
        first = int(xmlsafe.text(root, "searchResultPostion") or 0)
        limit = max(1, min(int(xmlsafe.text(root, "maxResults") or 40), 400))
        matches: list[tuple[datetime, datetime]] = []
        more = False
        for i, block in enumerate(self.blocks(card, start, end)):
            if i < first:
                continue
            if len(matches) == limit:
                more = True
                break
            matches.append(block)
        result = Element("CMSearchResult", {"version": "2.0", "xmlns": ISAPI_NS})
        SubElement(result, "searchID").text = xmlsafe.text(root, "searchID")
        SubElement(result, "responseStatus").text = "true"
        status = "MORE" if more else ("OK" if matches else "NO MATCHES")
        SubElement(result, "responseStatusStrg").text = status
        SubElement(result, "numOfMatches").text = str(len(matches))
        listing = SubElement(result, "matchList")
        host = handler.server.server_address[0]
        for begin, finish in matches:
            item = SubElement(listing, "searchMatchItem")
            SubElement(item, "sourceID").text = "{0000000000-0000-0000-0000-000000000000}"
            SubElement(item, "trackID").text = str(track)
            times = SubElement(item, "timeSpan")
            SubElement(times, "startTime").text = isapi_time(begin)
            SubElement(times, "endTime").text = isapi_time(finish)
            media = SubElement(item, "mediaSegmentDescriptor")
            SubElement(media, "contentType").text = "video"
            SubElement(media, "codecType").text = "H.264-BP"
            SubElement(media, "playbackURI").text = (
                f"rtsp://{host}/Streaming/tracks/{track}/?starttime={_compact(begin)}"
                f"&endtime={_compact(finish)}&name=ch{channel:02d}_{int(begin.timestamp())}"
            )
            meta = SubElement(SubElement(item, "metadataMatches"), "metadataDescriptor")
            meta.text = "recordType.meta.hikvision.com/timing"
        data = b'<?xml version="1.0" encoding="UTF-8"?>\n' + tostring(result)
        _send(handler, 200, data, "application/xml")

    def _isapi_download(self, handler, body: bytes) -> None:
        root = xmlsafe.parse(body)
        uri = urlsplit(xmlsafe.text(root, "playbackURI"))
        track = int(uri.path.rstrip("/").rsplit("/", 1)[-1])
        channel = track // 100
        self.calls.append(("isapi-download", channel))
        card = self.card(channel)
        if self._refused(handler, card, True):
            return
        query = parse_qs(uri.query)
        start = _from_compact(query["starttime"][0])
        end = _from_compact(query["endtime"][0])
        self._send_recording(handler, card, start, end)

    # --- Dahua ----------------------------------------------------------------------------
    def _dahua_find(self, handler, _body: bytes) -> None:
        query = {k: v[0] for k, v in parse_qs(urlsplit(handler.path).query).items()}
        action = query.get("action", "")
        if action == "factory.create":
            finder = str(secrets.randbelow(10**9))
            with self._lock:
                self._finders[finder] = {}
            return _send(handler, 200, f"result={finder}\r\n".encode(), "text/plain")
        with self._lock:
            state = self._finders.get(query.get("object", ""))
        if state is None:
            return _send(handler, 400, b"Error\r\n", "text/plain")
        if action == "findFile":
            channel = int(query["condition.Channel"])
            self.calls.append(("dahua-find", channel))
            card = self.card(channel)
            if self._refused(handler, card, False):
                return None
            zone = ZoneInfo(card.timezone)
            start = _local(query["condition.StartTime"], zone)
            end = _local(query["condition.EndTime"], zone)
            state.update(channel=channel, found=self.blocks(card, start, end), zone=zone)
            return _send(handler, 200, b"OK\r\n", "text/plain")
        if action == "findNextFile":
            count = max(1, min(int(query.get("count", "100")), 100))
            items = []
            for begin, finish in state.get("found") or ():
                items.append((begin, finish))
                if len(items) == count:
                    break
            lines = [f"found={len(items)}"]
            zone, channel = state.get("zone", ZoneInfo("UTC")), state.get("channel", 1)
            for i, (begin, finish) in enumerate(items):
                lo, hi = begin.astimezone(zone), finish.astimezone(zone)
                lines += [
                    f"items[{i}].Channel={channel - 1}",
                    f"items[{i}].StartTime={lo.strftime(DAHUA_TIME)}",
                    f"items[{i}].EndTime={hi.strftime(DAHUA_TIME)}",
                    f"items[{i}].FilePath={_dahua_path(channel, lo, hi)}",
                    f"items[{i}].Type=dav",
                    f"items[{i}].VideoStream=Main",
                ]
            return _send(handler, 200, ("\r\n".join(lines) + "\r\n").encode(), "text/plain")
        if action in ("close", "destroy"):
            if action == "destroy":
                with self._lock:
                    self._finders.pop(query.get("object", ""), None)
            return _send(handler, 200, b"OK\r\n", "text/plain")
        return _send(handler, 400, b"Error\r\n", "text/plain")

    def _dahua_load(self, handler, _body: bytes) -> None:
        path = unquote(urlsplit(handler.path).path[len("/cgi-bin/RPC_Loadfile") :])
        channel, day, span = _parse_dahua_path(path)
        self.calls.append(("dahua-load", channel))
        card = self.card(channel)
        if self._refused(handler, card, True):
            return
        zone = ZoneInfo(card.timezone)
        first, last = span.split("[", 1)[0].split("-")
        start = _local(f"{day} {first.replace('.', ':')}", zone)
        end = _local(f"{day} {last.replace('.', ':')}", zone)
        if end <= start:  # the file runs past midnight
            end = _local(f"{day} {last.replace('.', ':')}", zone) + timedelta(days=1)
        self._send_recording(handler, card, start, end)

    # --- sending --------------------------------------------------------------------------
    def _send_recording(self, handler, card: Card, start: datetime, end: datetime) -> None:
        if start < self.held_from(card) or end <= start:
            _send(handler, 404, b"No such recording", "text/plain")
            return
        path = self.footage(start, end)
        bucket = TokenBucket(card.rate_kbps) if card.rate_kbps > 0 else None
        chunk_size = SEND_CHUNK if bucket is None else 16 * 1024  # small steps keep a cap smooth
        handler.send_response(200)
        handler.send_header("Content-Type", "video/mp4")
        handler.send_header("Content-Length", str(path.stat().st_size))
        handler.end_headers()
        with path.open("rb") as fh:
            while chunk := fh.read(chunk_size):
                if bucket is not None:
                    bucket.take(len(chunk))
                if self.cam.wait_closing(0):
                    return
                handler.wfile.write(chunk)


def _send(handler, status: int, data: bytes, kind: str, headers: dict | None = None) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", kind)
    handler.send_header("Content-Length", str(len(data)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(data)


def _iso(raw: str | None) -> datetime:
    """An ISO time the test asked for (UTC without an offset); ValueError when it is none."""
    value = parse_time(raw)
    if value is None:
        raise ValueError(f"{raw!r} is not an ISO time")
    return value


def _compact(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _from_compact(raw: str) -> datetime:
    return datetime.strptime(raw, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def _local(raw: str, zone: ZoneInfo) -> datetime:
    return datetime.strptime(raw, DAHUA_TIME).replace(tzinfo=zone).astimezone(UTC)


def _dahua_path(channel: int, start: datetime, end: datetime) -> str:
    """A Dahua card path: ``/mnt/sd/<day>/<channel>/dav/<hour>/<from>-<to>[R][0@0][0].dav``."""
    span = f"{start:%H.%M.%S}-{end:%H.%M.%S}"
    return f"/mnt/sd/{start:%Y-%m-%d}/{channel:03d}/dav/{start:%H}/{span}[R][0@0][0].dav"


def _parse_dahua_path(path: str) -> tuple[int, str, str]:
    parts = path.strip("/").split("/")
    if len(parts) != 7 or parts[:2] != ["mnt", "sd"] or parts[4] != "dav":
        raise ValueError(f"no such file {quote(path)}")
    return int(parts[3]), parts[2], parts[6]
