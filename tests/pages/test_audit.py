"""The audit page: manager+ only, scoped, filters, keyset pages, CSV of the filtered rows."""

import csv
import io
import re
from datetime import timedelta

import pytest

from tests.factories import BASE_TIME
from tests.factories import make_camera
from tests.factories import make_gap
from tests.page import page
from webapp.domain.audit import SYSTEM
from webapp.domain.audit import record
from webapp.models import AuditLog


class Actor:
    actor_id = "u-1"
    role = "manager"

    def __init__(self, name):
        self.actor_name = name


def add(db, action, camera_id, when, actor=SYSTEM, detail=None, target=None):
    row = record(
        action,
        "recording_gap",
        target or "g-" + action,
        camera_id=camera_id,
        actor=actor,
        detail=detail or {"camera_id": camera_id},
    )
    row.created_at = when
    db.session.commit()
    return row


@pytest.fixture
def log(db):
    make_camera("cam1")
    make_camera("cam2")
    add(db, "anr_retry_gap", "cam1", BASE_TIME, actor=Actor("alice"))
    add(db, "anr_retry_failed", "cam2", BASE_TIME + timedelta(minutes=1), actor=Actor("bob"))
    add(db, "camera_update", None, BASE_TIME + timedelta(minutes=2))
    add(db, "anr_stop_fill", "cam1", BASE_TIME + timedelta(hours=2), actor=Actor("=cmd|evil"))


def actions_in(html):
    return re.findall(r'data-action="([a-z_]+)"', html)


@pytest.mark.parametrize("role", ["viewer", "guard"])
def test_viewers_and_guards_get_403(log, login_as, role):
    resp = login_as(role).get("/audit")
    assert resp.status_code == 403 and "not permitted to read the audit log" in resp.text
    assert login_as(role).get("/audit.csv").status_code == 403


def test_manager_sees_every_row_newest_first_in_the_layout(log, login_as):
    resp = login_as("manager").get("/audit")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "<html" in html
    # Signing in writes no audit row; the four seeded rows, newest first.
    assert actions_in(html) == [
        "anr_stop_fill",
        "camera_update",
        "anr_retry_failed",
        "anr_retry_gap",
    ]
    assert "&lt;" not in html or "=cmd|evil" in html


def test_scoped_manager_sees_only_rows_about_their_cameras(log, login_as):
    html = login_as("manager", cameras=["cam1"]).get("/audit").get_data(as_text=True)
    assert actions_in(html) == ["anr_stop_fill", "anr_retry_gap"]  # no cam2, no fleet-level rows
    assert "anr_retry_failed" not in html  # not even as a filter choice
    assert ">cam2 (" not in html


def test_scoped_manager_filtering_another_camera_is_403(log, login_as):
    manager = login_as("manager", cameras=["cam1"])
    assert manager.get("/audit?camera=cam2").status_code == 403
    assert manager.get("/audit?camera=ghost").status_code == 403
    assert manager.get("/audit.csv?camera=cam2").status_code == 403


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("camera=cam1", ["anr_stop_fill", "anr_retry_gap"]),
        ("action=anr_retry_failed", ["anr_retry_failed"]),
        ("actor=alice", ["anr_retry_gap"]),
        ("since=2026-06-13T12:01&until=2026-06-13T12:02", ["camera_update", "anr_retry_failed"]),
        # A 24-hour ISO time as the filter's inputs take it.
        ("since=2026-06-13 12:01&until=2026-06-13 12:02", ["camera_update", "anr_retry_failed"]),
    ],
)
def test_filters(log, login_as, query, expected):
    html = login_as("manager").get("/audit?" + query).get_data(as_text=True)
    assert actions_in(html) == expected


def test_htmx_filter_answers_the_panel_with_a_matching_csv_link(log, login_as):
    headers = {"HX-Request": "true", "HX-Target": "audit-panel"}
    resp = login_as("manager").get("/audit?camera=cam1", headers=headers)
    html = resp.get_data(as_text=True)
    assert "<html" not in html and html.lstrip().startswith('<section id="audit-panel"')
    assert 'href="/audit.csv?camera=cam1&amp;action=&amp;actor=&amp;since=&amp;until="' in html


def test_keyset_pages_have_no_duplicates(db, login_as):
    make_camera("cam1")
    for i in range(120):
        # Pairs share a timestamp: the cursor must order ties by id.
        add(db, "anr_retry_gap", "cam1", BASE_TIME + timedelta(seconds=i // 2), target=f"t{i}")
    manager = login_as("manager")
    html = manager.get("/audit").get_data(as_text=True)
    ids = re.findall(r'data-target="([^"]*)"', html)
    assert len(ids) == 50
    while more := re.search(r'id="audit-more".*?hx-get="([^"]+)"', html, re.S):
        html = manager.get(
            more.group(1).replace("&amp;", "&"),
            headers={"HX-Request": "true", "HX-Target": "audit-more"},
        ).text
        assert "<html" not in html and "<table" not in html
        ids += re.findall(r'data-target="([^"]*)"', html)
    assert len(ids) == 120 and set(ids) == {f"t{i}" for i in range(120)}


def test_csv_has_the_filtered_rows_with_formulas_neutralised(log, login_as):
    resp = login_as("manager").get("/audit.csv?camera=cam1")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(resp.get_data(as_text=True))))
    assert rows[0][:4] == ["created_at", "actor_name", "role", "action"]
    assert [r[3] for r in rows[1:]] == ["anr_stop_fill", "anr_retry_gap"]
    assert rows[1][1] == "'=cmd|evil"  # a spreadsheet will not run it
    assert rows[2][0] == "2026-06-13T12:00:00Z" and rows[2][6] == "cam1"


def test_csv_is_scoped(log, login_as):
    text = login_as("manager", cameras=["cam2"]).get("/audit.csv").get_data(as_text=True)
    body = list(csv.reader(io.StringIO(text)))[1:]
    assert [r[3] for r in body] == ["anr_retry_failed"]


def test_page_retry_appears_in_the_audit_log(db, login_as):
    from tests.factories import make_gap

    make_camera("cam1")
    gap = make_gap("cam1", BASE_TIME, state="failed")
    manager = login_as("manager")
    manager.post(f"/cameras/cam1/gaps/{gap.id}/retry", headers={"HX-Request": "true"})
    html = manager.get("/audit?action=anr_retry_gap").get_data(as_text=True)
    assert actions_in(html) == ["anr_retry_gap"] and gap.id in html
    assert db.session.scalar(db.select(AuditLog.actor_name)).startswith("manager")


def test_rows_read_as_words_with_camera_names_and_camera_time_windows(db, login_as):
    """No action codes, ids or JSON: what happened, to which camera, when in that camera's time."""
    make_camera("lobby", name="Lobby entrance", timezone="Europe/Berlin")
    gap = make_gap("lobby", BASE_TIME, 60, "failed")
    manager = login_as("manager")
    resp = manager.post(f"/cameras/lobby/gaps/{gap.id}/retry")
    assert resp.status_code in (200, 303)
    html = manager.get("/audit").get_data(as_text=True)
    row = re.search(r'<tr class="audit-row".*?</tr>', html, re.S).group(0)
    assert "Retried a gap" in row and ">anr_retry_gap<" not in row
    assert ">Lobby entrance</a>" in row
    # BASE_TIME is 12:00 UTC: 14:00 in Berlin in June.
    assert "Gap 2026-06-13 14:00:00 to 14:01:00 +02:00" in row
    # The gap's id is not read in the row, only in the window link's title (hover, a tooltip).
    assert gap.id not in page(row).text
    link = page(row).find("a", href=f"/cameras/lobby/gaps#gap-{gap.id}")
    assert link.text == "Gap 2026-06-13 14:00:00 to 14:01:00 +02:00"
    assert link.attrs["title"] == f"Gap id {gap.id}"
    assert gap.id not in re.sub(r'(data-target|href|title)="[^"]*"', "", row)
    assert "<dt>State before</dt><dd>Failed</dd>" in row
    # Cut to one line at desktop widths, the details are whole in the list's title.
    assert "State before: Failed" in page(row).find("dl").attrs["title"]
    assert "{" not in row and "\\u0026" not in row


def test_from_later_than_to_is_a_clear_error(log, login_as):
    manager = login_as("manager")
    resp = manager.get("/audit?since=2026-06-13 15:00&until=2026-06-13 12:00")
    assert resp.status_code == 400
    seen = page(resp.get_data(as_text=True))
    assert "“To” is earlier than “From”" in seen.find(id="a-until-error").text
    assert "Check the time filter" in seen.find(role="alert").text
    assert not seen.find_all("tr", **{"class": "audit-row"})
    htmx = manager.get(
        "/audit?since=2026-06-13 15:00&until=nonsense", headers={"HX-Request": "true"}
    )
    assert htmx.status_code == 400 and htmx.headers["HX-Retarget"] == "#audit-panel"
    assert "enter a UTC time as 2026-06-13 14:05" in htmx.get_data(as_text=True)
    csv_resp = manager.get("/audit.csv?since=2026-06-13 15:00&until=2026-06-13 12:00")
    assert csv_resp.status_code == 400


def test_action_filter_offers_words(log, login_as):
    seen = page(login_as("manager").get("/audit").get_data(as_text=True))
    options = {o.attrs.get("value"): o.text for o in seen.find(id="a-action").find_all("option")}
    assert options["anr_retry_gap"] == "Retried a gap"
    assert options["anr_stop_fill"] == "Stopped a fill"


def test_csv_detail_is_readable_key_value_text_beside_the_raw_json(db, login_as):
    make_camera("cam1")
    detail = {"camera_id": "cam1", "gap_ids": ["g1", "g2"], "retried": 2, "forced": True}
    add(db, "anr_retry_selected", "cam1", BASE_TIME, actor=Actor("alice"), detail=detail)
    text = login_as("manager").get("/audit.csv").get_data(as_text=True)
    header, row = list(csv.reader(io.StringIO(text)))[:2]
    assert header[-2:] == ["detail", "detail_text"]
    assert row[-2] == (
        '{"camera_id": "cam1", "forced": true, "gap_ids": ["g1", "g2"], "retried": 2}'
    )
    assert row[-1] == "camera_id=cam1; forced=yes; gap_ids=g1,g2; retried=2"


def test_camera_lists_in_the_details_read_as_names_and_gap_ids_as_a_count(db, login_as):
    make_camera("lobby", name="Lobby entrance")
    make_camera("dock", name="Loading dock")
    record(
        "anr_incident_window",
        "incident",
        None,
        actor=Actor("alice"),
        detail={"queued": ["lobby", "gone-cam"], "refused": ["dock"]},
    )
    record(
        "anr_retry_selected",
        "camera",
        "lobby",
        camera_id="lobby",
        actor=Actor("alice"),
        detail={"gap_ids": ["a1b2c3d4-0000-4000-8000-000000000001", "a1b2c3d4-0000-4000-8000-2"]},
    )
    db.session.commit()
    doc = page(login_as("manager").get("/audit").get_data(as_text=True))
    rows = [tr.text for tr in doc.find_all("tr", **{"class": "audit-row"})]
    incident = next(r for r in rows if "Queued" in r)
    assert "Queued Lobby entrance, gone-cam" in incident
    assert "Refused Loading dock" in incident and "dock," not in incident
    selected = next(r for r in rows if "Gaps" in r)
    assert "Gaps 2 gaps" in selected and "a1b2c3d4" not in selected
