"""Keyboard focus after Retry, picking a window on the timeline, axis labels, the embed way back."""

import re

from playwright.sync_api import expect

from .conftest import SCREENSHOTS
from .conftest import sign_in


def test_keyboard_retry_keeps_focus_on_the_row(page, live):
    gap_id = live.gaps["failed"]
    sign_in(page, live, "manager", "/cameras/lobby/gaps")
    button = page.locator(f"#gap-{gap_id} button.retry")
    button.focus()
    page.keyboard.press("Enter")
    row = page.locator(f"#gap-{gap_id}")
    expect(row.locator(".badge")).to_have_text("Pending")
    # The row swap, then the whole gap view a moment later: focus survives both.
    expect(page.locator("#tab-failed .count")).to_have_text("0")
    page.wait_for_timeout(800)
    inside = page.evaluate(
        "id => { const row = document.getElementById(id);"
        " return !!row && row.contains(document.activeElement); }",
        f"gap-{gap_id}",
    )
    assert inside, page.evaluate("document.activeElement.outerHTML.slice(0, 200)")
    # A pending gap offers no Retry: the row itself holds focus, so Tab goes on from there.
    assert page.evaluate(f"document.activeElement.id === 'gap-{gap_id}'")


def test_dragging_on_the_timeline_fills_the_window_form(page, live):
    sign_in(page, live, "manager", "/cameras/lobby/gaps?range=6h")
    svg = page.locator("svg.tl")
    box = svg.bounding_box()
    y = box["y"] + 30
    page.mouse.move(box["x"] + box["width"] * 0.25, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.40, y, steps=8)
    page.mouse.move(box["x"] + box["width"] * 0.45, y, steps=8)
    page.mouse.up()
    form = page.locator("#window-form")
    expect(form).to_have_attribute("open", "")
    start = form.locator("input[name=start]").input_value()
    end = form.locator("input[name=end]").input_value()
    # The date-time picker's value: ISO in the camera's zone, snapped to whole minutes.
    iso = r"\d{4}-\d\d-\d\dT\d\d:\d\d"
    assert re.fullmatch(iso, start) and re.fullmatch(iso, end), (start, end)
    assert start < end
    # A fifth of 6 hours, give or take the pixel rounding and the snap.
    hours = lambda t: int(t[11:13]) * 60 + int(t[14:16])  # noqa: E731
    assert 62 <= (hours(end) - hours(start)) % 1440 <= 82, (start, end)
    # The window is recorded footage: a warning first, then "Fetch anyway" queues it.
    form.get_by_role("button", name="Queue for retrieval").click()
    expect(form.get_by_role("alert")).to_contain_text("is already recorded")
    form.get_by_role("button", name="Fetch anyway").click()
    expect(form.get_by_role("status")).to_contain_text("for retrieval")
    # Last: a screenshot marks elements with a style, which htmx's settle would then copy.
    page.screenshot(caret="initial", path=str(SCREENSHOTS / "timeline-drag-window.png"))


def label_overlaps(tab) -> list:
    """Pairs of visible axis labels whose boxes touch."""
    return tab.evaluate(
        """() => {
        const boxes = [...document.querySelectorAll('svg.tl text.tl-label')]
          .filter(t => t.getClientRects().length && getComputedStyle(t).display !== 'none'
                       && getComputedStyle(t.parentNode).display !== 'none')
          .map(t => { const r = t.getBoundingClientRect();
                      return {text: t.textContent, left: r.left, right: r.right}; })
          .sort((a, b) => a.left - b.left);
        const bad = [];
        for (let i = 1; i < boxes.length; i++) {
          if (boxes[i].left < boxes[i - 1].right + 2) { bad.push([boxes[i - 1], boxes[i]]); }
        }
        return bad;
    }"""
    )


def test_axis_labels_do_not_overlap_at_600_or_1440_px(browser, live):
    for width in (600, 1440):
        context = browser.new_context(viewport={"width": width, "height": 900})
        try:
            tab = context.new_page()
            sign_in(tab, live, "viewer", "/cameras/lobby/gaps")
            for key in ("1h", "6h", "24h", "7d"):
                tab.goto(f"{live.url}/embed/cameras/lobby/gaps?range={key}")
                tab.wait_for_selector("svg.tl text.tl-label.edge")
                assert not label_overlaps(tab), (width, key, label_overlaps(tab))
                visible = tab.locator("svg.tl text.tl-label:visible").count()
                assert visible >= 3, (width, key)
        finally:
            context.close()


def test_embed_camera_page_leads_back_to_the_camera_list(browser, live):
    context = browser.new_context(viewport={"width": 600, "height": 900})
    try:
        tab = context.new_page()
        sign_in(tab, live, "viewer", "/cameras")
        tab.goto(f"{live.url}/embed/cameras/lobby/gaps")
        tab.get_by_role("link", name="← All cameras").click()
        expect(tab).to_have_url(f"{live.url}/embed/cameras")
        expect(tab.locator("#fleet table")).to_be_visible()
        assert tab.locator("header.topbar").count() == 0
    finally:
        context.close()
