"""Replay URLs: placeholders, vendor defaults, allowed schemes, credentials encoded and masked."""

from datetime import UTC
from datetime import datetime

import pytest

from webapp.anr.replay import PLACEHOLDERS
from webapp.anr.replay import ReplayUrlError
from webapp.anr.replay import build_replay_url
from webapp.anr.replay import check_template
from webapp.anr.replay import masked

START = datetime(2026, 6, 13, 12, 0, 0, tzinfo=UTC)
END = datetime(2026, 6, 13, 12, 5, 0, tzinfo=UTC)


def _url(**kw):
    args = dict(
        vendor="generic",
        template=None,
        address="cam.local",
        rtsp_port=554,
        channel=2,
        username="",
        password="",
        start=START,
        end=END,
    )
    args.update(kw)
    return build_replay_url(**args)


def test_every_placeholder_is_filled():
    template = "http://cam.local/r?" + "&".join(f"{name}={{{name}}}" for name in PLACEHOLDERS)
    url = _url(template=template)
    assert url == (
        "http://cam.local/r?start=20260613T120000Z&end=20260613T120500Z"
        "&start_iso=2026-06-13T12:00:00Z&end_iso=2026-06-13T12:05:00Z"
        "&start_dahua=2026_06_13_12_00_00&end_dahua=2026_06_13_12_05_00"
        "&start_utc=20260613T120000Z&end_utc=20260613T120500Z"
        "&start_local=20260613T120000&end_local=20260613T120500"
        "&start_epoch=1781352000&end_epoch=1781352300"
        "&seconds=300&channel=2"
        "&address=cam.local&rtsp_port=554&http_port=80"
    )


def test_a_local_clock_renders_the_camera_wall_time_and_utc_stays_available():
    template = "http://cam.local/r?" + "&".join(f"{name}={{{name}}}" for name in PLACEHOLDERS)
    url = _url(template=template, clock="local", timezone="Europe/Berlin")  # UTC+2 in June
    assert url == (
        "http://cam.local/r?start=20260613T140000&end=20260613T140500"
        "&start_iso=2026-06-13T14:00:00&end_iso=2026-06-13T14:05:00"
        "&start_dahua=2026_06_13_14_00_00&end_dahua=2026_06_13_14_05_00"
        "&start_utc=20260613T120000Z&end_utc=20260613T120500Z"
        "&start_local=20260613T140000&end_local=20260613T140500"
        "&start_epoch=1781352000&end_epoch=1781352300"
        "&seconds=300&channel=2"
        "&address=cam.local&rtsp_port=554&http_port=80"
    )
    # The Dahua default in local time; a UTC clock on a Berlin camera still sends UTC.
    assert _url(vendor="dahua", clock="local", timezone="Europe/Berlin").endswith(
        "&starttime=2026_06_13_14_00_00&endtime=2026_06_13_14_05_00"
    )
    assert _url(vendor="hikvision", timezone="Europe/Berlin").endswith(
        "starttime=20260613T120000Z&endtime=20260613T120500Z"
    )


def test_vendor_defaults_for_hikvision_and_dahua():
    assert _url(vendor="hikvision") == (
        "rtsp://cam.local:554/Streaming/tracks/201?starttime=20260613T120000Z"
        "&endtime=20260613T120500Z"
    )
    assert _url(vendor="dahua", rtsp_port=10554) == (
        "rtsp://cam.local:10554/cam/playback?channel=2&subtype=0"
        "&starttime=2026_06_13_12_00_00&endtime=2026_06_13_12_05_00"
    )
    with pytest.raises(ReplayUrlError, match="vendor 'axis' has no default"):
        _url(vendor="axis")


def test_credentials_go_percent_encoded_into_the_user_info_and_are_masked():
    url = _url(vendor="hikvision", username="op@site", password="p:w/d@1")
    assert url.startswith("rtsp://op%40site:p%3Aw%2Fd%401@cam.local:554/")
    shown = masked(url)
    assert shown.startswith("rtsp://***@cam.local:554/")
    assert "p%3Aw" not in shown and "op%40site" not in shown
    # A template that brings its own user-info keeps it as written.
    own = _url(template="rtsp://viewer@cam.local/x?s={start}", username="op", password="pw")
    assert own.startswith("rtsp://viewer@cam.local/")


@pytest.mark.parametrize(
    "template, problem",
    [
        ("ftp://cam.local/{start}", "must start with one of"),
        ("file:///etc/passwd", "must start with one of"),
        ("rtsp://cam.local/a b", "spaces or control characters"),
        ("rtsp://cam.local/\n", "spaces or control characters"),
        ("rtsp://cam.local/{nope}", "unknown placeholder {nope}"),
        ("rtsp://cam.local/{start", "unbalanced"),
    ],
)
def test_unacceptable_templates_are_refused(template, problem):
    assert problem in check_template(template)
    with pytest.raises(ReplayUrlError):
        _url(template=template)
