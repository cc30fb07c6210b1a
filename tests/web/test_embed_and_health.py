"""Embedding (signed single sign-on, framing policy, cookies) and health/metrics endpoints."""

import re

import pytest

from tests.factories import make_api_key
from tests.factories import make_camera
from tests.factories import make_gap
from tests.factories import make_running_fill
from tests.factories import make_user
from webapp.models import AuditLog


@pytest.fixture
def embed_app(make_app):
    app = make_app(ANR_EMBED_ORIGINS="https://vms.example https://console.example")
    with app.app_context():
        make_camera("cam1")
        make_camera("cam2")
        make_gap("cam1", state="failed")
        make_user("op", "manager")
        token = make_api_key("integration", name="vms")
    app.config["TEST_KEY"] = {"Authorization": f"Bearer {token}"}
    return app


def _mint(app, client, **body):
    return client.post("/api/v1/embed-sessions", json=body, headers=app.config["TEST_KEY"])


def test_mint_and_redeem_narrowed_to_one_camera(embed_app):
    client = embed_app.test_client()
    resp = _mint(embed_app, client, username="op", camera_id="cam1", ttl_seconds=60)
    assert resp.status_code == 201 and resp.json["url"].startswith("/embed/start?token=")
    browser = embed_app.test_client()
    landing = browser.get(resp.json["url"])
    assert landing.status_code == 302 and landing.location.endswith("/embed/cameras/cam1/gaps")
    cookie = landing.headers["Set-Cookie"]
    assert "SameSite=None" in cookie and "Secure" in cookie and "Partitioned" in cookie
    page = browser.get("/embed/cameras/cam1/gaps")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'class="embed"' in html and "topbar" not in html
    # The session is narrowed to cam1: cam2 is out of scope, here and in the API.
    assert browser.get("/embed/cameras/cam2/gaps").status_code == 403
    assert [c["id"] for c in browser.get("/api/v1/cameras").json] == ["cam1"]
    with embed_app.app_context():
        from webapp.extensions import db

        actions = [r.action for r in db.session.scalars(db.select(AuditLog))]
        assert actions == ["embed_session_create"]


def test_token_is_single_use(embed_app):
    url = _mint(embed_app, embed_app.test_client(), username="op").json["url"]
    assert embed_app.test_client().get(url).status_code == 302
    replay = embed_app.test_client().get(url)
    assert replay.status_code == 403 and "already used" in replay.get_data(as_text=True)


def test_forged_and_expired_tokens_are_refused(embed_app, monkeypatch):
    assert embed_app.test_client().get("/embed/start?token=forged").status_code == 403
    url = _mint(embed_app, embed_app.test_client(), username="op", ttl_seconds=1).json["url"]
    from datetime import timedelta

    import webapp.domain.embed_tokens as tokens

    later = tokens.utcnow() + timedelta(seconds=5)
    monkeypatch.setattr(tokens, "utcnow", lambda: later)
    resp = embed_app.test_client().get(url)
    assert resp.status_code == 403 and "expired" in resp.get_data(as_text=True)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "ghost"}, "username"),
        ({}, "username"),
        ({"username": "op", "ttl_seconds": 301}, "ttl_seconds"),
        ({"username": "op", "ttl_seconds": "60"}, "ttl_seconds"),
        ({"username": "op", "camera_id": 5}, "camera_id"),
    ],
)
def test_mint_validation(embed_app, body, field):
    resp = _mint(embed_app, embed_app.test_client(), **body)
    assert resp.status_code == 422 and field in resp.json["fields"]


def test_mint_needs_admin_or_integration(embed_app, login_as):
    with embed_app.app_context():
        token = make_api_key("manager")
    resp = embed_app.test_client().post(
        "/api/v1/embed-sessions",
        json={"username": "op"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert resp.status_code == 403


def test_framing_allowed_only_for_embed_pages_and_listed_origins(embed_app):
    client = embed_app.test_client()
    client.get(_mint(embed_app, client, username="op").json["url"])
    embed = client.get("/embed/cameras").headers["Content-Security-Policy"]
    assert "frame-ancestors 'self' https://vms.example https://console.example" in embed
    full = client.get("/cameras").headers
    assert "frame-ancestors 'self';" in full["Content-Security-Policy"] + ";"
    assert full["X-Frame-Options"] == "SAMEORIGIN"


def test_embed_pages_link_inside_embed(embed_app):
    client = embed_app.test_client()
    client.get(_mint(embed_app, client, username="op").json["url"])
    html = client.get("/embed/cameras").get_data(as_text=True)
    assert 'href="/embed/cameras/cam1/gaps"' in html
    assert 'href="/cameras/cam1/gaps"' not in html


def test_a_fleet_embed_session_can_return_to_its_camera_list(embed_app):
    """From a camera page inside the iframe, a fleet-wide session gets back to the list."""
    client = embed_app.test_client()
    client.get(_mint(embed_app, client, username="op").json["url"])
    html = client.get("/embed/cameras/cam1/gaps").get_data(as_text=True)
    back = re.search(r'<a href="([^"]+)">← All cameras</a>', html)
    assert back and back.group(1) == "/embed/cameras"
    assert client.get(back.group(1)).status_code == 200
    # A session narrowed to one camera has no list to go back to.
    narrow = embed_app.test_client()
    narrow.get(_mint(embed_app, narrow, username="op", camera_id="cam1").json["url"])
    assert "All cameras" not in narrow.get("/embed/cameras/cam1/gaps").get_data(as_text=True)


def test_embed_origins_meta_is_present_for_postmessage(embed_app):
    client = embed_app.test_client()
    client.get(_mint(embed_app, client, username="op", camera_id="cam1").json["url"])
    html = client.get("/embed/cameras/cam1/gaps").get_data(as_text=True)
    assert (
        'name="replenish-embed-origins" content="https://vms.example https://console.example"'
        in html
    )


def test_healthz_needs_no_auth_and_says_little(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200 and resp.json == {"status": "ok"}


def test_readyz_reports_database_and_heartbeat_age(app, client):
    from webapp.extensions import db
    from webapp.models import WorkerHeartbeat
    from webapp.models import utcnow

    body = client.get("/readyz").json
    assert body["database"] == "ok" and body["worker_heartbeat_age_s"] is None
    with app.app_context():
        db.session.add(WorkerHeartbeat(worker_id="w1", seen_at=utcnow()))
        db.session.commit()
    age = client.get("/readyz").json["worker_heartbeat_age_s"]
    assert age is not None and 0 <= age < 5


def test_metrics_need_admin_or_integration(app, client, login_as):
    assert client.get("/metrics").status_code == 401
    viewer = login_as("viewer")
    assert viewer.get("/metrics").status_code == 403
    key = login_as("integration")
    resp = client.get("/metrics", headers=key)
    assert resp.status_code == 200
    text = resp.get_data(as_text=True)
    assert 'replenish_gaps{state="pending"} 0' in text
    assert "replenish_fill_duration_seconds_count 0" in text


def test_a_scoped_key_mints_sessions_no_wider_than_itself(embed_app):
    from webapp.extensions import db
    from webapp.models import User

    with embed_app.app_context():
        token = make_api_key("integration", cameras=["cam1"], name="narrow")
        make_user("boss", "admin")
    key = {"Authorization": f"Bearer {token}"}
    client = embed_app.test_client()
    refused = client.post("/api/v1/embed-sessions", json={"username": "boss"}, headers=key)
    assert refused.status_code == 403  # an integration key cannot sign in an admin
    url = client.post("/api/v1/embed-sessions", json={"username": "op"}, headers=key).json["url"]
    browser = embed_app.test_client()
    browser.get(url)
    assert [c["id"] for c in browser.get("/api/v1/cameras").json] == ["cam1"]
    assert browser.get("/api/v1/cameras/cam2/recording-gaps").status_code == 403
    with embed_app.app_context():
        assert db.session.scalars(db.select(User).where(User.username == "op")).one().scope is None


def test_metrics_refuse_scoped_keys(app, client):
    with app.app_context():
        token = make_api_key("integration", cameras=["cam1"])
    resp = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 403


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_sign_on_tokens_never_reach_the_gunicorn_access_log(tmp_path):
    """§18: ``make run``'s web app (gunicorn, as runall starts it) logs the request redacted."""
    import os
    import subprocess
    import time
    import urllib.error
    import urllib.request
    from pathlib import Path

    from webapp import create_app
    from webapp.cli.runall import children
    from webapp.extensions import db as _db

    url = f"sqlite:///{tmp_path / 'run.db'}"
    env = dict(
        os.environ,
        DATABASE_URL=url,
        REPLENISH_INSTANCE=str(tmp_path / "instance"),
        SECRET_KEY="access-log-test",
    )
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "access-log-test"})
    with app.app_context():
        _db.create_all()
        _db.engine.dispose()
    port = _free_port()
    log = (tmp_path / "gunicorn.log").open("w+")
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        children(port, 0)["web app"], cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    secret = "SIGNONSECRET0123456789"
    try:
        for _ in range(200):  # bounded wait for the server to listen
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/embed/start?token={secret}")
            except urllib.error.HTTPError as exc:
                assert exc.code == 403  # a forged token is refused
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError("gunicorn did not start")
        for _ in range(50):  # the access line is written after the answer
            log.seek(0)
            text = log.read()
            if "/embed/start" in text:
                break
            time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    log.seek(0)
    text = log.read()
    assert "/embed/start?token=[redacted]" in text, text[-2000:]
    assert secret not in text


def test_sign_on_tokens_never_reach_the_werkzeug_request_log(tmp_path):
    """The development server (``flask run``, tests.serve_app) logs the request redacted."""
    import os
    import subprocess
    import sys
    import urllib.error
    import urllib.request
    from pathlib import Path

    env = dict(os.environ, REPLENISH_INSTANCE=str(tmp_path / "instance"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.serve_app", f"sqlite:///{tmp_path / 'serve.db'}"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    secret = "SIGNONSECRET9876543210"
    try:
        port = int(proc.stdout.readline())
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/embed/start?token={secret}")
        except urllib.error.HTTPError as exc:
            assert exc.code == 403
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert "/embed/start?token=[redacted]" in err, err[-2000:]
    assert secret not in err


def test_an_ended_embed_session_answers_in_the_frame_never_with_the_login_page(embed_app):
    browser = embed_app.test_client()
    page = browser.get("/embed/cameras/cam1/gaps")
    html = page.get_data(as_text=True)
    assert page.status_code == 401 and "Location" not in page.headers
    assert "Your Replenish session has ended" in html and "data-session-ended" in html
    assert "frame-ancestors 'self' https://vms.example" in page.headers["Content-Security-Policy"]
    # htmx (a Retry in the frame: it posts under /embed) is sent to the framable page, saying
    # what was lost.
    late = browser.post("/embed/cameras/cam1/gaps/g1/retry", headers={"HX-Request": "true"})
    assert late.status_code == 401
    assert late.headers["HX-Redirect"] == "/embed/session-ended?lost=Retry"
    ended = browser.get(late.headers["HX-Redirect"]).get_data(as_text=True)
    assert "Your Retry was not done." in ended
    assert "was not done" not in browser.get("/embed/session-ended?lost=<b>").text


def test_metrics_keep_their_names_and_labels_in_prometheus_text(app, client, login_as, db):
    make_camera("cam1")
    make_gap("cam1", state="failed")
    text = client.get("/metrics", headers=login_as("integration")).get_data(as_text=True)
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    assert types == {
        "replenish_gaps": "gauge",
        "replenish_fills_total": "counter",
        "replenish_fill_duration_seconds": "histogram",
        "replenish_worker_heartbeat_age_seconds": "gauge",
    }
    assert re.search(r'^replenish_gaps\{state="failed"\} 1(\.0)?$', text, re.M)
    assert 'replenish_fill_duration_seconds_bucket{le="3600"}' in text
    assert 'replenish_fill_duration_seconds_bucket{le="+Inf"}' in text
    assert "replenish_worker_heartbeat_age_seconds NaN" in text


def test_metrics_gather_gunicorn_workers_only_with_a_multiprocess_dir(
    app, client, login_as, tmp_path, monkeypatch
):
    from webapp.health import views as health

    assert not any(
        "MultiProcess" in type(c).__name__ for c in health.registry()._collector_to_names
    )
    (tmp_path / "prom").mkdir()  # its own folder: the library reads every *.db file in it
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "prom"))
    collectors = health.registry()._collector_to_names
    assert any("MultiProcess" in type(c).__name__ for c in collectors)
    resp = client.get("/metrics", headers=login_as("integration"))
    assert resp.status_code == 200 and "replenish_gaps" in resp.get_data(as_text=True)


def test_embed_timeline_pans_inside_embed(embed_app):
    client = embed_app.test_client()
    client.get(_mint(embed_app, client, username="op").json["url"])
    html = client.get("/embed/cameras/cam1/gaps?range=7d").get_data(as_text=True)
    earlier = re.search(r'id="tl-earlier" href="([^"]+)"', html).group(1)
    assert earlier.startswith("/embed/cameras/cam1/gaps?") and "end=" in earlier
    resp = client.get(earlier.replace("&amp;", "&"))
    assert resp.status_code == 200 and 'id="tl-later" href="/embed/cameras/cam1/gaps?' in resp.text
    assert client.get("/embed/cameras/cam1/gaps?end=soon").status_code == 400


def _running_fills(embed_app):
    """A running fill on cam1 and one on cam2 (as the worker leaves them mid-copy)."""

    from webapp.extensions import db
    from webapp.models import Camera
    from webapp.models import utcnow

    now = utcnow().replace(microsecond=0)
    ids = {}
    with embed_app.app_context():
        for cam, name in (("cam1", "Lobby door"), ("cam2", "Loading dock")):
            db.session.get(Camera, cam).name = name
            ids[cam] = make_running_fill(cam, now, started_at=now).id
        make_user("watcher", "viewer")
        db.session.commit()
    return ids


def test_embed_queue_is_scoped_and_a_manager_session_stops_a_fill(embed_app):
    from tests.conftest import csrf_token_from
    from tests.page import page

    ids = _running_fills(embed_app)
    client = embed_app.test_client()
    client.get(_mint(embed_app, client, username="op", camera_id="cam1").json["url"])
    resp = client.get("/embed/queue")
    assert resp.status_code == 200
    doc = page(resp.get_data(as_text=True))
    text = doc.text
    assert "Lobby door" in text and "Loading dock" not in text
    assert "Acting as" in text and "manager" in text
    assert doc.find("body").attrs["class"] == "embed"
    stop = doc.find("button", **{"aria-label": "Stop the fill of Lobby door"})
    assert stop.text == "Stop"
    form = [f for f in doc.find_all("form") if f.attrs.get("action", "").endswith("/stop")][0]
    assert form.attrs["action"] == f"/embed/queue/cam1/{ids['cam1']}/stop"
    # Links stay inside the embed.
    assert "/embed/cameras/cam1/gaps" in " ".join(h or "" for h in doc.hrefs())
    token = csrf_token_from(resp.get_data(as_text=True))
    answer = client.post(
        form.attrs["action"], data={"csrf_token": token}, headers={"HX-Request": "true"}
    )
    assert answer.status_code == 200
    assert "Stop sent for Lobby door" in page(answer.get_data(as_text=True)).text
    # Out of scope: cam2's fill cannot be stopped from this session.
    out = client.post(
        f"/embed/queue/cam2/{ids['cam2']}/stop",
        data={"csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert out.status_code in (403, 404)
    with embed_app.app_context():
        from webapp.extensions import db

        actions = [r.action for r in db.session.scalars(db.select(AuditLog))]
        assert actions.count("anr_stop_fill") == 1


def test_embed_queue_viewer_session_has_no_stop_and_is_refused(embed_app):
    from tests.conftest import csrf_token_from
    from tests.page import page

    ids = _running_fills(embed_app)
    client = embed_app.test_client()
    client.get(_mint(embed_app, client, username="watcher").json["url"])
    resp = client.get("/embed/queue")
    doc = page(resp.get_data(as_text=True))
    assert "Lobby door" in doc.text and "Loading dock" in doc.text
    assert not [b for b in doc.find_all("button") if b.text == "Stop"]
    refused = client.post(
        f"/embed/queue/cam1/{ids['cam1']}/stop",
        data={"csrf_token": csrf_token_from(resp.get_data(as_text=True))},
        headers={"HX-Request": "true"},
    )
    assert refused.status_code == 403


def test_lost_actions_name_real_endpoints_on_the_site_and_in_the_embed(embed_app):
    """Every action a lost session names is a route, and the embed's own actions are named."""
    from webapp.auth.unauthorized import LOST_ACTIONS

    assert set(LOST_ACTIONS) <= set(embed_app.view_functions)
    assert LOST_ACTIONS["embed.retry_gap_row"] == "Retry"
    assert LOST_ACTIONS["embed_queue.stop_fill"] == "Stop"
    # A Stop from the embedded queue after the session ended says so in the frame.
    late = embed_app.test_client().post("/embed/queue/cam1/g1/stop", headers={"HX-Request": "true"})
    assert late.status_code == 401
    assert late.headers["HX-Redirect"] == "/embed/session-ended?lost=Stop"
