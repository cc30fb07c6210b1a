"""The fill queue page: what each role sees, filters, Load more, Stop, and lost actions."""

import re
from datetime import timedelta

import pytest

from tests.conftest import PASSWORD
from tests.conftest import csrf_token_from
from tests.factories import make_camera
from tests.factories import make_gap
from tests.factories import make_running_fill
from tests.factories import make_user
from webapp.domain.times import zone
from webapp.models import FillRun
from webapp.models import RecordingGap
from webapp.models import WorkerHeartbeat
from webapp.models import utcnow


@pytest.fixture
def busy(db):
    """One running fill, three queued gaps (one an operator's request), an outcome, a worker."""
    now = utcnow().replace(microsecond=0)
    make_camera("lobby", name="Lobby", anr_enabled=True, site="North")
    make_camera("dock", name="Dock", anr_enabled=True, site="South")
    running = make_running_fill("lobby", now)
    make_gap("lobby", now - timedelta(hours=2), 60)
    make_gap("dock", now - timedelta(hours=3), 60)
    asked = make_gap("dock", now - timedelta(hours=1), 60, manual_retry=True, requested_by="mona")
    db.session.add(
        FillRun(
            gap_id=asked.id,
            camera_id="dock",
            worker_id="w1",
            started_at=now - timedelta(minutes=20),
            ended_at=now - timedelta(minutes=19),
            outcome="failed",
            error="camera refused the replay",
        )
    )
    db.session.add(
        WorkerHeartbeat(
            worker_id="host-a:42:abc", hostname="host-a", pid=42, running=1, concurrency=4
        )
    )
    db.session.commit()
    return {"running": running.id, "asked": asked.id}


def _section(html: str, heading: str) -> str:
    start = html.index(f">{heading}")
    end = html.find("<section", start)
    return html[start : end if end != -1 else None]


def test_viewer_sees_the_queue_without_any_action_controls(busy, login_as):
    html = login_as("viewer").get("/queue").get_data(as_text=True)
    running = _section(html, "Running")
    assert "Lobby" in running and "50 %" in running and "real time" in running
    assert "automatic" in running
    queued = _section(html, "Queued")
    positions = re.findall(r'<td class="num pos">(\d+)</td>', queued)
    assert positions == ["1", "2", "3"]
    assert "card keeps it until about" in queued
    assert "camera refused the replay" in html and "host-a" in html and "1 / 4" in html
    assert "Stop" not in running and '<form method="post"' not in html.split("</header>")[1]
    assert 'data-refresh-seconds="2"' in html  # a fill runs: fast refresh


def test_queue_order_on_the_page_is_the_claim_order(busy, login_as):
    html = login_as("viewer").get("/queue").get_data(as_text=True)
    queued = _section(html, "Queued")
    rows = re.findall(r'class="queued-row[^"]*">.*?</tr>', queued, re.S)
    assert "mona" in rows[0] and "Dock" in rows[0]  # the operator's request
    assert "Dock" in rows[1] and "Lobby" in rows[2]  # then the older (sooner overwritten) gap


def test_filters_by_site_and_camera_stay_in_the_url(busy, login_as):
    viewer = login_as("viewer")
    html = viewer.get("/queue?site=South").get_data(as_text=True)
    assert "Lobby" not in _section(html, "Queued") and "Dock" in _section(html, "Queued")
    assert '<option value="South" selected>' in html
    assert 'hx-get="/queue?site=South"' in html  # the refresh keeps the filter
    html = viewer.get("/queue?camera=lobby").get_data(as_text=True)
    assert "Dock" not in _section(html, "Queued")
    assert viewer.get("/queue?before=broken").status_code == 400


def test_quiet_queue_refreshes_slowly_and_says_what_is_missing(db, login_as):
    make_camera("off", anr_enabled=False)
    make_gap("off", utcnow() - timedelta(hours=1), 60)
    html = login_as("viewer").get("/queue").get_data(as_text=True)
    assert 'data-refresh-seconds="20"' in html
    assert "No fill is running." in html and "Nothing is waiting." in html
    assert "1</b> not queued (ANR off)" in html
    assert "No worker has reported" in html


def test_load_more_continues_the_positions(db, login_as):
    make_camera("cam1", anr_enabled=True)
    for i in range(103):
        make_gap("cam1", utcnow() - timedelta(hours=10, minutes=-i), 30)
    viewer = login_as("viewer")
    html = viewer.get("/queue").get_data(as_text=True)
    assert len(re.findall(r'<td class="num pos">', html)) == 100
    assert "Load more (3 more)" in html
    more_url = re.search(r'id="queued-more".*?hx-get="([^"]+)"', html, re.S).group(1)
    more = viewer.get(
        more_url.replace("&amp;", "&"), headers={"HX-Request": "true", "HX-Target": "queued-more"}
    ).get_data(as_text=True)
    assert "<html" not in more
    assert re.findall(r'<td class="num pos">(\d+)</td>', more) == ["101", "102", "103"]


def test_manager_stops_a_fill_from_the_queue_and_sees_it_confirmed(busy, login_as, db):
    manager = login_as("manager", username="mona")
    html = manager.get("/queue").get_data(as_text=True)
    assert "Stop the fill of Lobby" in html
    resp = manager.post(f"/queue/lobby/{busy['running']}/stop", headers={"HX-Request": "true"})
    body = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "<html" not in body
    assert 'id="messages"' in body and "Stop sent for Lobby" in body
    assert "Stop sent by mona" in body
    db.session.commit()
    assert db.session.get(RecordingGap, busy["running"]).stop_requested_by == "mona"


def test_viewer_cannot_stop_from_the_queue(busy, login_as):
    resp = login_as("viewer").post(f"/queue/lobby/{busy['running']}/stop")
    assert resp.status_code == 403


def test_an_action_lost_to_an_expired_session_is_reported_after_sign_in(csrf_app, busy):
    with csrf_app.app_context():
        make_user("mona", "manager")
    gap_id = busy["asked"]
    browser = csrf_app.test_client()  # its session has ended: no cookie, no CSRF token
    resp = browser.post(
        f"/cameras/dock/gaps/{gap_id}/retry",
        headers={"HX-Request": "true", "HX-Current-URL": "http://localhost/cameras/dock/gaps"},
    )
    assert resp.status_code == 401
    login_url = resp.headers["HX-Redirect"]
    assert "lost=Retry" in login_url

    page = browser.get(login_url).get_data(as_text=True)
    assert "your Retry was not done" in page
    signed_in = browser.post(
        "/login",
        data={
            "username": "mona",
            "password": PASSWORD,
            "csrf_token": csrf_token_from(page),
            "next": "/cameras/dock/gaps",
            "lost": "Retry",
        },
        follow_redirects=True,
    )
    assert signed_in.request.path == "/cameras/dock/gaps"
    assert "Your Retry was not done" in signed_in.get_data(as_text=True)


def test_bulk_retry_jobs_show_their_progress_on_the_queue_and_in_the_api(busy, login_as, db):
    from tests.page import page
    from webapp.models import Job

    db.session.add(
        Job(
            kind="retry_failed",
            camera_id="dock",
            requested_by="mona",
            total=300000,
            done=120000,
            state="running",
        )
    )
    db.session.add(
        Job(
            kind="retry_failed",
            camera_id="lobby",
            requested_by="olga",
            total=50000,
            done=50000,
            state="done",
            finished_at=utcnow(),
        )
    )
    db.session.commit()
    viewer = login_as("viewer")
    text = page(viewer.get("/queue").get_data(as_text=True)).text
    assert "Bulk retries" in text
    assert "120000 of 300000 gaps" in text and "running (40 %)" in text
    assert "50000 of 50000 gaps" in text and "done" in text
    body = viewer.get("/api/v1/queue").get_json()
    jobs = {job["camera_id"]: job for job in body["jobs"]}
    assert jobs["dock"]["done"] == 120000 and jobs["dock"]["requested_by"] == "mona"
    assert jobs["lobby"]["state"] == "done"
    # Scope: a viewer of the lobby only never sees the dock's job.
    scoped = login_as("viewer", cameras=["lobby"], username="lobbyonly")
    assert [job["camera_id"] for job in scoped.get("/api/v1/queue").get_json()["jobs"]] == ["lobby"]


def test_a_cleanly_stopped_worker_says_stopped_and_a_silent_one_not_answering(db, login_as):
    old = utcnow() - timedelta(minutes=10)
    db.session.add(WorkerHeartbeat(worker_id="w-clean", seen_at=old, stopped_at=old))
    db.session.add(WorkerHeartbeat(worker_id="w-lost", seen_at=old))
    db.session.commit()
    html = login_as("viewer").get("/queue").get_data(as_text=True)
    clean = re.search(r"w-clean.*?</tr>", html, re.S).group(0)
    lost = re.search(r"w-lost.*?</tr>", html, re.S).group(0)
    assert "stopped" in clean and "not answering" not in clean
    assert "not answering" in lost


def test_camera_filter_is_a_list_of_the_cameras_in_scope(busy, login_as):
    from tests.page import page

    doc = page(login_as("viewer").get("/queue?camera=dock").get_data(as_text=True))
    select = doc.find("select", id="q-camera")
    options = [(o.attrs["value"], o.text) for o in select.find_all("option")]
    assert options == [("", "All cameras"), ("dock", "Dock (dock)"), ("lobby", "Lobby (lobby)")]
    assert [o.text for o in select.find_all("option") if "selected" in o.attrs] == ["Dock (dock)"]
    scoped = page(login_as("viewer", cameras=["lobby"]).get("/queue").get_data(as_text=True))
    names = [o.text for o in scoped.find("select", id="q-camera").find_all("option")]
    assert names == ["All cameras", "Lobby (lobby)"]


def _runs(db, camera_id: str, outcomes: list[str]) -> None:
    """Ended fill runs of ``camera_id``, one a minute back from now, newest first."""
    now = utcnow().replace(microsecond=0)
    gap = make_gap(camera_id, now - timedelta(hours=5), 60, state="failed")
    for i, outcome in enumerate(outcomes):
        ended = now - timedelta(minutes=i + 1)
        db.session.add(
            FillRun(
                gap_id=gap.id,
                camera_id=camera_id,
                worker_id="w1",
                started_at=ended - timedelta(seconds=30),
                ended_at=ended,
                outcome=outcome,
                error=f"run {i}",
            )
        )
    db.session.commit()


def test_recent_outcomes_filter_by_outcome_and_page_beyond_50(db, login_as):
    from tests.page import page

    make_camera("cam1", name="Gate", anr_enabled=True)
    _runs(db, "cam1", ["failed" if i % 3 else "stopped" for i in range(70)])
    viewer = login_as("viewer")
    doc = page(viewer.get("/queue").get_data(as_text=True))
    recent = doc.find("section", aria_labelledby="h-recent")
    assert len(recent.find_all("tr", **{"class": "outcome-row"})) == 50
    assert "run 0" in recent.text and "run 49" in recent.text and "run 50" not in recent.text
    older = recent.find("tr", id="outcomes-more")
    assert older.text == "Older outcomes"
    more = viewer.get(
        older.hrefs()[0], headers={"HX-Request": "true", "HX-Target": "outcomes-more"}
    ).get_data(as_text=True)
    assert "<html" not in more
    rest = page(more)
    assert len(rest.find_all("tr", **{"class": "outcome-row"})) == 20
    assert "run 50" in rest.text and "run 69" in rest.text and "run 49" not in rest.text
    assert "Older outcomes" not in rest.text

    # Only the stopped ones (every third run: 24 of 70), in one page, the choice kept.
    doc = page(viewer.get("/queue?outcome=stopped").get_data(as_text=True))
    recent = doc.find("section", aria_labelledby="h-recent")
    rows = recent.find_all("tr", **{"class": "outcome-row"})
    assert len(rows) == 24 and all("Stopped" in r.text for r in rows)
    assert "Failed" not in recent.find("tbody").text and "Older outcomes" not in recent.text
    select = recent.find("select", id="q-outcome")
    assert [o.text for o in select.find_all("option") if "selected" in o.attrs] == ["Stopped"]
    assert "Returned to queue" in select.text and "Lost" in select.text
    assert doc.find("div", id="queue-view").attrs["hx-get"] == "/queue?outcome=stopped"
    empty = page(viewer.get("/queue?outcome=filled").get_data(as_text=True))
    assert "No fill attempt ended “Filled” yet." in empty.text


def test_bad_outcome_filter_or_cursor_is_a_400_that_says_why(db, login_as):
    viewer = login_as("viewer")
    resp = viewer.get("/queue?outcome=exploded")
    assert resp.status_code == 400
    assert "outcome must be one of filled, partial, failed" in resp.get_data(as_text=True)
    resp = viewer.get("/queue?outcomes_before=broken")
    assert resp.status_code == 400
    assert "outcomes_before is not a cursor" in resp.get_data(as_text=True)
    api = viewer.get("/api/v1/queue?outcome=exploded")
    assert api.status_code == 400 and "outcome must be one of" in api.get_json()["error"]
    assert viewer.get("/api/v1/queue?outcomes_before=broken").status_code == 400


def test_api_queue_filters_and_pages_the_outcomes_additively(db, login_as):
    make_camera("cam1", name="Gate", anr_enabled=True)
    _runs(db, "cam1", ["filled" if i % 2 else "lost" for i in range(60)])
    viewer = login_as("viewer")
    body = viewer.get("/api/v1/queue").get_json()
    assert len(body["recent"]) == 50 and body["recent_next"]
    assert {"running", "queued", "queued_total", "workers", "jobs"} <= set(body)
    older = viewer.get(f"/api/v1/queue?outcomes_before={body['recent_next']}").get_json()
    assert len(older["recent"]) == 10 and older["recent_next"] is None
    seen = [r["run_id"] for r in body["recent"] + older["recent"]]
    ended = [r["ended_at"] for r in body["recent"] + older["recent"]]
    assert len(set(seen)) == 60 and ended == sorted(ended, reverse=True)
    lost = viewer.get("/api/v1/queue?outcome=lost").get_json()
    assert len(lost["recent"]) == 30 and {r["outcome"] for r in lost["recent"]} == {"lost"}


def test_older_outcomes_keep_every_run_when_many_ended_at_the_same_instant(db, login_as):
    make_camera("cam1", name="Gate", anr_enabled=True)
    gap = make_gap("cam1", utcnow() - timedelta(hours=5), 60, state="failed")
    ended = utcnow()
    for _ in range(55):
        db.session.add(
            FillRun(gap_id=gap.id, camera_id="cam1", worker_id="w1", ended_at=ended, outcome="lost")
        )
    db.session.commit()
    viewer = login_as("viewer")
    first = viewer.get("/api/v1/queue?outcome=lost").get_json()
    rest = viewer.get(
        f"/api/v1/queue?outcome=lost&outcomes_before={first['recent_next']}"
    ).get_json()
    ids = [r["run_id"] for r in first["recent"] + rest["recent"]]
    assert len(ids) == 55 and len(set(ids)) == 55 and rest["recent_next"] is None


def test_each_time_column_reads_in_one_zone_named_in_its_header(db, login_as):
    from tests.page import page
    from webapp.pages.presenters import zone_offset

    now = utcnow().replace(microsecond=0)
    make_camera("gate", name="Gate", anr_enabled=True, site="Berlin", timezone="Europe/Berlin")
    make_camera("pier", name="Pier", anr_enabled=True, site="Newark", timezone="America/New_York")
    make_gap("gate", now - timedelta(hours=2), 60)
    make_gap("pier", now - timedelta(hours=3), 60)
    db.session.add(WorkerHeartbeat(worker_id="w-utc", seen_at=now - timedelta(seconds=3)))
    db.session.commit()
    viewer = login_as("viewer")

    # One camera: its zone (and offset) once in the header; no offset in any cell.
    doc = page(viewer.get("/queue?camera=gate").get_data(as_text=True))
    queued = doc.find("table", **{"class": "grid queue-queued"})
    berlin = f"camera time, Europe/Berlin ({zone_offset('Europe/Berlin')})"
    heads = [th.text for th in queued.find("thead").find_all("th")]
    assert f"Window {berlin}" in heads and f"On the camera's card {berlin}" in heads
    cells = queued.find("tbody").text
    assert zone_offset("Europe/Berlin") not in cells and "Europe/Berlin" not in cells
    local = (now - timedelta(hours=2)).astimezone(zone("Europe/Berlin")).strftime("%Y-%m-%d %H:%M")
    assert local in cells

    # Two zones: the header says camera time, each row names its zone once, beside the camera.
    doc = page(viewer.get("/queue").get_data(as_text=True))
    queued = doc.find("table", **{"class": "grid queue-queued"})
    heads = [th.text for th in queued.find("thead").find_all("th")]
    assert "Window camera time, zone under each camera" in heads
    assert "Berlin · Europe/Berlin" in queued.row("Gate").text
    assert "Newark · America/New_York" in queued.row("Pier").text
    assert "+01:00" not in queued.find("tbody").text and "-05:00" not in queued.find("tbody").text

    # Workers: heartbeats in UTC, said in the header.
    workers = doc.find("table", **{"class": "grid queue-workers"})
    assert "Last heartbeat UTC" in [th.text for th in workers.find_all("th")]
    clock = (now - timedelta(seconds=3)).strftime("%H:%M:%S")
    assert re.search(rf"{clock} \(\d+ s ago\)", workers.row("w-utc").text)


def test_queue_rows_name_cameras_not_ids(db, login_as):
    from tests.page import page

    make_camera("cam-7f3a", name="Back door", anr_enabled=True)  # no site
    make_gap("cam-7f3a", utcnow() - timedelta(hours=1), 60)
    doc = page(login_as("viewer").get("/queue").get_data(as_text=True))
    row = doc.find("table", **{"class": "grid queue-queued"}).row("Back door")
    assert "cam-7f3a" not in row.text
