"""The camera gap page: full page vs htmx fragments, tabs, rows, buttons by role, row actions."""

import re
from datetime import datetime
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.factories import BASE_TIME
from tests.factories import make_camera
from tests.factories import make_footage
from tests.factories import make_gap
from tests.factories import make_gaps
from tests.page import page
from webapp.domain import gap_actions
from webapp.domain import gapstate
from webapp.models import AuditLog
from webapp.models import Camera
from webapp.models import RecordingGap
from webapp.models import utcnow

PAGE = "/cameras/cam1/gaps"
HX = {"HX-Request": "true", "HX-Target": "gap-view", "HX-Current-URL": "http://localhost" + PAGE}


@pytest.fixture
def cam(db):
    make_camera("cam1", name="Lobby <main>", timezone="Europe/Berlin")
    make_camera("cam2", name="Other")
    return "cam1"


def gap_ids_in(html: str) -> list[str]:
    return re.findall(r'<tr id="gap-([0-9a-f-]{36})"', html)


def reload(db, gap_id):
    db.session.expire_all()
    return db.session.get(RecordingGap, gap_id)


def test_full_page_has_layout_tabs_timeline_and_table(cam, login_as, db):
    make_gap(cam, BASE_TIME, 600, "failed", last_error="rtsp://admin:hunter2@10.0.0.1/x timed out")
    viewer = login_as("viewer")
    resp = viewer.get(PAGE)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "<html" in html and 'id="gap-view"' in html and "<svg" in html
    assert "Accept" not in resp.headers.get("Vary", "") and "HX-Request" in resp.headers["Vary"]
    # The camera's name is escaped, never markup.
    assert "Lobby &lt;main&gt;" in html
    # Start in the camera's zone with its offset; the UTC time in <time datetime> and title.
    assert '<time datetime="2026-06-13T12:00:00Z" title="2026-06-13T12:00:00Z (UTC)">' in html
    assert "14:00:00" in html and "+02:00" in html
    assert "10\u00a0min" in html  # duration in words
    assert "Failed</span>" in html  # badge carries text, not colour alone
    assert "hunter2" not in html and "rtsp://***@10.0.0.1/x" in html  # masked last error
    for label in ("All", "Pending", "Filling", "Filled", "Partial", "Failed", "Expired"):
        assert f">{label}" in html or f"{label} <span" in html


STATE_WORDS = ["Pending", "Filling", "Filled", "Partial", "Failed", "Expired"]


def test_htmx_tab_answers_the_gap_view_only_and_keeps_the_filter(cam, login_as, db):
    # Inside the 6 h range the URL asks for: the table follows the chosen range.
    recent = utcnow().replace(microsecond=0) - timedelta(hours=3)
    make_gap(cam, recent, state="failed")
    make_gap(cam, recent + timedelta(hours=1), state="filled")
    viewer = login_as("viewer")
    resp = viewer.get(PAGE + "?state=failed&range=6h", headers=HX)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "<html" not in html and "<head" not in html
    assert html.lstrip().startswith('<div id="gap-view"')
    assert len(gap_ids_in(html)) == 1 and "Failed</span>" in html
    # The fragment polls its own URL, so a refresh keeps the filter and the range.
    assert 'hx-get="/cameras/cam1/gaps?state=failed&amp;range=6h"' in html
    # Tabs carry the range, range links carry the state, both push the URL.
    doc = page(html)
    tabs = doc.find("nav", aria_label="Filter by state").find_all("a")
    assert [a.text.split()[0] for a in tabs] == ["All", *STATE_WORDS]
    assert all("range=6h" in a.attrs["href"] and a.attrs["hx-push-url"] == "true" for a in tabs)
    filled_tab = doc.find("a", id="tab-filled").attrs["href"]
    assert filled_tab == "/cameras/cam1/gaps?state=filled&range=6h"
    assert [a.text for a in tabs if a.attrs.get("aria-current") == "page"] == ["Failed 1"]
    ranges = doc.find("nav", id="range-nav").find_all("a")
    assert "/cameras/cam1/gaps?state=failed&range=7d" in [a.attrs["href"] for a in ranges]
    assert all(a.attrs["hx-push-url"] == "true" for a in ranges if "range=" in a.attrs["href"])


def test_tab_click_swaps_only_the_table_and_refreshes_range_links_out_of_band(cam, login_as, db):
    make_gap(cam, utcnow().replace(microsecond=0) - timedelta(hours=3), state="failed")
    headers = dict(HX, **{"HX-Target": "gap-panel"})
    html = login_as("viewer").get(PAGE + "?state=failed&range=6h", headers=headers).text
    assert "<html" not in html and "<svg" not in html and 'id="gap-view"' not in html
    assert (
        '<nav id="range-nav" class="ranges" aria-label="Timeline range" hx-swap-oob="true">' in html
    )
    assert 'id="range-7d" href="/cameras/cam1/gaps?state=failed&amp;range=7d"' in html
    assert '<section id="gap-panel"' in html and len(gap_ids_in(html)) == 1
    assert 'hx-target="#gap-panel"' in html  # the tabs keep swapping only the table


def test_history_restore_request_gets_the_full_page(cam, login_as):
    viewer = login_as("viewer")
    headers = {"HX-Request": "true", "HX-History-Restore-Request": "true"}
    html = viewer.get(PAGE + "?state=failed", headers=headers).get_data(as_text=True)
    assert "<html" in html


def test_tab_counts_come_from_statistics(cam, login_as, db):
    make_gaps(cam, 3, "failed")
    make_gap(cam, BASE_TIME - timedelta(days=1), state="filling", progress=0.5)
    html = login_as("viewer").get(PAGE).get_data(as_text=True)
    assert re.search(r'id="tab-failed".*?<span class="count">3</span>', html)
    assert re.search(r'id="tab-all".*?<span class="count">4</span>', html)


def test_bad_state_filter_is_a_400_page(cam, login_as):
    resp = login_as("viewer").get(PAGE + "?state=nope")
    assert resp.status_code == 400 and "<html" in resp.get_data(as_text=True)


def test_filling_row_has_progress_bar_and_fast_refresh(cam, login_as, db):
    make_gap(cam, BASE_TIME, state="filling", progress=0.42)
    html = login_as("viewer").get(PAGE).get_data(as_text=True)
    assert '<progress max="100" value="42"' in html
    assert 'data-refresh-seconds="2"' in html


def test_idle_page_refreshes_every_20_seconds(cam, login_as, db):
    make_gap(cam, BASE_TIME, state="failed")
    html = login_as("viewer").get(PAGE).get_data(as_text=True)
    assert 'data-refresh-seconds="20"' in html
    assert 'hx-trigger="refresh, gaps-changed from:body delay:300ms"' in html


def test_recovered_seconds_shown(cam, login_as, db):
    make_gap(cam, BASE_TIME, 600, "partial", recovered_seconds=250.0)
    html = login_as("viewer").get(PAGE).get_data(as_text=True)
    assert "4\u00a0min\u00a010\u00a0s" in html and "250.0 s of 600 s" in html


# --- who sees which button -------------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "guard"])
def test_viewers_and_guards_see_no_retry_stop_or_window_form(cam, login_as, db, role):
    make_gap(cam, BASE_TIME, state="failed")
    make_gap(cam, BASE_TIME + timedelta(hours=1), state="filling")
    html = login_as(role).get(PAGE).get_data(as_text=True)
    assert ">Retry<" not in html and "Retry all failed" not in html
    assert ">Stop<" not in html and "Retrieve a chosen window" not in html


@pytest.mark.parametrize("role", ["manager", "admin"])
def test_managers_see_retry_only_where_it_can_run(cam, login_as, db, role):
    failed = make_gap(cam, BASE_TIME, state="failed").id
    filled = make_gap(cam, BASE_TIME + timedelta(hours=1), state="filled").id
    filling = make_gap(cam, BASE_TIME + timedelta(hours=2), state="filling").id
    pending = make_gap(cam, BASE_TIME + timedelta(hours=3), state="pending").id
    html = login_as(role).get(PAGE).get_data(as_text=True)

    def row(gap_id):
        return re.search(rf'<tr id="gap-{gap_id}".*?</tr>', html, re.S).group(0)

    assert ">Retry<" in row(failed) and 'class="select-gap"' in row(failed)
    # No disabled Retry or box on rows it cannot act on: they simply are not there.
    for gap_id in (filled, filling, pending):
        assert ">Retry<" not in row(gap_id) and "select-gap" not in row(gap_id)
        assert " disabled" not in row(gap_id)
    assert ">Stop<" in row(filling) and ">Stop<" not in row(failed)
    assert "Retry 1 failed, partial or expired" in html and "Retrieve a chosen window" in html
    assert 'hx-confirm="Send all 1 failed' in html


def test_retry_all_failed_is_disabled_with_nothing_to_retry(cam, login_as, db):
    make_gap(cam, BASE_TIME, state="filled")
    html = login_as("manager").get(PAGE).get_data(as_text=True)
    assert re.search(r'id="retry-all" disabled', html)


# --- per-row retry ---------------------------------------------------------------------------


def test_htmx_retry_swaps_only_its_row_and_is_audited(cam, login_as, db):
    gap = make_gap(cam, BASE_TIME, state="failed", fill_attempts=3, last_error="boom")
    manager = login_as("manager")
    resp = manager.post(f"{PAGE}/{gap.id}/retry", headers={"HX-Request": "true"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert html.strip().startswith(f'<tr id="gap-{gap.id}"')
    assert "<html" not in html and "Pending</span>" in html and "boom" not in html
    # The confirmation goes to the page's message area (out of band), not into the table.
    assert re.search(r'<div id="messages"[^>]*hx-swap-oob="true"><p[^>]*>Retry sent', html)
    trigger = resp.headers["HX-Trigger"]
    assert "gaps-changed" in trigger and "replenish:gap-retried" in trigger and gap.id in trigger
    assert reload(db, gap.id).fill_state == "pending"
    audit = db.session.scalars(db.select(AuditLog)).all()
    assert [(a.action, a.target_id, a.subject_camera_id) for a in audit] == [
        ("anr_retry_gap", gap.id, cam)
    ]


def test_plain_form_retry_redirects_back_with_a_message(cam, login_as, db):
    gap = make_gap(cam, BASE_TIME, state="failed")
    manager = login_as("manager")
    resp = manager.post(f"{PAGE}/{gap.id}/retry")
    assert resp.status_code == 303 and resp.location.endswith(PAGE)
    html = manager.get(PAGE).get_data(as_text=True)
    assert "back in the fill queue" in html


def test_retry_of_filled_gap_shows_409_in_its_row(cam, login_as, db):
    gap = make_gap(cam, BASE_TIME, state="filled")
    resp = login_as("manager").post(f"{PAGE}/{gap.id}/retry", headers={"HX-Request": "true"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 409
    assert resp.headers["HX-Retarget"] == f"#gap-{gap.id}"
    assert resp.headers["HX-Reswap"] == "outerHTML"
    assert 'class="row-error" role="alert"' in html
    assert "Not retried: this gap is already filled; there is nothing to fetch." in html
    assert "<html" not in html and "HX-Trigger" not in resp.headers
    assert db.session.scalars(db.select(AuditLog)).all() == []


def test_viewer_retry_is_403_inline_in_the_message_area(cam, login_as, db):
    gap = make_gap(cam, BASE_TIME, state="failed")
    resp = login_as("viewer").post(f"{PAGE}/{gap.id}/retry", headers={"HX-Request": "true"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 403
    assert resp.headers["HX-Retarget"] == "#messages"
    assert "role &#39;viewer&#39; is not permitted to retry recording-gap fill" in html
    assert "<html" not in html
    assert reload(db, gap.id).fill_state == "failed"


def test_retry_of_unknown_gap_is_404_inline(cam, login_as):
    resp = login_as("manager").post(f"{PAGE}/nope/retry", headers={"HX-Request": "true"})
    assert resp.status_code == 404 and resp.headers["HX-Retarget"] == "#messages"


# --- stop a running fill ----------------------------------------------------------------------


def test_stop_marks_the_fill_and_returns_its_row(cam, login_as, db):
    gap = make_gap(cam, BASE_TIME, state="filling", progress=0.3)
    resp = login_as("manager").post(f"{PAGE}/{gap.id}/stop", headers={"HX-Request": "true"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and html.strip().startswith(f'<tr id="gap-{gap.id}"')
    assert "Stop requested by" in html
    assert reload(db, gap.id).stop_requested_by
    actions = db.session.scalars(db.select(AuditLog.action)).all()
    assert actions == ["anr_stop_fill"]


def test_stop_of_a_gap_not_filling_is_409_in_its_row(cam, login_as, db):
    gap = make_gap(cam, BASE_TIME, state="failed")
    resp = login_as("manager").post(f"{PAGE}/{gap.id}/stop", headers={"HX-Request": "true"})
    assert resp.status_code == 409 and "only a running fill can be stopped" in resp.text
    assert resp.headers["HX-Retarget"] == f"#gap-{gap.id}"


def test_stop_arriving_as_the_fill_ends_changes_nothing(cam, login_as, db, app, monkeypatch):
    """Stop is compare-and-set: the fill ends after the view read the gap, before it wrote."""
    gap = make_gap(cam, BASE_TIME, state="filling")
    manager = login_as("manager")
    read_gap = gap_actions.gap_of

    def read_then_fill_ends(camera, gap_id, lock=False):
        seen = read_gap(camera, gap_id, lock)
        with app.app_context():  # the worker, on its own connection, finishes the fill
            gapstate.change_state(db.session.get(RecordingGap, gap_id), "filled")
            db.session.commit()
        return seen

    monkeypatch.setattr(gap_actions, "gap_of", read_then_fill_ends)
    resp = manager.post(f"{PAGE}/{gap.id}/stop", headers={"HX-Request": "true"})
    assert resp.status_code == 409
    monkeypatch.undo()
    row = reload(db, gap.id)
    assert row.fill_state == "filled" and row.stop_requested_by is None
    assert db.session.scalars(db.select(AuditLog.action)).all() == []


def test_viewer_cannot_stop(cam, login_as, db):
    gap = make_gap(cam, BASE_TIME, state="filling")
    resp = login_as("viewer").post(f"{PAGE}/{gap.id}/stop", headers={"HX-Request": "true"})
    assert resp.status_code == 403
    assert "not permitted to stop fills or queue a chosen window" in resp.text


# --- retry all failed -------------------------------------------------------------------------


def test_retry_all_failed_answers_the_gap_view_with_a_notice(cam, login_as, db):
    make_gap(cam, BASE_TIME, state="failed")
    make_gap(cam, BASE_TIME + timedelta(hours=1), state="partial")
    make_gap(cam, BASE_TIME + timedelta(hours=2), state="filled")
    resp = login_as("manager").post(
        f"{PAGE}/retry-failed?state=failed", headers={"HX-Request": "true"}
    )
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "<html" not in html
    assert html.lstrip().startswith('<div id="gap-view"')
    assert "2 gaps sent back to the fill queue." in html
    # The rows acted on stay, now pending, until the next refresh.
    assert html.count('class="gap-row state-pending kept"') == 2
    audit = db.session.scalars(db.select(AuditLog)).all()
    assert [a.action for a in audit] == ["anr_retry_failed"] and audit[0].detail["count"] == 2


def test_retry_all_failed_without_htmx_redirects(cam, login_as, db):
    make_gap(cam, BASE_TIME, state="failed")
    resp = login_as("manager").post(f"{PAGE}/retry-failed")
    assert resp.status_code == 303


# --- load more (keyset) -----------------------------------------------------------------------


def test_load_more_appends_the_next_rows_without_duplicates(cam, login_as, db):
    make_gaps(cam, 120, "pending")
    viewer = login_as("viewer")
    first = viewer.get(PAGE).get_data(as_text=True)
    ids = gap_ids_in(first)
    assert len(ids) == 50
    seen = list(ids)
    html = first
    while True:
        more = re.search(r'<tr id="load-more-row".*?hx-get="([^"]+)"', html, re.S)
        if not more:
            break
        url = more.group(1).replace("&amp;", "&")
        html = viewer.get(
            url, headers={"HX-Request": "true", "HX-Target": "load-more-row"}
        ).get_data(as_text=True)
        assert "<html" not in html and "<table" not in html and 'id="gap-view"' not in html
        seen += gap_ids_in(html)
    assert len(seen) == 120 and len(set(seen)) == 120


def test_refresh_keeps_the_rows_load_more_showed(cam, login_as, db):
    make_gaps(cam, 120, "pending")
    html = login_as("viewer").get(PAGE + "?shown=100", headers=HX).get_data(as_text=True)
    assert len(gap_ids_in(html)) == 100
    html = login_as("viewer").get(PAGE + "?shown=99999", headers=HX).get_data(as_text=True)
    assert len(gap_ids_in(html)) == 120


def test_damaged_cursor_is_400(cam, login_as):
    assert login_as("viewer").get(PAGE + "?before=%%%").status_code == 400


# --- retrieve a chosen window -----------------------------------------------------------------


def window(session, start, end, htmx=True):
    headers = {"HX-Request": "true", "HX-Target": "window-form"} if htmx else {}
    return session.post(f"{PAGE}/window", data={"start": start, "end": end}, headers=headers)


def test_window_in_camera_time_is_queued_as_manual_gap(cam, login_as, db):
    resp = window(login_as("manager"), "2026-06-13T14:00", "2026-06-13T14:05:30")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "<html" not in html
    assert html.lstrip().startswith('<details id="window-form"')
    assert "Queued 2026-06-13 14:00:00 +02:00 to 2026-06-13 14:05:30 +02:00" in html
    assert "gaps-changed" in resp.headers["HX-Trigger"]
    gap = db.session.scalars(db.select(RecordingGap)).one()
    assert gap.gap_start.isoformat() == "2026-06-13T12:00:00+00:00"  # Berlin summer time
    assert gap.gap_seconds == 330 and gap.manual_retry
    assert db.session.scalars(db.select(AuditLog.action)).all() == ["anr_manual_window"]


def test_window_overlapping_a_gap_is_409_naming_it_in_camera_time(cam, login_as, db):
    gap = make_gap(cam, BASE_TIME, 600, "failed")
    resp = window(login_as("manager"), "2026-06-13 14:05:00", "2026-06-13 14:20:00")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 409
    assert resp.headers["HX-Retarget"] == "#window-form"
    alert = page(html).find(role="alert")
    # The gap by its window in the camera's time (12:00 UTC is 14:00 in Berlin), not its id.
    assert "overlaps a failed gap, 2026-06-13 14:00:00 +02:00 to 2026-06-13 14:10:00 +02:00" in (
        alert.text
    )
    assert gap.id not in alert.text and "UTC" not in alert.text
    assert f"/cameras/cam1/gaps?state=failed#gap-{gap.id}" in alert.hrefs()
    assert 'value="2026-06-13T14:05:00"' in html  # what the operator typed is kept
    assert db.session.scalars(db.select(RecordingGap)).all() == [gap]


@pytest.mark.parametrize(
    ("start", "end", "field", "message"),
    [
        ("", "2026-06-13 14:00", "start", "enter when the window starts, as 2026-06-13 14:05:00"),
        ("2026-06-13 14:00", "garbage", "end", "enter when the window ends, as 2026-06-13"),
        ("2026-06-13 14:00", "2026-06-13 13:00", "end", "“To” must be later than “From”"),
        ("2026-06-01 14:00", "2026-07-13 13:00", "end", "a window can be at most 31 days long"),
    ],
)
def test_window_errors_are_422_beside_the_field_in_the_forms_words(
    cam, login_as, db, start, end, field, message
):
    resp = window(login_as("manager"), start, end)
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    error = page(html).find(id=f"w-{field}-error").text
    assert error.startswith(message), error
    assert "gap_start" not in html and "gap_end" not in html and "RFC 3339" not in html
    assert db.session.scalars(db.select(RecordingGap)).all() == []


def test_a_local_time_the_clocks_skip_is_a_clear_error_naming_the_change(cam, login_as, db):
    # Berlin's clocks went from 02:00 to 03:00 on 2026-03-29: 02:30 never happened there.
    resp = window(login_as("manager"), "2026-03-29 02:30", "2026-03-29 04:00")
    assert resp.status_code == 422
    error = page(resp.get_data(as_text=True)).find(id="w-start-error").text
    assert "2026-03-29 02:30 does not exist in Europe/Berlin" in error
    assert "clocks went forward 1 hour" in error and "03:30" in error
    assert "later than" not in error
    assert db.session.scalars(db.select(RecordingGap)).all() == []


def test_exactly_31_calendar_days_across_a_clock_change_is_allowed(cam, login_as, db):
    manager = login_as("manager")
    # Berlin falls back an hour on 2026-10-25: 31 calendar days are 31 days and 1 hour in UTC.
    resp = window(manager, "2026-10-10 12:00", "2026-11-10 12:00")
    assert resp.status_code == 200 and "Queued" in resp.text, resp.text
    (gap,) = db.session.scalars(db.select(RecordingGap)).all()
    assert gap.gap_seconds == 31 * 86400 + 3600
    longer = window(manager, "2026-05-01 12:00", "2026-06-01 12:01")
    assert longer.status_code == 422 and "at most 31 days" in longer.text


def test_window_in_the_future_is_refused(cam, login_as, db):
    later = (utcnow() + timedelta(days=2)).strftime("%Y-%m-%d %H:%M")
    resp = window(login_as("manager"), later, later[:-2] + "59")
    assert resp.status_code == 422 and "“From” is in the future" in resp.text


def test_window_that_is_already_recorded_is_a_warning_first(cam, login_as, db):
    start = BASE_TIME
    for i in range(10):
        make_footage(cam, start + timedelta(minutes=i + 1), seconds=60)
    manager = login_as("manager")
    resp = window(manager, "2026-06-13 14:02:00", "2026-06-13 14:08:00")
    assert resp.status_code == 200
    warning = page(resp.text).find(role="alert").text
    assert "is already recorded" in warning and "2026-06-13 14:02:00 +02:00" in warning
    assert db.session.scalars(db.select(RecordingGap)).all() == []
    assert "Fetch anyway" in resp.text
    again = manager.post(
        "/cameras/cam1/gaps/window",
        data={"start": "2026-06-13 14:02:00", "end": "2026-06-13 14:08:00", "anyway": "1"},
        headers={"HX-Request": "true"},
    )
    assert again.status_code == 200 and "Queued" in again.text
    assert len(db.session.scalars(db.select(RecordingGap)).all()) == 1


def test_recorded_window_over_a_filled_gap_offers_no_fetch_that_would_be_refused(cam, login_as, db):
    filled = make_gap(cam, BASE_TIME, 600, "filled")
    for i in range(12):
        make_footage(cam, BASE_TIME + timedelta(minutes=i + 1), seconds=60)
    resp = window(login_as("manager"), "2026-06-13T14:02", "2026-06-13T14:08")
    # Not a "Fetch anyway" that the next press would refuse: the overlap is named at once.
    assert resp.status_code == 409
    assert "Fetch anyway" not in resp.text
    alert = page(resp.text).find(role="alert").text
    assert "overlaps a filled gap" in alert and "in the archive already" in alert
    assert "Retry that gap" not in alert
    assert db.session.scalars(db.select(RecordingGap)).all() == [filled]


def test_recorded_window_on_a_camera_that_cannot_fetch_says_why(cam, login_as, db):
    db.session.get(Camera, cam).enabled = False
    db.session.commit()
    for i in range(10):
        make_footage(cam, BASE_TIME + timedelta(minutes=i + 1), seconds=60)
    resp = window(login_as("manager"), "2026-06-13T14:02", "2026-06-13T14:08")
    assert resp.status_code == 409 and "is disabled" in resp.text
    assert "Fetch anyway" not in resp.text


def test_window_form_is_prefilled_with_the_last_hour_in_camera_time(cam, login_as, db):
    form = page(login_as("manager").get(PAGE).text).find(id="window-form")
    start = form.find(id="w-start").attrs["value"]
    end = form.find(id="w-end").attrs["value"]
    assert form.find(id="w-start").attrs["type"] == "datetime-local"
    berlin = utcnow().astimezone(ZoneInfo("Europe/Berlin")).replace(tzinfo=None)
    until = datetime.fromisoformat(end)
    assert timedelta(0) <= berlin - until < timedelta(minutes=2)  # this minute, camera time
    assert until - datetime.fromisoformat(start) == timedelta(hours=1)


def test_window_plain_form_redirects(cam, login_as, db):
    resp = window(login_as("manager"), "2026-06-13T14:00", "2026-06-13T14:05", htmx=False)
    assert resp.status_code == 303


def test_viewer_cannot_queue_a_window(cam, login_as, db):
    resp = window(login_as("viewer"), "2026-06-13T14:00", "2026-06-13T14:05")
    assert resp.status_code == 403
    assert db.session.scalars(db.select(RecordingGap)).all() == []


# --- scope ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/cameras/cam2/gaps"),
        ("get", "/cameras/ghost/gaps"),  # does not exist: the same 403, no existence oracle
        ("post", "/cameras/cam2/gaps/x/retry"),
        ("post", "/cameras/cam2/gaps/x/stop"),
        ("post", "/cameras/cam2/gaps/retry-failed"),
        ("post", "/cameras/cam2/gaps/window"),
        ("get", "/embed/cameras/cam2/gaps"),
    ],
)
def test_out_of_scope_camera_is_403_everywhere(cam, login_as, method, url):
    manager = login_as("manager", cameras=["cam1"])
    resp = getattr(manager, method)(url)
    assert resp.status_code == 403
    assert "outside your camera scope" in resp.get_data(as_text=True)


def test_unknown_camera_in_scope_is_404(cam, login_as):
    assert login_as("viewer").get("/cameras/ghost/gaps").status_code == 404


def test_embed_page_is_compact_and_links_stay_inside_embed(cam, login_as, db):
    make_gap(cam, BASE_TIME, state="failed")
    html = login_as("viewer").get("/embed/cameras/cam1/gaps").get_data(as_text=True)
    assert 'class="embed"' in html and 'class="topbar"' not in html
    assert 'href="/embed/cameras/cam1/gaps?state=failed' in html
    assert 'href="/cameras/cam1/gaps' not in html


def test_embed_row_actions_render_embed_links(cam, login_as, db):
    make_gap(cam, BASE_TIME, state="failed")
    headers = {"HX-Request": "true"}
    html = login_as("manager").post(f"/embed{PAGE}/retry-failed", headers=headers).text
    assert 'hx-get="/embed/cameras/cam1/gaps' in html and 'href="/cameras/' not in html


# What an embedded page may point at besides /embed: its assets, and the API's downloads (the
# archive files the player streams, the evidence export), which are files, not pages.
_OUTSIDE_EMBED_OK = ("#", "/static/", "data:", "/api/v1/cameras/cam1/")


def _targets(html: str) -> list[str]:
    """Every URL an element of ``html`` links, fetches, posts or loads."""
    attrs = ("href", "hx-get", "hx-post", "action", "src")
    return [n.attrs[a] for n in page(html).find_all() for a in attrs if n.attrs.get(a)]


def test_every_link_of_every_embed_page_stays_inside_embed(cam, login_as, db):
    failed = make_gap(cam, BASE_TIME, state="failed")
    filled = make_gap(cam, BASE_TIME + timedelta(hours=1), state="filled")
    make_footage(cam, BASE_TIME + timedelta(hours=1, minutes=1))
    make_gap(cam, BASE_TIME + timedelta(hours=2), state="filling", progress=0.4)
    manager = login_as("manager")
    row = f"/embed{PAGE}/{filled.id}"
    hx = {"HX-Request": "true"}
    answers = {
        "fleet": manager.get("/embed/cameras"),
        "camera": manager.get(f"/embed{PAGE}"),
        "tab": manager.get(f"/embed{PAGE}?state=failed", headers={**hx, "HX-Target": "gap-panel"}),
        "history": manager.get(f"{row}/history"),
        "history row": manager.get(f"{row}/history", headers=hx),
        "watch": manager.get(f"{row}/watch"),
        "queue": manager.get("/embed/queue"),
        "retry": manager.post(f"/embed{PAGE}/{failed.id}/retry", headers=hx),
        "retry all": manager.post(f"/embed{PAGE}/retry-failed", headers=hx),
        "window": manager.post(f"/embed{PAGE}/window", data={"start": "x"}, headers=hx),
        "not found": manager.get("/embed/cameras/cam1/gaps/nope/history"),
    }
    for name, resp in answers.items():
        assert resp.status_code in (200, 404, 422), (name, resp.status_code)
        targets = _targets(resp.text)
        outside = [t for t in targets if not t.startswith(("/embed/", *_OUTSIDE_EMBED_OK))]
        assert not outside, (name, outside)
    seen = _targets(answers["camera"].text) + _targets(answers["queue"].text)
    assert f"/embed{PAGE}/{failed.id}/retry" in seen and f"{row}/watch" in seen
    assert any(t.startswith("/embed/queue/") and t.endswith("/stop") for t in seen)


def test_table_rows_say_who_asked_to_stop_a_running_fill(cam, login_as, db):
    gap = make_gap(cam, BASE_TIME, state="filling", progress=0.3, stop_requested_by="boss")
    manager = login_as("manager")
    html = manager.get(f"/cameras/{cam}/gaps").get_data(as_text=True)
    row = html[html.index(f'id="gap-{gap.id}"') :]
    row = row[: row.index("</tr>")]
    assert "Stop requested by boss" in row
    assert re.search(r'class="small danger stop" disabled title="Stop already requested"', row)


@pytest.mark.parametrize("camera_id", ["x__gap_id__", "x__state__", "x__camera_id__"])
def test_links_of_a_camera_whose_id_looks_like_a_placeholder(db, login_as, camera_id):
    """Links are url_for's: an id spelled like a placeholder stays the camera's id."""
    make_camera(camera_id)
    gap = make_gap(camera_id, utcnow() - timedelta(hours=1), state="failed")
    manager = login_as("manager")
    page_url = f"/cameras/{camera_id}/gaps"
    html = manager.get(page_url).get_data(as_text=True)
    assert f"{page_url}/{gap.id}/retry" in html
    assert f"{page_url}/{gap.id}/history" in html or f"{page_url}/{gap.id}" in html
    mark = re.search(rf'href="({page_url}\?[^"#]*state=failed[^"#]*)#gap-{gap.id}"', html)
    assert mark, "the timeline mark links to the camera's failed tab"
    fleet = manager.get("/cameras").get_data(as_text=True)
    assert f'href="{page_url}"' in fleet
    resp = manager.post(f"{page_url}/{gap.id}/retry", headers={"HX-Request": "true"})
    assert resp.status_code == 200


def test_retry_all_says_it_takes_all_time_when_a_range_is_shown(cam, login_as, db):
    make_gap(cam, BASE_TIME, state="failed")
    manager = login_as("manager")
    assert "all time" not in page(manager.get(PAGE).text).find(id="retry-all").text
    ranged = page(manager.get(f"{PAGE}?range=24h").text).find(id="retry-all").text
    assert "Retry 1 failed, partial or expired" in ranged and "all time" in ranged
