"""Hikvision ISAPI: ``ContentMgmt/search`` lists the card's recordings, ``ContentMgmt/download``
fetches one by its ``playbackURI`` (Digest auth throughout)."""

import uuid
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from xml.etree.ElementTree import Element
from xml.etree.ElementTree import SubElement
from xml.etree.ElementTree import tostring

import requests

from ...domain.times import parse_time
from ...domain.times import zone
from . import xmlsafe
from .base import MAX_ITEMS
from .base import Recording
from .base import Refused
from .base import VendorClient
from .base import VendorError

ISAPI_NS = "http://www.isapi.org/ver20/XMLSchema"
SEARCH_PATH = "/ISAPI/ContentMgmt/search"
DOWNLOAD_PATH = "/ISAPI/ContentMgmt/download"
PAGE = 50  # matches per search request; the camera answers MORE while there are others
MAX_PAGES = 40
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)  # "from the beginning" for the oldest-footage query


def isapi_time(value: datetime) -> str:
    """``2026-06-13T12:00:00Z``: the form ISAPI search takes."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def search_body(search_id: str, track: int, start: datetime, end: datetime, first: int,
                max_results: int) -> bytes:  # fmt: skip
    """A ``CMSearchDescription`` for one track and window, results from position ``first``."""
    root = Element("CMSearchDescription", {"version": "2.0", "xmlns": ISAPI_NS})
    SubElement(root, "searchID").text = search_id
    tracks = SubElement(root, "trackList")
    SubElement(tracks, "trackID").text = str(track)
    span = SubElement(SubElement(root, "timeSpanList"), "timeSpan")
    SubElement(span, "startTime").text = isapi_time(start)
    SubElement(span, "endTime").text = isapi_time(end)
    SubElement(root, "maxResults").text = str(max_results)
    SubElement(root, "searchResultPostion").text = str(first)  # sic: ISAPI's spelling
    meta = SubElement(root, "metadataList")
    SubElement(meta, "metadataDescriptor").text = "//recordType.meta.std-cgi.com"
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + tostring(root)


def download_body(playback_uri: str) -> bytes:
    """A ``downloadRequest`` naming one recording's ``playbackURI``."""
    root = Element("downloadRequest", {"version": "1.0", "xmlns": ISAPI_NS})
    SubElement(root, "playbackURI").text = playback_uri
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + tostring(root)


def parse_search_result(
    data: bytes, timezone: str = "UTC", max_items: int = MAX_ITEMS
) -> tuple[str, list[Recording]]:
    """(``responseStatusStrg``, recordings) of a ``CMSearchResult``; past ``max_items`` matches
    the answer is refused (a camera cannot hold more pieces than it was asked for)."""
    root = xmlsafe.parse(data)
    if xmlsafe.local(root.tag) != "CMSearchResult":
        raise VendorError(f"ISAPI search answered <{xmlsafe.local(root.tag)}>, not CMSearchResult")
    status = xmlsafe.text(root, "responseStatusStrg").upper()
    found = []
    items = xmlsafe.children(xmlsafe.child(root, "matchList"), "searchMatchItem")
    if len(items) > max_items:
        raise Refused(
            f"ISAPI search answered {len(items)} matches, more than {max_items} "
            "(ANR_CARD_MAX_ITEMS); refused"
        )
    for item in items:
        uri = xmlsafe.text(item, "mediaSegmentDescriptor", "playbackURI")
        begin = _parse_time(xmlsafe.text(item, "timeSpan", "startTime"), timezone)
        end = _parse_time(xmlsafe.text(item, "timeSpan", "endTime"), timezone)
        if uri and begin and end and end > begin:
            found.append(Recording(begin, end, uri))
    return status, found


def _parse_time(raw: str, timezone: str) -> datetime | None:
    """ISAPI times end in Z (UTC); firmwares that omit it send the camera's local time."""
    return parse_time(raw, naive_zone=zone(timezone))


class HikvisionClient(VendorClient):
    """ISAPI ContentMgmt on one channel (track ``channel * 100 + 1``, the main stream)."""

    vendor = "hikvision"
    can_download = True
    parallel_oldest = True  # each ISAPI search carries its own searchID

    @property
    def track(self) -> int:
        return self.channel * 100 + 1

    def _search(self, start: datetime, end: datetime, limit: int) -> list[Recording]:
        search_id = str(uuid.uuid4()).upper()
        found: list[Recording] = []
        limit = min(limit, self.max_items)
        for _ in range(MAX_PAGES):
            self.check_cancel()
            body = search_body(search_id, self.track, start, end, len(found), min(PAGE, limit))
            response = self.request(
                "POST", SEARCH_PATH, data=body, headers={"Content-Type": "application/xml"}
            )
            status, page = parse_search_result(response.content, self.timezone, PAGE)
            if status not in ("OK", "MORE", "NO MATCHES"):
                raise VendorError(f"ISAPI search answered responseStatusStrg {status or 'empty'}")
            found += page
            if status != "MORE" or not page or len(found) >= limit:
                break
        return found[:limit]

    def recordings(self, start: datetime, end: datetime) -> list[Recording]:
        """The track's recordings overlapping [start, end), oldest first."""
        found = self._search(start, end, PAGE * MAX_PAGES)
        return sorted((r for r in found if r.end > start and r.start < end), key=lambda r: r.start)

    def oldest(self) -> datetime | None:
        """Start of the first recording the track holds (one match from the beginning)."""
        first = self._search(EARLIEST, datetime.now(UTC) + timedelta(days=1), 1)
        return first[0].start if first else None

    def open_download(self, recording: Recording) -> requests.Response:
        """GET ``ContentMgmt/download`` with the recording's ``playbackURI`` in the body."""
        return self.request(
            "GET",
            DOWNLOAD_PATH,
            data=download_body(recording.ref),
            headers={"Content-Type": "application/xml"},
            stream=True,
        )
