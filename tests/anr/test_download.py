"""Download fills and the card check against the simulated camera's vendor APIs (real ffmpeg,
real Digest auth, real onvif-zeep-async against a SOAP double)."""

import time
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests import factories
from tests.anr.conftest import CAMERA_PASSWORD
from tests.anr.conftest import CAMERA_USER
from tests.anr.conftest import FAST_ENGINE
from tests.anr.conftest import archive_path
from tests.anr.conftest import background_worker
from tests.anr.conftest import gap_now
from tests.anr.conftest import playable_seconds
from tests.anr.conftest import recent
from tests.anr.conftest import run_worker
from tests.anr.conftest import sim_camera
from tests.anr.conftest import wait_for
from webapp.anr.vendors import client_for
from webapp.anr.vendors import xmlsafe
from webapp.anr.vendors.hikvision import parse_search_result
from webapp.devtools.onvif_double import OnvifDouble
from webapp.devtools.simcam import SimCam
from webapp.extensions import db
from webapp.models import Camera
from webapp.models import FillRun

WRONG_PASSWORD = "Wr0ng:p@ss/word"


def vendor_camera(cam, vendor: str, camera_id: str = "cam1", channel: int = 1, **fields):
    """A camera of ``vendor`` on the simulated camera's HTTP API (replay template kept too)."""
    fields.setdefault("timezone", "Asia/Tokyo" if vendor == "dahua" else "UTC")
    cam.vendor.set_card(channel, timezone=fields["timezone"])
    port = int(cam.url.rsplit(":", 1)[1])
    return sim_camera(cam, camera_id, vendor=vendor, http_port=port, channel=channel, **fields)


def minute_edge(minutes_ago: float) -> datetime:
    """A whole minute about ``minutes_ago`` back: windows then cross card files on purpose."""
    return recent(minutes_ago).replace(second=0)


@pytest.mark.parametrize("vendor", ["hikvision", "dahua"])
def test_download_fill_end_to_end(anr_app, anr_db, cardcam, vendor):
    vendor_camera(cardcam, vendor, channel=3)
    start = minute_edge(20) - timedelta(seconds=20)  # 40 s across two one-minute card files
    gap = factories.make_gap("cam1", start, seconds=40)

    run_worker(anr_app)

    gap = gap_now(gap.id)
    assert gap.fill_state == "filled", gap.last_error
    assert gap.fill_attempts == 1 and abs(gap.recovered_seconds - 40) <= 2
    path = archive_path(anr_app, "cam1", start)
    played = playable_seconds(path)
    assert played is not None and 39 <= played <= 41.5  # start rounded down to a keyframe
    folder = path.parent
    assert sorted(p.name for p in folder.iterdir()) == [path.name]  # no .part, .dl or list left
    endpoint = {"hikvision": "isapi-download", "dahua": "dahua-load"}[vendor]
    assert [c for c in cardcam.vendor.calls if c[0] == endpoint] == [(endpoint, 3)] * 2
    assert not cardcam.requests  # no replay was asked for
    camera = db.session.get(Camera, "cam1")
    assert camera.card_holds_from is not None and camera.card_checked_at is not None
    assert anr_db.session.execute(select(FillRun.outcome)).scalar_one() == "filled"


@pytest.mark.parametrize("vendor", ["hikvision", "dahua"])
def test_wrong_password_is_a_masked_counted_failure(anr_app, anr_db, cardcam, vendor):
    vendor_camera(cardcam, vendor, password=WRONG_PASSWORD, fill_method="download")
    gap = factories.make_gap("cam1", minute_edge(20), seconds=20)

    run_worker(anr_app)

    gap = gap_now(gap.id)
    assert gap.fill_state == "pending" and gap.fill_attempts == 1
    assert "refused the user name or password (HTTP 401)" in gap.last_error
    assert WRONG_PASSWORD not in gap.last_error and CAMERA_PASSWORD not in gap.last_error
    assert anr_db.session.execute(select(FillRun.outcome)).scalar_one() == "failed"
    assert not list(archive_path(anr_app, "cam1", gap.gap_start).parent.glob("*"))


@pytest.mark.parametrize(("refusal", "status"), [("refuse", 404), ("refuse_download", 501)])
def test_auto_falls_back_to_replay_when_the_api_is_missing(
    anr_app, anr_db, cardcam, refusal, status
):
    vendor_camera(cardcam, "hikvision")
    cardcam.vendor.set_card(1, **{refusal: status})
    gap = factories.make_gap("cam1", minute_edge(20), seconds=15)

    run_worker(anr_app)

    gap = gap_now(gap.id)
    assert gap.fill_state == "filled", gap.last_error
    assert gap.fill_attempts == 1
    assert list(cardcam.requests) == [("cam1", "ok")]  # the replay brought it back
    asked = {c[0] for c in cardcam.vendor.calls}
    assert ("isapi-download" in asked) == (refusal == "refuse_download")
    assert playable_seconds(archive_path(anr_app, "cam1", gap.gap_start)) == pytest.approx(15, 0.07)


def test_window_older_than_the_card_expires_without_an_attempt(anr_app, anr_db, cardcam):
    vendor_camera(cardcam, "dahua", timezone="Europe/Berlin")
    oldest = recent(10)
    cardcam.vendor.set_card(1, oldest=oldest)
    gap = factories.make_gap("cam1", recent(30), seconds=30)

    run_worker(anr_app)

    gap = gap_now(gap.id)
    assert gap.fill_state == "expired"
    assert gap.fill_attempts == 0
    assert gap.last_error == (
        f"the camera's card holds footage from {oldest:%Y-%m-%d %H:%M:%S} UTC; this window is gone"
    )
    assert not cardcam.requests and not [c for c in cardcam.vendor.calls if c[0] == "dahua-load"]
    assert db.session.get(Camera, "cam1").card_holds_from == oldest


def test_window_half_on_the_card_archives_the_held_half(anr_app, anr_db, cardcam):
    vendor_camera(cardcam, "hikvision")
    start = minute_edge(20) - timedelta(seconds=30)
    oldest = start + timedelta(seconds=20)
    cardcam.vendor.set_card(1, oldest=oldest)
    gap = factories.make_gap("cam1", start, seconds=40)

    run_worker(anr_app)

    gap = gap_now(gap.id)
    assert gap.fill_state == "partial", gap.last_error
    assert f"holds footage from {oldest:%Y-%m-%d %H:%M:%S} UTC" in gap.last_error
    assert "the first 20 s of this window are gone" in gap.last_error
    assert not archive_path(anr_app, "cam1", start).exists()
    held = playable_seconds(archive_path(anr_app, "cam1", oldest))
    assert held is not None and 19 <= held <= 21.5
    assert abs(gap.recovered_seconds - 20) <= 1.5


@pytest.mark.parametrize("where", ["camera", "worker"])
def test_bandwidth_cap_holds_over_a_ten_second_download(anr_app, anr_db, cardcam, tmp_path, where):
    camera = vendor_camera(cardcam, "hikvision")
    window = (minute_edge(20), minute_edge(19))
    uncapped = client_for(camera, CAMERA_PASSWORD)
    recording = uncapped.recordings(*window)[0]
    size = uncapped.download(recording, tmp_path / "probe.mp4")
    kbps = round(size * 8 / 1000 / 10)  # what makes this file take ten seconds
    if where == "camera":
        camera.max_kbps = kbps
        db.session.commit()
        client = client_for(camera, CAMERA_PASSWORD)
    else:
        client = client_for(camera, CAMERA_PASSWORD, max_kbps=kbps)

    began = time.monotonic()
    written = client.download(recording, tmp_path / "capped.mp4")
    elapsed = time.monotonic() - began

    assert written == size
    rate = written * 8 / 1000 / elapsed
    assert abs(rate - kbps) <= 0.15 * kbps, (rate, kbps, elapsed)


@pytest.fixture
def onvif_device():
    device = OnvifDouble(CAMERA_USER, CAMERA_PASSWORD).start()
    yield device
    device.stop()


def test_onvif_card_coverage_through_the_real_client(anr_app, anr_db, simcam, onvif_device):
    sim_camera(simcam, "old", vendor="onvif", http_port=onvif_device.port)
    sim_camera(simcam, "held", vendor="onvif", http_port=onvif_device.port)
    oldest = recent(10)
    onvif_device.data_from = oldest
    gone = factories.make_gap("old", recent(30), seconds=20)
    held = factories.make_gap("held", recent(5), seconds=10)

    run_worker(anr_app)

    gone, held = gap_now(gone.id), gap_now(held.id)
    assert gone.fill_state == "expired" and gone.fill_attempts == 0
    assert f"holds footage from {oldest:%Y-%m-%d %H:%M:%S} UTC" in gone.last_error
    assert held.fill_state == "filled", held.last_error  # on the card: replayed
    assert list(simcam.requests) == [("held", "ok")]
    assert onvif_device.calls.count("GetRecordingSummary") == 2
    assert db.session.get(Camera, "old").card_holds_from == oldest


def test_onvif_wrong_password_falls_back_to_retention(anr_app, anr_db, onvif_device):
    # A replay source that asks for no password: only the ONVIF device refuses this one.
    open_replay = SimCam("127.0.0.1", 0).start()
    sim_camera(open_replay, vendor="onvif", http_port=onvif_device.port, password=WRONG_PASSWORD)
    onvif_device.data_from = recent(10)
    gap = factories.make_gap("cam1", recent(30), seconds=10)

    try:
        run_worker(anr_app)
    finally:
        open_replay.stop()

    gap = gap_now(gap.id)
    assert gap.fill_state == "filled", gap.last_error  # the card could not say; replay tried
    assert db.session.get(Camera, "cam1").card_holds_from is None


def test_onvif_services_on_another_host_are_refused(anr_app, anr_db, simcam, onvif_device):
    sim_camera(simcam, vendor="onvif", http_port=onvif_device.port, anr_replay_url_template="")
    onvif_device.data_from = recent(60)
    onvif_device.service_host = "192.0.2.10"  # GetServices names a host that is not the camera
    gap = factories.make_gap("cam1", recent(30), seconds=10)

    run_worker(anr_app)

    gap = gap_now(gap.id)
    assert gap.fill_state in ("pending", "failed") and gap.recovered_seconds == 0
    assert "192.0.2.10" in gap.last_error and "is not on the camera" in gap.last_error
    assert "GetRecordingSummary" not in onvif_device.calls


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<CMSearchResult><responseStatusStrg>&lol3;</responseStatusStrg></CMSearchResult>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<CMSearchResult><matchList><searchMatchItem><mediaSegmentDescriptor>
<playbackURI>&xxe;</playbackURI></mediaSegmentDescriptor></searchMatchItem></matchList>
</CMSearchResult>"""


@pytest.mark.parametrize("payload", [BILLION_LAUGHS, XXE], ids=["entity-expansion", "xxe"])
def test_camera_xml_with_entities_is_refused(payload):
    with pytest.raises(xmlsafe.CameraXmlError, match="refused"):
        parse_search_result(payload)


def test_a_plain_search_result_parses():
    status, found = parse_search_result(
        b'<CMSearchResult xmlns="http://www.hikvision.com/ver20/XMLSchema">'
        b"<responseStatusStrg>OK</responseStatusStrg><matchList><searchMatchItem>"
        b"<timeSpan><startTime>2026-06-13T12:00:00Z</startTime>"
        b"<endTime>2026-06-13T12:10:00Z</endTime></timeSpan><mediaSegmentDescriptor>"
        b"<playbackURI>rtsp://cam/Streaming/tracks/101/?starttime=x</playbackURI>"
        b"</mediaSegmentDescriptor></searchMatchItem></matchList></CMSearchResult>"
    )
    assert status == "OK"
    assert [(r.start, r.end) for r in found] == [
        (datetime(2026, 6, 13, 12, tzinfo=UTC), datetime(2026, 6, 13, 12, 10, tzinfo=UTC))
    ]


def test_camera_page_shows_what_the_card_holds_and_the_cap(anr_app, anr_db, login_as):
    camera = factories.make_camera("cam1", timezone="Europe/Berlin", max_kbps=512)
    camera.card_holds_from = datetime(2026, 6, 13, 10, 0, tzinfo=UTC)
    camera.card_checked_at = datetime.now(UTC)
    db.session.commit()

    page = login_as("viewer").get("/cameras/cam1/gaps").get_data(as_text=True)

    assert "card holds footage from 2026-06-13 12:00:00 +02:00" in page
    assert "downloads capped at 512 kbit/s" in page


def test_a_freed_slot_claims_the_next_gap_without_waiting_for_the_interval(make_app, cardcam):
    # One slot and a 60 s interval: only claiming again as a slot frees finishes three in time.
    app = make_app(**{**FAST_ENGINE, "ANR_INTERVAL_S": 60, "ANR_CONCURRENCY": 1})
    with app.app_context():
        ids = []
        for i in range(3):
            vendor_camera(cardcam, "hikvision", f"cam{i}", channel=i + 1)
            ids.append(factories.make_gap(f"cam{i}", minute_edge(20), seconds=10).id)
        with background_worker(app):
            wait_for(lambda: all(gap_now(i).fill_state == "filled" for i in ids), timeout=40)


def test_download_method_on_a_vendor_without_a_download_api_fails_with_the_reason(
    anr_app, anr_db, simcam
):
    sim_camera(simcam, vendor="axis", fill_method="download")
    gap = factories.make_gap("cam1", recent(), seconds=5)

    run_worker(anr_app)

    gap = gap_now(gap.id)
    assert gap.fill_state == "pending" and gap.fill_attempts == 1
    assert "offers no download API" in gap.last_error


def test_retention_does_not_expire_what_an_answering_card_still_holds(anr_app, anr_db, cardcam):
    camera = vendor_camera(cardcam, "hikvision", anr_max_gap_hours="0.1")  # six minutes
    camera.card_holds_from = recent(24 * 60)  # the card answered before: it holds a day
    db.session.commit()
    kept = factories.make_gap("cam1", minute_edge(20), seconds=10)
    sim_camera(cardcam, "old", anr_max_gap_hours="0.1")  # cannot answer: retention decides
    gone = factories.make_gap("old", recent(20), seconds=10)

    run_worker(anr_app)

    assert gap_now(kept.id).fill_state == "filled"
    assert gap_now(gone.id).fill_state == "expired"
    assert "edge retention" in gap_now(gone.id).last_error


def test_test_connection_reports_reachability_auth_card_and_method(anr_app, anr_db, cardcam):
    from tests.page import page

    vendor_camera(cardcam, "hikvision")
    admin = factories.make_user("root", "admin")
    client = anr_app.test_client()
    client.post("/login", data={"username": admin.username, "password": "correct horse 1"})
    answer = page(client.post("/admin/cameras/cam1/test").text).text
    assert "Reachable ok 127.0.0.1:" in answer
    assert "Authentication ok the camera accepted the username and password" in answer
    assert "Card ok holds footage from" in answer
    assert "Fill method auto: download recorded files from the card" in answer
    checks = client.post("/api/v1/cameras/cam1/test").json["checks"]
    assert [(c["name"], c["ok"]) for c in checks][:3] == [
        ("Reachable", True),
        ("Authentication", True),
        ("Card", True),
    ]

    camera = anr_db.session.get(Camera, "cam1")
    from webapp.crypto import encrypt_secret

    camera.password_encrypted = encrypt_secret(WRONG_PASSWORD)
    anr_db.session.commit()
    refused = page(client.post("/admin/cameras/cam1/test").text).text
    assert "Authentication problem the camera refused the username or password" in refused
    assert WRONG_PASSWORD not in refused

    camera.address = "127.0.0.1"
    camera.http_port = 9  # discard: nothing listens
    anr_db.session.commit()
    down = page(client.post("/admin/cameras/cam1/test").text).text
    assert "Reachable problem 127.0.0.1:9 does not answer" in down
