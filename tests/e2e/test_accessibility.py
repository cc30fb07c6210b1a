"""axe-core on every page at 1440 and 600 px, light and dark; screenshots of each for review.

The pages come from the app's URL map, so a page added later is checked without editing a list
here (a route whose parameters have no sample value below fails the test, asking for one).
axe runs through ``page.evaluate`` (the DevTools protocol), so the site's CSP stays in force.
"""

import json
import re
from pathlib import Path

import pytest

from .conftest import SCREENSHOTS
from .conftest import sign_in

AXE = (Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js").read_text()
REPORT = SCREENSHOTS.parent / "axe"
FAILING = ("serious", "critical")
WIDTHS = (1440, 600)
THEMES = ("light", "dark")
# Sample values for route parameters (the seeded demo of conftest.seed_demo).
SAMPLES = {"camera_id": "lobby", "username": "viewer", "name": "vms", "key_id": "vms"}
# Not pages: downloads, redirects, JSON, sign-on and probes.
NOT_PAGES = re.compile(r"^/(api/|static/|healthz|readyz|metrics|embed/start|audit\.csv|$)")
# Extra states of a page worth checking: (name, path, what to do once it is shown).
EXTRAS = [
    ("camera-gaps-7d", "/cameras/lobby/gaps?range=7d", None),
    ("camera-gaps-7d-earlier", "/cameras/lobby/gaps?range=7d&end=2026-01-10T12:00", None),
    ("camera-gaps-failed", "/cameras/lobby/gaps?state=failed", None),
    ("fleet-attention", "/cameras?attention=1", None),
    ("window-form-open", "/cameras/lobby/gaps", "open-window-form"),
    ("error-404", "/cameras/no-such-camera/gaps", None),
]


def page_paths(app, samples: dict) -> list[tuple[str, str]]:
    """(name, path) of every HTML page a signed-in admin can open, from the URL map."""
    out = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or NOT_PAGES.match(rule.rule):
            continue
        missing = [arg for arg in rule.arguments if arg not in samples]
        assert not missing, f"{rule.rule}: add a sample value for {missing} to SAMPLES"
        path = rule.rule
        for arg in rule.arguments:
            path = re.sub(rf"<(?:[a-z]+:)?{arg}>", samples[arg], path)
        name = re.sub(r"[^a-z0-9]+", "-", rule.endpoint.lower()).strip("-")
        out.append((name, path))
    return sorted(set(out)) + [(n, p) for n, p, _ in EXTRAS]


def make_audit_rows(tab, live) -> None:
    """A Retry and a chosen window, so the audit page has rows to check."""
    tab.goto(f"{live.url}/cameras/lobby/gaps")
    tab.locator(f"#gap-{live.gaps['failed']} button.retry").click()
    tab.locator(f"#gap-{live.gaps['failed']} .badge", has_text="Pending").wait_for()
    tab.click("#window-form summary")
    tab.fill("#w-start", "2026-06-13T14:00")
    tab.fill("#w-end", "2026-06-13T14:05")
    tab.click("#window-form button")
    tab.locator("#window-form .flash", has_text="Queued").wait_for()


def run_axe(tab) -> list[dict]:
    """axe's violations on the page as it is now."""
    if not tab.evaluate("() => typeof window.axe !== 'undefined'"):
        tab.evaluate(AXE)
    return tab.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )


def shoot_and_check(tab, name: str, width: int, theme: str, found: dict) -> None:
    """Screenshot the page and keep its serious/critical violations under ``found[name]``."""
    tab.wait_for_load_state("networkidle")
    shot = SCREENSHOTS / "pages" / f"{name}-{width}-{theme}.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    tab.screenshot(caret="initial", path=str(shot), full_page=True)
    bad = [v for v in run_axe(tab) if v["impact"] in FAILING]
    if bad:
        found[name] = [
            {
                "rule": v["id"],
                "impact": v["impact"],
                "help": v["help"],
                "nodes": [n["target"] for n in v["nodes"]][:5],
                "count": len(v["nodes"]),
            }
            for v in bad
        ]


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_has_no_serious_axe_violations(browser, live, width, theme):
    context = browser.new_context(
        viewport={"width": width, "height": 900}, color_scheme=theme, reduced_motion="reduce"
    )
    context.set_default_timeout(10_000)
    found: dict[str, list] = {}
    try:
        tab = context.new_page()
        csp = []
        tab.on(
            "console",
            lambda m: csp.append(m.text) if "Content Security Policy" in m.text else None,
        )
        tab.goto(f"{live.url}/login")
        shoot_and_check(tab, "login", width, theme, found)
        sign_in(tab, live, "admin")
        make_audit_rows(tab, live)
        extras = {n: action for n, _, action in EXTRAS}
        # A gap of the seeded demo for pages about one gap (its fill history).
        samples = {**SAMPLES, "gap_id": live.gaps["failed"]}
        for name, path in page_paths(live.app, samples):
            tab.goto(f"{live.url}{path}")
            if extras.get(name) == "open-window-form":
                tab.click("#window-form summary")
            shoot_and_check(tab, name, width, theme, found)
        assert not csp, csp
    finally:
        context.close()
    REPORT.mkdir(parents=True, exist_ok=True)
    (REPORT / f"axe-{width}-{theme}.json").write_text(json.dumps(found, indent=1))
    summary = {name: [f"{v['rule']} x{v['count']}" for v in vs] for name, vs in found.items()}
    assert not found, json.dumps(summary, indent=1)
