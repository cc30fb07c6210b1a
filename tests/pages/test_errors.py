"""Errors and page security: error pages, inline htmx errors, HX-Redirect, CSRF, CSP-safe HTML."""

import json
import re

import pytest

from tests.conftest import PASSWORD
from tests.conftest import csrf_token_from
from tests.factories import BASE_TIME
from tests.factories import make_camera
from tests.factories import make_gap
from tests.factories import make_user

PAGES = [
    "/cameras",
    "/cameras?attention=1",
    "/cameras/cam1/gaps",
    "/cameras/cam1/gaps?state=failed&range=7d",
    "/embed/cameras",
    "/embed/cameras/cam1/gaps",
    "/audit",
    "/admin/cameras",
    "/admin/cameras/new",
    "/admin/cameras/cam1",
    "/cameras/ghost/gaps",  # the 404 page
]


@pytest.fixture
def cam(db):
    make_camera("cam1", name="<script>alert(1)</script>", timezone="Europe/Berlin")
    make_gap("cam1", BASE_TIME, 600, "failed", last_error="<img src=x onerror=alert(1)>")
    make_gap("cam1", BASE_TIME.replace(hour=14), 60, "filling", progress=0.5)
    return "cam1"


@pytest.mark.parametrize("url", PAGES)
def test_every_page_is_csp_safe(cam, login_as, url):
    resp = login_as("admin").get(url)
    html = resp.get_data(as_text=True)
    assert resp.status_code in (200, 404)
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "style-src 'self'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script"
    # Attribute names only: quoted values (escaped user text) cannot hold markup.
    bare = re.sub(r'"[^"]*"', '""', html)
    assert "<style" not in bare and not re.search(r"<[a-z][^<>]*\sstyle=", bare), "inline style"
    assert not re.search(r"<[a-z][^<>]*\son[a-z]+=", bare), "inline event handler"
    assert "hx-on" not in html and "js:" not in html
    # hx-trigger filters ([...]) need eval, which the CSP forbids.
    assert not re.search(r'hx-trigger="[^"]*\[', html)
    assert "<script>alert(1)</script>" not in html and "<img src=x" not in html
    assert "HX-Request" in resp.headers["Vary"]


def test_htmx_is_configured_without_eval_or_inline_styles(cam, login_as):
    html = login_as("viewer").get("/cameras").get_data(as_text=True)
    config = re.search(r'<meta name="htmx-config" content=\'([^\']+)\'', html).group(1)
    assert '"allowEval": false' in config and '"includeIndicatorStyles": false' in config
    # Error answers that name their target are swapped by htmx's own setting, others are not.
    handling = json.loads(config)["responseHandling"]
    swapped = [h["code"] for h in handling if h["swap"]]
    assert any(re.fullmatch(c, "409") for c in swapped)
    assert any(re.fullmatch(c, "500") for c in swapped)
    assert not any(re.fullmatch(c, "503") for c in swapped)
    # Every htmx request carries the CSRF header (hx-headers on <body>, inherited).
    assert re.search(r'<body [^>]*hx-headers=\'\{"X-CSRFToken": "[^"]+"\}\'', html)


def test_app_js_polls_only_while_visible():
    from pathlib import Path

    source = (Path(__file__).parents[2] / "static" / "js" / "app.js").read_text()
    assert 'document.visibilityState !== "visible"' in source


def test_error_pages_use_the_site_layout(cam, login_as):
    resp = login_as("viewer").get("/cameras/ghost/gaps")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 404 and "<html" in html and 'class="topbar"' in html
    assert "camera ghost not found" in html and "Back to the cameras" in html


def test_htmx_errors_are_inline_and_retargeted_to_messages(cam, login_as):
    resp = login_as("viewer").get(
        "/cameras/ghost/gaps", headers={"HX-Request": "true", "HX-Target": "gap-view"}
    )
    html = resp.get_data(as_text=True)
    assert resp.status_code == 404 and "<html" not in html
    assert resp.headers["HX-Retarget"] == "#messages" and 'role="alert"' in html


def test_expired_session_htmx_request_gets_hx_redirect_to_login(cam, client):
    resp = client.get(
        "/cameras/cam1/gaps?state=failed",
        headers={
            "HX-Request": "true",
            "HX-Target": "gap-view",
            "HX-Current-URL": "http://localhost/cameras/cam1/gaps?state=failed",
        },
    )
    assert resp.status_code == 401 and resp.get_data() == b""
    assert resp.headers["HX-Redirect"] == "/login?next=/cameras/cam1/gaps?state%3Dfailed"
    assert "<html" not in resp.get_data(as_text=True)


def test_expired_session_plain_request_redirects_to_login(cam, client):
    resp = client.get("/cameras/cam1/gaps")
    assert resp.status_code == 302 and "/login?next=/cameras/cam1/gaps" in resp.location


def test_expired_session_htmx_post_is_sent_to_login_not_a_token_error(csrf_app):
    with csrf_app.app_context():
        make_camera("cam1")
        gap_id = make_gap("cam1", BASE_TIME, state="failed").id
    client = csrf_app.test_client()
    resp = client.post(
        f"/cameras/cam1/gaps/{gap_id}/retry",
        headers={
            "HX-Request": "true",
            "X-CSRFToken": "stale",
            "HX-Current-URL": "http://localhost/cameras/cam1/gaps",
        },
    )
    assert resp.status_code == 401
    assert resp.headers["HX-Redirect"].startswith("/login?next=/cameras/cam1/gaps")


def test_htmx_post_needs_the_csrf_header(csrf_app):
    with csrf_app.app_context():
        make_camera("cam1")
        gap_id = make_gap("cam1", BASE_TIME, state="failed").id
        make_user("boss", "manager")
    client = csrf_app.test_client()
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    client.post("/login", data={"username": "boss", "password": PASSWORD, "csrf_token": token})
    url = f"/cameras/cam1/gaps/{gap_id}/retry"
    refused = client.post(url, headers={"HX-Request": "true"})
    assert refused.status_code == 400 and refused.headers["HX-Retarget"] == "#messages"
    page = client.get("/cameras/cam1/gaps").get_data(as_text=True)
    ok = client.post(url, headers={"HX-Request": "true", "X-CSRFToken": csrf_token_from(page)})
    assert ok.status_code == 200 and ok.get_data(as_text=True).lstrip().startswith("<tr")


def test_an_unknown_address_is_a_404_in_the_sites_words(login_as):
    resp = login_as("viewer").get("/no/such/page")
    assert resp.status_code == 404
    assert "There is no page at this address" in resp.text and "the server" not in resp.text
    assert "Back to the cameras" in resp.text
