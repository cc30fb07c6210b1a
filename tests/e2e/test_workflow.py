"""Operator workflow, third round (SPEC §22) in real Chromium: history layout, kept rows."""

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
            path=str(SCREENSHOTS / f"fill-history-{width}.png")
        )
    finally:
        context.close()
