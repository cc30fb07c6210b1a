"""The one keyset cursor codec (webapp.domain.paging): round trips and tampered cursors, in the
codec and through the real routes that page by it (cameras, a camera's gaps, the queue, pages)."""

import base64
from datetime import datetime
from datetime import timedelta
from datetime import timezone
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest

from tests.factories import BASE_TIME
from tests.factories import make_camera
from tests.factories import make_gap
from tests.factories import make_gaps
from tests.page import page
from webapp.domain.errors import BadParameter
from webapp.domain.paging import CURSOR_REFUSED
from webapp.domain.paging import decode_cursor
from webapp.domain.paging import encode_cursor
from webapp.models import utcnow

WHEN = datetime(2026, 6, 13, 12, 0, 0, 250000, tzinfo=timezone.utc)


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _before(link_header: str, rel: str = "next") -> str:
    """The ``before`` argument of the Link header's ``rel`` URL."""
    for part in link_header.split(","):
        if f'rel="{rel}"' in part:
            url = part[part.index("<") + 1 : part.index(">")]
            return parse_qs(urlsplit(url).query)["before"][0]
    raise AssertionError(f"no {rel} link in {link_header!r}")


def test_codec_round_trips_times_text_ints_and_none():
    raw = encode_cursor("n", 2, WHEN, None, "cam|7/ä")
    assert "=" not in raw and "+" not in raw and "/" not in raw
    assert decode_cursor(raw, str, int, datetime, datetime | None, str) == (
        "n",
        2,
        WHEN,
        None,
        "cam|7/ä",
    )
    assert decode_cursor(None, str) is None and decode_cursor("", str) is None
    # The text format is the one the three codecs wrote before: their cursors stay valid.
    assert decode_cursor(_b64("2026-06-13T12:00:00Z|g1"), datetime, str) == (
        BASE_TIME,
        "g1",
    )


@pytest.mark.parametrize(
    "raw",
    [
        "%%%",  # not base64
        _b64("2026-06-13T12:00:00Z"),  # a field short
        _b64("2026-06-13T12:00:00Z|g1|extra"),  # a field too many
        _b64("yesterday|g1"),  # not a time
        _b64("2026-06-13T12:00:00Z|"),  # no id
        _b64("|g1"),  # a time that may not be empty
        base64.urlsafe_b64encode(b"\xff\xfe|g1").decode(),  # not UTF-8
    ],
)
def test_codec_refuses_a_tampered_cursor_with_what_to_do(raw):
    with pytest.raises(BadParameter) as refused:
        decode_cursor(raw, datetime, str)
    assert refused.value.slug == "invalid_cursor"
    assert str(refused.value) == CURSOR_REFUSED
    assert "without before" in CURSOR_REFUSED  # says how to recover


def test_codec_refuses_a_bad_int():
    for text in ("x|1", "1.5|1", "|1"):
        with pytest.raises(BadParameter):
            decode_cursor(_b64(text), int, int)


def _refused(resp):
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert resp.json["code"] == "invalid_cursor"
    assert resp.json["error"] == CURSOR_REFUSED


def test_cameras_api_cursor_round_trip_and_tampering(db, login_as):
    for n in range(5):
        make_camera(f"cam{n}")
    viewer = login_as("viewer")
    first = viewer.get("/api/v1/cameras?limit=2")
    cursor = _before(first.headers["Link"])
    second = viewer.get("/api/v1/cameras", query_string={"limit": 2, "before": cursor})
    assert second.status_code == 200
    seen = [c["id"] for c in first.json + second.json]
    assert len(set(seen)) == 4
    back = viewer.get(
        "/api/v1/cameras",
        query_string={"limit": 2, "before": _before(second.headers["Link"], "prev")},
    )
    assert [c["id"] for c in back.json] == [c["id"] for c in first.json]

    text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    direction, attention, stamp, camera_id = text.split("|")
    for tampered in (
        _b64(f"x|{attention}|{stamp}|{camera_id}"),  # no such direction
        _b64(f"{direction}|many|{stamp}|{camera_id}"),
        _b64(f"{direction}|{attention}|{stamp}"),
    ):
        _refused(viewer.get("/api/v1/cameras", query_string={"before": tampered}))


def test_gaps_api_cursor_round_trip_and_tampering(db, login_as):
    make_camera("cam1")
    make_gaps("cam1", 5)
    viewer = login_as("viewer")
    url = "/api/v1/cameras/cam1/recording-gaps"
    first = viewer.get(url, query_string={"limit": 3})
    cursor = _before(first.headers["Link"])
    rest = viewer.get(url, query_string={"limit": 3, "before": cursor})
    assert len(first.json) == 3 and len(rest.json) == 2
    assert not {g["id"] for g in first.json} & {g["id"] for g in rest.json}
    _refused(viewer.get(url, query_string={"before": cursor + "|"}))
    _refused(viewer.get(url, query_string={"before": _b64("2026-13-45T00:00:00Z|x")}))


def test_queue_api_cursor_round_trip_and_tampering(db, login_as):
    make_camera("a", anr_enabled=True)
    now = utcnow().replace(microsecond=0)
    for i in range(5):
        make_gap("a", now - timedelta(minutes=600 - i), 30)
    viewer = login_as("viewer")
    first = viewer.get("/api/v1/queue?limit=3")
    cursor = _before(first.headers["Link"])
    rest = viewer.get("/api/v1/queue", query_string={"limit": 3, "before": cursor})
    assert [g["position"] for g in rest.json["queued"]] == [4, 5]

    text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    manual, stamp, gap_id, position = text.split("|")
    for tampered in (
        _b64(f"2|{stamp}|{gap_id}|{position}"),  # manual is 0 or 1
        _b64(f"{manual}|{stamp}|{gap_id}|-3"),  # no position before the first
        _b64(f"{manual}|{stamp}|{gap_id}"),
    ):
        _refused(viewer.get("/api/v1/queue", query_string={"before": tampered}))


@pytest.mark.parametrize("url", ["/cameras", "/cameras/cam1/gaps", "/queue"])
def test_pages_refuse_a_tampered_cursor_saying_what_to_do(db, login_as, url):
    make_camera("cam1")
    resp = login_as("viewer").get(url, query_string={"before": _b64("n|x|y")})
    assert resp.status_code == 400
    assert "open the first page again without before" in page(resp.get_data(as_text=True)).text
