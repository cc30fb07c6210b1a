"""The one time parser (webapp.domain.times): input, stored text, clock times, camera-local text."""

from datetime import UTC
from datetime import datetime
from datetime import time
from zoneinfo import ZoneInfo

from webapp.anr.vendors.hikvision import _parse_time as hikvision_time
from webapp.devtools.simvendor import _iso
from webapp.domain.claim_order import parse_fill_window
from webapp.domain.times import parse_time
from webapp.domain.times import parse_time_of_day
from webapp.domain.times import stored_time

NOON = datetime(2026, 6, 13, 12, 0, tzinfo=UTC)


def test_parse_time_reads_z_offsets_and_naive_in_the_given_zone():
    assert parse_time("2026-06-13T12:00:00Z") == NOON
    assert parse_time("2026-06-13T14:00:00+02:00") == NOON
    assert parse_time("2026-06-13T12:00:00") == NOON
    assert parse_time("2026-06-13T14:00:00", ZoneInfo("Europe/Berlin")) == NOON
    assert parse_time("noon") is None and parse_time("") is None and parse_time(None) is None


def test_stored_time_reads_driver_text_and_converts_a_foreign_offset():
    assert stored_time("2026-06-13 12:00:00.000000") == NOON
    assert stored_time(datetime(2026, 6, 13, 12, 0)) == NOON
    # Text with its own offset is converted, not relabelled as UTC.
    assert stored_time("2026-06-13 14:00:00+02:00") == NOON


def test_clock_times_and_the_fill_window():
    assert parse_time_of_day("22:00") == time(22, 0)
    assert parse_time_of_day("25:00") is None and parse_time_of_day("") is None
    assert parse_fill_window("22:00-06:00") == (time(22, 0), time(6, 0))
    assert parse_fill_window("22:00-late") is None


def test_camera_text_without_an_offset_is_the_cameras_local_time():
    assert hikvision_time("2026-06-13T12:00:00Z", "Europe/Berlin") == NOON
    assert hikvision_time("2026-06-13T14:00:00", "Europe/Berlin") == NOON
    assert hikvision_time("garbage", "Europe/Berlin") is None
    assert _iso("2026-06-13T12:00:00Z") == NOON
