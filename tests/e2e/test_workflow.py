"""Operator workflow, third round (SPEC §22) in real Chromium: history layout, kept rows."""

import http.server
import re
import threading

import pytest
from playwright.sync_api import expect

from .conftest import SCREENSHOTS
from .conftest import sign_in

# Every header cell and every value cell but the error's: how many line boxes each word of its
# text takes (a word broken mid-way takes two or more), and whether the cell overflows.
BROKEN_WORDS = """table => {
  const out = [];
  table.querySelectorAll('th, td:not(.error-cell)').forEach(cell => {
    if (cell.scrollWidth > cell.clientWidth + 1) {
      out.push(`${cell.textContent.trim()}: overflows`);
    }
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const re = /\\S+/g;
      let m;
      while ((m = re.exec(node.data))) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const lines = new Set(Array.from(range.getClientRects()).map(r => Math.round(r.top)));
        if (lines.size > 1) { out.push(`${m[0]} broken over ${lines.size} lines`); }
      }
    }
  });
  return out;
}"""


@pytest.mark.parametrize("width", [1440, 600])
def test_fill_history_keeps_every_word_whole(browser, live, width):
    context = browser.new_context(viewport={"width": width, "height": 900})
    try:
        tab = context.new_page()
        sign_in(tab, live, "manager", "/cameras/lobby/gaps")
        failed = live.gaps["failed"]
        toggle = tab.locator(f"#gap-{failed} .history-toggle")
        toggle.click()
        history = tab.locator(f"#detail-{failed} table.runs")
        expect(history).to_contain_text("503 Service Unavailable")
        expect(toggle).to_have_text("Hide history")
        # The zone's offset is said once, in the header, not in every Started cell.
        expect(history.locator("thead")).to_contain_text("UTC+01:00")
        assert "+01:00" not in history.locator("tbody td").first.inner_text()
        assert history.evaluate(BROKEN_WORDS) == []
        # At 600 px the history scrolls inside its own box; the page does not scroll sideways.
        assert tab.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        tab.locator(f"#detail-{failed}").screenshot(
            caret="initial", path=str(SCREENSHOTS / f"fill-history-{width}.png")
        )
    finally:
        context.close()


def test_the_acted_on_row_stays_in_its_tab_until_the_view_changes(page, live):
    failed, filled, pending = live.gaps["failed"], live.gaps["filled"], live.gaps["pending"]
    sign_in(page, live, "manager", "/cameras/lobby/gaps")
    # Only failed, partial and expired rows offer Retry and a box to tick; a filled row has
    # nothing to do, a pending one is queued already, a filling one offers Stop.
    for gap_id in (filled, pending):
        expect(page.locator(f"#gap-{gap_id} button.retry")).to_have_count(0)
        expect(page.locator(f"#gap-{gap_id} input.select-gap")).to_have_count(0)
    expect(page.locator(f"#gap-{failed} button.retry")).to_be_enabled()
    expect(page.locator(f"#gap-{live.gaps['filling']} button.stop")).to_be_visible()

    page.goto(f"{live.url}/cameras/lobby/gaps?state=failed")
    page.locator(f"#gap-{failed} button.retry").click()
    row = page.locator(f"#gap-{failed}")
    expect(row.locator(".badge")).to_have_text("Pending")
    # Two refreshes later (every 2 s while a fill runs) the row is still there to watch.
    stamp = page.locator(".refreshed time")
    for _ in range(2):
        seen = stamp.get_attribute("datetime")
        expect(stamp).not_to_have_attribute("datetime", seen, timeout=8000)
    expect(row.locator(".badge")).to_have_text("Pending")
    expect(page.locator("#tab-failed .count")).to_have_text("0")
    # Choosing the tab again is a new view: the row has left the Failed tab.
    page.click("#tab-all")
    expect(page.locator("#tab-all")).to_have_attribute("aria-current", "page")
    page.click("#tab-failed")
    expect(page.locator("#tab-failed")).to_have_attribute("aria-current", "page")
    expect(page.locator("tr.gap-row")).to_have_count(0)


def test_messages_fade_after_20_seconds(page, live):
    page.clock.install()
    sign_in(page, live, "manager", "/cameras/lobby/gaps")
    page.locator(f"#gap-{live.gaps['failed']} input.select-gap").check()
    page.click("#retry-selected")
    messages = page.locator("#messages")
    expect(messages).to_contain_text("1 gap sent back to the fill queue.")
    page.clock.run_for(15_000)
    expect(messages).not_to_be_empty()
    page.clock.run_for(7_000)
    expect(messages).to_be_empty()


# Each audit row's height against the line height of its cells: one line plus the padding.
ROW_LINES = """() => Array.from(document.querySelectorAll('tr.audit-row')).map(tr => {
  const td = tr.querySelector('td');
  const style = getComputedStyle(td);
  const padding = parseFloat(style.paddingTop) + parseFloat(style.paddingBottom);
  const line = parseFloat(style.lineHeight);
  return {action: tr.dataset.action, lines: (tr.getBoundingClientRect().height - padding) / line};
})"""


def test_audit_rows_are_one_line_per_action_at_1440_px(browser, live):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        tab = context.new_page()
        sign_in(tab, live, "manager", "/cameras/lobby/gaps")
        # A Retry of one row, a Retry selected and a chosen window: rows with a gap target
        # and with a few details each.
        tab.locator(f"#gap-{live.gaps['failed']} button.retry").click()
        expect(tab.locator(f"#gap-{live.gaps['failed']} .badge")).to_have_text("Pending")
        tab.locator(f"#gap-{live.gaps['partial']} input.select-gap").check()
        tab.click("#retry-selected")
        expect(tab.locator("#messages")).to_contain_text("sent back to the fill queue")
        tab.click("#window-form summary")
        tab.fill("#w-start", "2026-06-13T14:00")
        tab.fill("#w-end", "2026-06-13T14:05")
        tab.click("#window-form button")
        expect(tab.locator("#window-form .flash")).to_contain_text("Queued")
        tab.goto(f"{live.url}/audit")
        rows = tab.evaluate(ROW_LINES)
        assert len(rows) >= 3, rows
        assert all(r["lines"] < 1.5 for r in rows), rows
        # ... and the table fits the page: nothing to scroll sideways for.
        wrap = tab.locator("#audit-panel .table-wrap")
        assert wrap.evaluate("el => el.scrollWidth <= el.clientWidth"), "audit table overflows"
        # The gap's window is read; its id is the link's title.
        first = tab.locator("tr.audit-row", has_text="Retried a gap").first
        link = first.get_by_role("link", name="Gap ")
        expect(link).to_have_attribute("title", re.compile(r"^Gap id [0-9a-f-]{36}$"))
        tab.screenshot(caret="initial", path=str(SCREENSHOTS / "audit-1440.png"))
    finally:
        context.close()


class ConsolePage:
    """A VMS console on its own loopback port: one page that frames ``src`` and keeps the
    messages it receives in ``window.got``. A real server, since Chromium lets only a local
    page frame a local address."""

    def __init__(self):
        self.html = b""
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(outer.html)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # localhost: another site than the app's 127.0.0.1, so the frame is cross-site;
        # ``same_site`` is the same console as a site of the app's (its Lax cookie goes along).
        self.origin = f"http://localhost:{self.server.server_port}"
        self.same_site = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def show(self, tab, src: str, sandbox: str | None = None, same_site: bool = False):
        attr = f' sandbox="{sandbox}"' if sandbox is not None else ""
        self.html = (
            "<!doctype html><html><body><h1>VMS console</h1>"
            f'<iframe id="f" src="{src}" width="820" height="520"{attr}></iframe>'
            "<script>window.got = [];"
            "addEventListener('message', e => got.push({origin: e.origin, data: e.data}));"
            "</script></body></html>"
        ).encode()
        tab.goto(f"{self.same_site if same_site else self.origin}/")


@pytest.fixture
def vms(live):
    """The console, allowed to frame the embed pages (with another allowed origin beside it)."""
    console = ConsolePage()
    allowed = f"{console.origin} {console.same_site} http://other-vms.example"
    live.app.config["ANR_EMBED_ORIGINS"] = allowed
    yield console
    console.server.shutdown()


def test_embed_session_end_shows_a_message_in_the_frame_and_tells_the_parent(vms, browser, live):
    context = browser.new_context(viewport={"width": 900, "height": 640})
    try:
        tab = context.new_page()
        errors = []
        tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        # No session in the frame (it ended): not the sign-in page, which may not be framed.
        vms.show(tab, f"{live.url}/embed/cameras/lobby/gaps")
        frame = tab.frame_locator("#f")
        expect(frame.get_by_role("heading")).to_have_text("Your Replenish session has ended")
        tab.wait_for_function("window.got.some(m => m.data.type === 'replenish:session-ended')")
        got = tab.evaluate("window.got")
        assert {m["origin"] for m in got} == {live.url}
        # Posted to the parent's origin only: no mismatch logged for the other allowed one.
        assert not [e for e in errors if "postMessage" in e], errors
        tab.screenshot(caret="initial", path=str(SCREENSHOTS / "embed-session-ended.png"))
    finally:
        context.close()


def test_confirmations_work_in_a_sandboxed_frame_without_allow_modals(vms, browser, live):
    context = browser.new_context(viewport={"width": 1000, "height": 800})
    try:
        tab = context.new_page()
        sign_in(tab, live, "manager", "/cameras")
        # The console's frame may run scripts and forms, but not open modals.
        vms.show(
            tab,
            f"{live.url}/embed/cameras/lobby/gaps",
            sandbox="allow-scripts allow-forms allow-same-origin",
            same_site=True,
        )
        frame = tab.frame_locator("#f")
        expect(frame.locator(".acting-as")).to_contain_text("manager")
        frame.locator("#retry-all").click()
        dialog = frame.get_by_role("dialog")
        expect(dialog).to_contain_text("failed, partial and expired")
        dialog.get_by_role("button", name="OK").click()
        expect(frame.locator("#messages")).to_contain_text("sent back to the fill queue")
    finally:
        context.close()
