"""The fleet overview: counts per state, missing time, attention filter, polling and scope."""

from datetime import timedelta

import pytest
from sqlalchemy import event

from tests.factories import BASE_TIME
from tests.factories import make_camera
from tests.factories import make_footage
from tests.factories import make_gap
from tests.factories import make_gaps
from tests.page import page
from webapp.models import RecordingGap

HX = {"HX-Request": "true", "HX-Target": "fleet"}


@pytest.fixture
def fleet(db):
    make_camera(
        "lobby",
        name="Lobby",
        site="HQ",
        timezone="Europe/Berlin",
        anr_enabled=True,
        vendor="hikvision",
    )
    make_camera("dock", name="Dock", site="Warehouse")
    make_camera("roof", name="Roof <b>", site="HQ")
    make_gap("lobby", BASE_TIME, 600, "failed")
    make_gap("lobby", BASE_TIME + timedelta(hours=1), 120, "filled")
    make_gap("lobby", BASE_TIME + timedelta(hours=2), 60, "pending")
    make_gap("dock", BASE_TIME, 60, "pending")
    for camera_id in ("lobby", "dock", "roof"):
        make_footage(camera_id)  # recording now: only their gaps decide attention


def test_full_page_lists_counts_missing_time_newest_gap_and_anr(fleet, login_as):
    resp = login_as("viewer").get("/cameras")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "<html" in html
    seen = page(html)
    lobby = seen.row("Lobby")
    assert "ANR on" in lobby.text and "needs attention" in lobby.text
    assert "/cameras/lobby/gaps?state=failed" in lobby.hrefs()  # counts link to the filtered tab
    assert "11 min" in lobby.text  # missing: failed 10 min + pending 1 min; filled is not missing
    newest = lobby.find("time")
    assert newest.attrs["datetime"] == "2026-06-13T14:00:00Z"  # newest gap, UTC for machines
    # Camera time, as a person there reads it, with its offset (the column mixes zones).
    assert "16:00:00 +02:00" in newest.text
    assert "camera time" in seen.find("table").find("thead").text
    assert "open gaps, all time" in seen.find("table").find("thead").text  # Missing's period
    dock = seen.row("Dock")
    assert "ANR off" in dock.text and "needs attention" not in dock.text
    assert seen.row("Roof <b>")  # a name is text, never markup
    assert "1 needs attention" in seen.find(role="status").text


def test_attention_filter_keeps_failed_partial_expired(fleet, login_as):
    seen = page(login_as("viewer").get("/cameras?attention=1").get_data(as_text=True))
    rows = [tr.find("th").text for tr in seen.find("tbody").find_all("tr")]
    assert rows == ["Lobby lobby · needs attention"]
    filters = seen.find("nav", aria_label="Filter cameras")
    assert filters.find("a", aria_current="page").text.startswith("Needs attention")


def test_attention_filter_empty_says_so(db, login_as):
    make_camera("dock")
    make_footage("dock")
    html = login_as("viewer").get("/cameras?attention=1").get_data(as_text=True)
    assert "No camera needs attention" in html


def test_htmx_refresh_gets_only_the_table_and_keeps_the_filter(fleet, login_as):
    resp = login_as("viewer").get("/cameras?attention=1", headers=HX)
    html = resp.get_data(as_text=True)
    assert "<html" not in html and html.lstrip().startswith('<section id="fleet"')
    assert 'hx-get="/cameras?attention=1"' in html
    assert 'hx-trigger="refresh" data-refresh-seconds="20"' in html
    assert "HX-Request" in resp.headers["Vary"]


def test_scope_limits_cameras_and_counts(fleet, login_as):
    html = login_as("viewer", cameras=["dock"]).get("/cameras").get_data(as_text=True)
    assert "/cameras/dock/gaps" in html and "/cameras/lobby/gaps" not in html
    assert "Roof" not in html


def test_cost_does_not_grow_with_gaps(db, login_as, app):
    make_camera("a")
    make_camera("b")
    make_gaps("a", 5)
    viewer = login_as("viewer")

    def count_queries():
        seen = []
        engine = db.engine
        listener = lambda *args: seen.append(args[2])  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            viewer.get("/cameras")
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return seen

    few = count_queries()
    make_gaps("a", 200, start=BASE_TIME + timedelta(days=30))
    many = count_queries()
    assert len(few) == len(many)
    assert not any("recording_gaps" in sql for sql in many)


def test_embed_fleet_links_stay_inside_embed(fleet, login_as):
    html = login_as("viewer").get("/embed/cameras").get_data(as_text=True)
    assert 'href="/embed/cameras/lobby/gaps"' in html
    assert 'href="/cameras/lobby/gaps"' not in html
    assert 'class="topbar"' not in html


def test_signed_out_visitor_goes_to_login(client, db):
    resp = client.get("/cameras")
    assert resp.status_code == 302 and "/login?next=/cameras" in resp.location


def test_home_redirects_to_fleet(login_as, db):
    resp = login_as("viewer").get("/")
    assert resp.status_code == 302 and resp.location.endswith("/cameras")


def test_stale_and_never_recorded_cameras_need_attention_on_the_page_and_in_the_api(
    db, login_as, app
):
    """A camera that records nothing must not look healthy (it has no failed gap to show)."""
    app.config["ANR_STALE_MINUTES"] = 10
    make_camera("live", name="Live")
    make_camera("quiet", name="Quiet")
    make_camera("new", name="Brand new")
    make_camera("off", name="Switched off", enabled=False)
    make_footage("live")
    make_footage("quiet", end=BASE_TIME)  # last footage long ago
    viewer = login_as("viewer")
    seen = page(viewer.get("/cameras").get_data(as_text=True))
    assert "Stale" in seen.row("Quiet").text and "needs attention" in seen.row("Quiet").text
    new = seen.row("Brand new").text
    assert "Never recorded" in new and "needs attention" in new
    assert "needs attention" not in seen.row("Live").text
    assert "needs attention" not in seen.row("Switched off").text
    assert "2 not recording" in seen.find(role="status").text
    attention = viewer.get("/cameras?attention=1").get_data(as_text=True)
    assert "/cameras/quiet/gaps" in attention and "/cameras/new/gaps" in attention
    assert "/cameras/live/gaps" not in attention
    cameras = {c["id"]: c for c in viewer.get("/api/v1/cameras").json}
    assert cameras["quiet"]["recording_status"] == "stale"
    assert cameras["quiet"]["last_segment_end"] == "2026-06-13T12:00:00Z"
    assert cameras["new"]["recording_status"] == "never"
    assert cameras["new"]["last_segment_end"] is None
    assert cameras["live"]["recording_status"] == "ok"
    assert cameras["off"]["recording_status"] == "off"


def test_site_retry_button_names_the_site_and_its_count(db, login_as):
    make_camera("lobby", site="HQ")
    make_camera("dock", site="HQ")
    make_gap("lobby", BASE_TIME, 60, "failed")
    make_gap("dock", BASE_TIME, 60, "partial")
    manager = login_as("manager")
    seen = page(manager.get("/cameras?site=HQ").get_data(as_text=True))
    assert seen.find(id="retry-site").text == "Retry 2 failed at HQ"
    assert not page(manager.get("/cameras").text).find_all(id="retry-site")  # no site chosen
    resp = manager.post("/cameras/retry-failed", data={"site": "HQ"})
    assert resp.status_code == 303
    after = manager.get(resp.headers["Location"]).get_data(as_text=True)
    assert "2 gaps at HQ sent back to the fill queue." in after
    assert not page(after).find_all(id="retry-site")  # nothing left to retry there
    viewer = login_as("viewer")
    assert not page(viewer.get("/cameras?site=HQ").text).find_all(id="retry-site")
    assert viewer.post("/cameras/retry-failed", data={"site": "HQ"}).status_code == 403


def test_incident_window_from_the_fleet_page_in_the_cameras_zone(db, login_as):
    make_camera("lobby", site="HQ", timezone="Europe/Berlin")
    make_camera("dock", site="HQ", timezone="Europe/Berlin")
    manager = login_as("manager")
    form = page(manager.get("/cameras?site=HQ").text).find(id="incident-form")
    # Names, not ids; every camera of the chosen site ticked; the shared zone named.
    assert "Camera lobby" in form.text and "Camera dock" in form.text
    assert "Europe/Berlin" in form.text
    resp = manager.post(
        "/cameras/retrievals",
        data={
            "camera_ids": ["lobby", "dock"],
            "start": "2026-06-13T14:00",
            "end": "2026-06-13T14:10",
            "zone": "Europe/Berlin",
        },
    )
    assert resp.status_code == 303
    assert "Queued that window on 2 camera(s)." in manager.get("/cameras").text
    gaps = db.session.scalars(db.select(RecordingGap)).all()
    assert sorted(g.camera_id for g in gaps) == ["dock", "lobby"]
    assert all(g.gap_start.isoformat() == "2026-06-13T12:00:00+00:00" for g in gaps)
    window = {"start": "2026-06-13T14:00", "end": "2026-06-13T14:10"}
    bad = manager.post("/cameras/retrievals", data={"camera_ids": ["lobbby"], **window})
    assert bad.status_code == 422 and "lobbby" in bad.text
