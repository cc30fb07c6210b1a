"""The operator pages in real Chromium: sign-in, tabs, retry, roles, paging, timeline."""

import re

from playwright.sync_api import expect

from .conftest import PASSWORD
from .conftest import SCREENSHOTS
from .conftest import sign_in


def gap_page(live, query=""):
    return f"{live.url}/cameras/lobby/gaps{query}"


def row_ids(page):
    """The gap ids of the table's rows, in order (a row's id is ``gap-<gap id>``)."""
    return page.eval_on_selector_all("tr.gap-row", "rows => rows.map(r => r.id.slice(4))")


def test_sign_in_lands_on_the_fleet(page, live):
    page.goto(f"{live.url}/cameras")
    expect(page).to_have_url(re.compile(r"/login\?next=/cameras"))
    page.screenshot(caret="initial", path=str(SCREENSHOTS / "login.png"))
    page.fill("#username", "manager")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{live.url}/cameras")
    expect(page.locator("h1")).to_have_text("Cameras")
    expect(page.locator("#fleet tbody tr")).to_have_count(2)
    expect(page.locator("#fleet")).to_contain_text("needs attention")
    assert not page.console_errors, page.console_errors


def test_tabs_change_the_url_and_back_restores_the_filter(page, live):
    sign_in(page, live, "viewer", "/cameras/lobby/gaps")
    timeline = page.locator("#timeline")
    timeline.evaluate("el => el.classList.add('seen-before')")
    page.click("#tab-failed")
    # No range chosen yet: the table lists every gap, and the tab does not add one.
    expect(page).to_have_url(gap_page(live, "?state=failed"))
    # Only the table was swapped: the timeline is the same element, its links carry the filter.
    expect(timeline).to_have_class(re.compile(r"\bseen-before\b"))
    expect(page.locator("#range-7d")).to_have_attribute(
        "href", "/cameras/lobby/gaps?state=failed&range=7d"
    )
    expect(page.locator("#tab-failed")).to_have_attribute("aria-current", "page")
    expect(page.locator("tr.gap-row")).to_have_count(1)
    expect(page.locator("tr.gap-row .badge")).to_have_text("Failed")
    # The next refresh (every 2 s: a fill is running) follows the filter in the address bar.
    stamp = page.locator(".refreshed time")
    expect(stamp).not_to_have_attribute("datetime", stamp.get_attribute("datetime"), timeout=6000)
    expect(page.locator("tr.gap-row .badge")).to_have_text("Failed")
    expect(page.locator("#tab-failed")).to_have_attribute("aria-current", "page")
    page.click("#range-7d")
    expect(page).to_have_url(gap_page(live, "?state=failed&range=7d"))
    expect(page.locator("#timeline h2")).to_have_text("Coverage, last 7 d")
    page.click("#tab-filled")
    expect(page).to_have_url(gap_page(live, "?state=filled&range=7d"))
    expect(page.locator("tr.gap-row .badge")).to_have_text("Filled")
    page.go_back()
    expect(page).to_have_url(gap_page(live, "?state=failed&range=7d"))
    expect(page.locator("#tab-failed")).to_have_attribute("aria-current", "page")
    expect(page.locator("tr.gap-row .badge")).to_have_text("Failed")
    page.go_back()
    expect(page).to_have_url(gap_page(live, "?state=failed"))
    expect(page.locator("#timeline h2")).to_have_text("Coverage, last 24 h")
    # A reload (or a shared link) keeps the filter too.
    page.reload()
    expect(page.locator("#tab-failed")).to_have_attribute("aria-current", "page")
    assert not page.console_errors, page.console_errors


def test_retry_updates_the_row_and_writes_an_audit_row(page, live):
    gap_id = live.gaps["failed"]
    sign_in(page, live, "manager", "/cameras/lobby/gaps")
    row = page.locator(f"#gap-{gap_id}")
    expect(row.locator(".badge")).to_have_text("Failed")
    page.locator(f"#gap-{gap_id} button.retry").click()
    expect(row.locator(".badge")).to_have_text("Pending")
    expect(row).to_contain_text("manual")
    expect(page.locator("#tab-failed .count")).to_have_text("0")  # the view refreshed its counts
    page.goto(f"{live.url}/audit")
    first = page.locator("tr.audit-row").first
    expect(first).to_have_attribute("data-action", "anr_retry_gap")
    expect(first).to_have_attribute("data-target", gap_id)
    expect(first).to_contain_text("Retried a gap")
    expect(first).to_contain_text("manager")


def test_a_conflict_shows_in_the_row_without_losing_the_page(page, live):
    gap_id = live.gaps["failed"]
    sign_in(page, live, "manager", "/cameras/lobby/gaps?state=failed")
    # Someone else fills it meanwhile: the page still offers Retry, the server says 409.
    with live.app.app_context():
        from webapp.domain import gapstate
        from webapp.extensions import db
        from webapp.models import RecordingGap

        gapstate.change_state(db.session.get(RecordingGap, gap_id), "filled")
        db.session.commit()
    page.locator(f"#gap-{gap_id} button.retry").click()
    expect(page.locator(f"#gap-{gap_id} .row-error")).to_contain_text("already filled")
    expect(page.locator(f"#gap-{gap_id} .badge")).to_have_text("Filled")
    expect(page.locator("#gap-view")).to_be_visible()
    expect(page).to_have_url(gap_page(live, "?state=failed"))


def test_retry_all_failed_asks_first(page, live):
    sign_in(page, live, "manager", "/cameras/lobby/gaps")
    expect(page.locator("#retry-all")).to_have_text("Retry 3 failed, partial or expired")
    page.click("#retry-all")
    # Asked in the page's own dialog (not confirm()); Cancel sends nothing.
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("failed, partial and expired")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#retry-all")).to_have_text("Retry 3 failed, partial or expired")
    page.click("#retry-all")
    dialog.get_by_role("button", name="OK").click()
    expect(page.locator("#messages")).to_have_text("3 gaps sent back to the fill queue.")
    expect(page.locator("#retry-all")).to_be_disabled()


def test_ticked_rows_are_retried_together_and_history_opens(page, live):
    sign_in(page, live, "manager", "/cameras/lobby/gaps?state=failed")
    button = page.locator("#retry-selected")
    expect(button).to_be_disabled()
    failed = live.gaps["failed"]
    page.locator(f"#gap-{failed} input.select-gap").check()
    expect(button).to_have_text("Retry 1 selected")
    page.locator("input.select-all").check()
    expect(button).to_have_text("Retry 1 selected")  # the failed tab holds one gap
    button.click()
    expect(page.locator("#messages")).to_contain_text("1 gap sent back to the fill queue.")
    # The row stays (now pending) in the Failed tab until the next refresh.
    expect(page.locator(f"#gap-{failed} .badge")).to_have_text("Pending")
    # Pending now: queued already, so it has no box to tick.
    expect(page.locator(f"#gap-{failed} input.select-gap")).to_have_count(0)
    expect(button).to_be_disabled()
    toggle = page.locator(f"#gap-{failed} .history-toggle")
    toggle.click()
    expect(page.locator(f"#detail-{failed}")).to_contain_text("503 Service Unavailable")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(toggle).to_have_text("Hide history")
    toggle.click()
    expect(page.locator(f"#detail-{failed}")).to_have_count(0)
    expect(toggle).to_have_text("History")


def test_a_viewer_sees_no_retry(page, live):
    sign_in(page, live, "viewer", "/cameras/lobby/gaps")
    expect(page.locator("tr.gap-row").first).to_be_visible()
    expect(page.locator("button", has_text="Retry")).to_have_count(0)
    expect(page.locator("button", has_text="Stop")).to_have_count(0)
    expect(page.locator("#window-form")).to_have_count(0)


def test_load_more_appends_without_duplicates(page, live):
    sign_in(page, live, "viewer", "/cameras/lobby/gaps")
    expect(page.locator("tr.gap-row")).to_have_count(50)
    first = row_ids(page)
    page.click("#load-more-row a")
    expect(page.locator("tr.gap-row")).to_have_count(66)
    ids = row_ids(page)
    assert ids[:50] == first and len(set(ids)) == 66
    expect(page.locator("#load-more-row")).to_have_count(0)
    # A refresh (every 2 s here: a fill is running) keeps all 66 rows and the scroll position.
    page.evaluate("window.scrollTo(0, 1500)")
    stamp = page.locator(".refreshed time")
    before = stamp.get_attribute("datetime")
    expect(stamp).not_to_have_attribute("datetime", before, timeout=6000)
    expect(page.locator("tr.gap-row")).to_have_count(66)
    assert page.evaluate("window.scrollY") == 1500
    assert len(set(row_ids(page))) == 66


def test_timeline_gap_click_highlights_its_row(page, live):
    gap_id = live.gaps["failed"]
    sign_in(page, live, "viewer", "/cameras/lobby/gaps")
    mark = page.locator(f'a.tl-gap[data-gap-ids="{gap_id}"]')
    expect(mark.locator("title")).to_contain_text("Failed gap")
    # The mark's pattern comes from its state class (app.css), fill and stroke alike.
    paint = mark.locator("rect.tl-mark").evaluate(
        "r => [getComputedStyle(r).fill, getComputedStyle(r).stroke]"
    )
    assert all("#pat-failed" in p for p in paint), paint
    mark.click()
    expect(page.locator(f"#gap-{gap_id}")).to_have_class(re.compile(r"\bhighlight\b"))
    expect(mark).to_have_class(re.compile(r"\bselected\b"))
    expect(page).to_have_url(gap_page(live))  # no navigation: the row was on the page
    # The highlight survives the next refresh of the gap view.
    page.wait_for_timeout(2600)
    expect(page.locator(f"#gap-{gap_id}")).to_have_class(re.compile(r"\bhighlight\b"))


def test_timeline_gap_whose_row_is_not_loaded_opens_a_filtered_view(page, live):
    sign_in(page, live, "viewer", "/cameras/lobby/gaps?range=7d")
    loaded = set(row_ids(page))
    marks = page.eval_on_selector_all(
        "a.tl-gap", "ms => ms.map(m => m.getAttribute('data-gap-ids'))"
    )
    target = next(m for m in marks if " " not in m and m not in loaded)
    page.locator(f'a.tl-gap[data-gap-ids="{target}"]').click()
    expect(page).to_have_url(re.compile(rf"state=pending.*#gap-{target}$"))
    expect(page.locator("tr.gap-row").first).to_have_attribute("id", f"gap-{target}")
    expect(page.locator(f"#gap-{target}")).to_be_in_viewport()


def test_7d_axis_names_every_day_and_earlier_pans_back_a_week(page, live):
    page.set_viewport_size({"width": 1440, "height": 900})
    sign_in(page, live, "viewer", "/cameras/lobby/gaps?range=7d")
    labels = page.eval_on_selector_all(
        "svg.tl text.tl-label:not(.edge)",
        "ts => ts.filter(t => t.getBoundingClientRect().width > 0).map(t => t.textContent)",
    )
    days = [t for t in labels if re.fullmatch(r"[A-Z][a-z]{2} \d\d", t)]
    assert len(set(days)) >= 6, labels  # a 7 d window holds 6 whole days at least
    page.click("#tl-earlier")
    expect(page).to_have_url(re.compile(r"range=7d&end=\d{4}-\d\d-\d\dT\d\d"))
    expect(page.locator("#tl-heading")).to_contain_text("Coverage, 7 d to ")
    expect(page.locator("#tl-later")).to_be_visible()
    page.click("#tl-now")
    expect(page.locator("#tl-heading")).to_have_text("Coverage, last 7 d")


def test_chosen_window_is_queued_and_an_overlap_is_named(page, live):
    sign_in(page, live, "manager", "/cameras/lobby/gaps")
    page.click("#window-form summary")
    # 24-hour ISO text, whatever the browser's locale would make of a date picker.
    page.fill("#w-start", "2026-06-13T14:00")
    page.fill("#w-end", "2026-06-13T14:05")
    page.click("#window-form button")
    expect(page.locator("#window-form .flash")).to_contain_text(
        "Queued 2026-06-13 14:00:00 +02:00 to 2026-06-13 14:05:00 +02:00"
    )
    page.fill("#w-start", "2026-06-13T14:02")
    page.fill("#w-end", "2026-06-13T14:10")
    page.click("#window-form button")
    error = page.locator("#window-form .flash.error")
    expect(error).to_contain_text(
        "overlaps a pending gap, 2026-06-13 14:00:00 +02:00 to 2026-06-13 14:05:00 +02:00"
    )
    expect(error.get_by_role("link", name="Show that gap")).to_be_visible()


def test_expired_session_redirects_to_login_instead_of_swapping(page, live):
    sign_in(page, live, "viewer", "/cameras/lobby/gaps")
    page.context.clear_cookies()
    page.click("#tab-failed")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    expect(page.locator("h1")).to_have_text("Sign in to Replenish")
    expect(page.locator("#gap-view")).to_have_count(0)
    # Signing in again goes back to where the operator was.
    page.fill("#username", "viewer")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(gap_page(live))
