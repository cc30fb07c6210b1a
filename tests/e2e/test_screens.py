"""Screenshots of the pages an operator lives in, at 1280 px and in a 600 px iframe width."""

from playwright.sync_api import expect

from .conftest import SCREENSHOTS
from .conftest import sign_in


def test_fleet_and_camera_pages_render_cleanly(page, live):
    sign_in(page, live, "manager")
    page.wait_for_selector("#fleet table")
    assert page.locator("#fleet tbody tr").count() == 2
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(caret="initial", path=str(SCREENSHOTS / "fleet.png"), full_page=True)
    page.goto(f"{live.url}/cameras/lobby/gaps")
    page.wait_for_selector("svg.tl .tl-gap")
    page.screenshot(caret="initial", path=str(SCREENSHOTS / "camera-gaps.png"), full_page=True)
    page.screenshot(caret="initial", path=str(SCREENSHOTS / "camera-gaps-top.png"))
    # The README picture: a failed gap picked on the timeline, its row highlighted.
    page.locator(f'a.tl-gap[data-gap-ids="{live.gaps["failed"]}"]').click()
    page.wait_for_timeout(600)  # the smooth scroll to the row
    page.evaluate("window.scrollTo(0, 0)")
    page.mouse.move(5, 5)
    page.screenshot(caret="initial", path=str(SCREENSHOTS / "camera-gaps-readme.png"))
    assert not page.console_errors, page.console_errors


def test_embedded_camera_page_fits_600px(browser, live):
    context = browser.new_context(viewport={"width": 600, "height": 900})
    try:
        tab = context.new_page()
        sign_in(tab, live, "manager")
        tab.goto(f"{live.url}/embed/cameras/lobby/gaps")
        tab.wait_for_selector("svg.tl")
        assert tab.locator("header.topbar").count() == 0
        tab.screenshot(
            caret="initial", path=str(SCREENSHOTS / "embed-camera-gaps.png"), full_page=True
        )
        tab.screenshot(caret="initial", path=str(SCREENSHOTS / "embed-camera-gaps-top.png"))
        tab.goto(f"{live.url}/embed/cameras")
        tab.wait_for_selector("#fleet table")
        tab.screenshot(caret="initial", path=str(SCREENSHOTS / "embed-fleet.png"))
        # Nothing overflows the iframe sideways (the table may scroll inside its own wrapper).
        width = tab.evaluate("document.documentElement.scrollWidth")
        assert width <= 600, width
    finally:
        context.close()


def test_dark_control_room_audit_and_admin_pages(browser, live):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="dark")
    try:
        tab = context.new_page()
        sign_in(tab, live, "admin", "/cameras/lobby/gaps")
        tab.wait_for_selector("svg.tl .tl-gap")
        tab.screenshot(caret="initial", path=str(SCREENSHOTS / "camera-gaps-dark.png"))
        tab.goto(f"{live.url}/audit")
        tab.wait_for_selector("#audit-panel")
        tab.screenshot(caret="initial", path=str(SCREENSHOTS / "audit-dark.png"))
        tab.goto(f"{live.url}/admin/cameras/lobby")
        tab.fill("#f-anr_replay_url_template", "rtsp://{nope}")
        # The preview follows what the admin types.
        expect(tab.locator("#url-preview")).to_contain_text("unknown placeholder {nope}")
        tab.screenshot(
            caret="initial", path=str(SCREENSHOTS / "admin-camera-dark.png"), full_page=True
        )
    finally:
        context.close()


def test_the_camera_form_fields_do_not_overlap_and_the_id_pattern_works(browser, live):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        tab = context.new_page()
        errors: list[str] = []
        tab.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        sign_in(tab, live, "admin", "/admin/cameras/lobby")
        clock = tab.locator("#f-replay_clock").bounding_box()
        method = tab.locator("#f-fill_method").bounding_box()
        assert clock and method
        same_row = abs(clock["y"] - method["y"]) < clock["height"]
        if same_row:  # side by side: the clock select ends before Fill method starts
            assert clock["x"] + clock["width"] <= method["x"], (clock, method)
        tab.goto(f"{live.url}/admin/cameras/new")
        tab.fill("#f-id", "Bad Id!")
        assert tab.evaluate("document.querySelector('#f-id').validity.patternMismatch") is True
        tab.fill("#f-id", "dock-2_b")
        assert tab.evaluate("document.querySelector('#f-id').validity.valid") is True
        assert not [e for e in errors if "pattern" in e.lower()], errors
    finally:
        context.close()
