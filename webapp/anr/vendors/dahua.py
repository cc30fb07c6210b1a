"""Dahua HTTP API: ``mediaFileFind.cgi`` finds the card's files, ``RPC_Loadfile`` downloads one.

Dahua speaks the camera's local time (``2026-06-13 12:00:00``), so the camera's timezone is
needed both ways.
"""

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from urllib.parse import quote
from zoneinfo import ZoneInfo

import requests

from .base import Recording
from .base import Refused
from .base import VendorClient
from .base import VendorError

FIND_PATH = "/cgi-bin/mediaFileFind.cgi"
LOADFILE_PATH = "/cgi-bin/RPC_Loadfile"
PAGE = 100
MAX_PAGES = 40
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def parse_lines(text: str) -> dict[str, str]:
    """``key=value`` lines (Dahua's answer format) as a dict; other lines are ignored."""
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    return values


def parse_found(text: str, timezone: str, asked: int = PAGE) -> list[Recording]:
    """The ``items[i].FilePath/StartTime/EndTime`` of a findNextFile answer; a ``found`` over
    the ``asked`` count is refused (the loop over it would be the camera's to size)."""
    values = parse_lines(text)
    try:
        count = int(values.get("found", "0"))
    except ValueError:
        raise VendorError("findNextFile answered no number of files found") from None
    if count > asked:
        raise Refused(
            f"findNextFile answered found={count:d}, more than the {asked} files asked for; refused"
        )
    zone = ZoneInfo(timezone)
    found = []
    for i in range(max(count, 0)):
        path = values.get(f"items[{i}].FilePath", "")
        try:
            begin = datetime.strptime(values.get(f"items[{i}].StartTime", ""), TIME_FORMAT)
            end = datetime.strptime(values.get(f"items[{i}].EndTime", ""), TIME_FORMAT)
        except ValueError:
            continue
        begin = begin.replace(tzinfo=zone).astimezone(UTC)
        end = end.replace(tzinfo=zone).astimezone(UTC)
        if path and end > begin:
            found.append(Recording(begin, end, path))
    return found


class DahuaClient(VendorClient):
    """mediaFileFind on one channel (Dahua channels count from 1 in the condition)."""

    vendor = "dahua"
    can_download = True

    def local(self, value: datetime) -> str:
        """``value`` in the camera's local time, Dahua's format."""
        return value.astimezone(ZoneInfo(self.timezone)).strftime(TIME_FORMAT)

    def _find(self, start: datetime, end: datetime, limit: int) -> list[Recording]:
        created = self.request("GET", FIND_PATH, params={"action": "factory.create"})
        finder = parse_lines(created.text).get("result", "")
        if not finder:
            raise VendorError("mediaFileFind factory.create answered no finder object")
        found: list[Recording] = []
        try:
            condition = {
                "action": "findFile",
                "object": finder,
                "condition.Channel": str(self.channel),
                "condition.StartTime": self.local(start),
                "condition.EndTime": self.local(end),
            }
            answer = self.request("GET", FIND_PATH, params=condition).text.strip()
            if answer.upper() != "OK":
                return []  # "Error" here is how Dahua says no file matches
            limit = min(limit, self.max_items)
            for _ in range(MAX_PAGES):
                self.check_cancel()
                count = min(PAGE, limit - len(found))
                params = {"action": "findNextFile", "object": finder, "count": str(count)}
                answer = self.request("GET", FIND_PATH, params=params).text
                page = parse_found(answer, self.timezone, count)
                found += page
                if len(page) < count or len(found) >= limit:
                    break
        finally:
            for action in ("close", "destroy"):
                try:
                    self.request("GET", FIND_PATH, params={"action": action, "object": finder})
                except VendorError:
                    pass  # the finder times out on the camera anyway
        return found

    def recordings(self, start: datetime, end: datetime) -> list[Recording]:
        """The channel's files overlapping [start, end), oldest first."""
        found = self._find(start, end, PAGE * MAX_PAGES)
        return sorted((r for r in found if r.end > start and r.start < end), key=lambda r: r.start)

    def oldest(self) -> datetime | None:
        """Start of the oldest file on the channel."""
        first = self._find(EARLIEST, datetime.now(UTC) + timedelta(days=1), 1)
        return first[0].start if first else None

    def open_download(self, recording: Recording) -> requests.Response:
        """GET ``/cgi-bin/RPC_Loadfile/<FilePath>`` (the path percent-encoded, slashes kept)."""
        path = LOADFILE_PATH + quote(recording.ref if recording.ref.startswith("/") else
                                     "/" + recording.ref, safe="/")  # fmt: skip
        return self.request("GET", path, stream=True)
