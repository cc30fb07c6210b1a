"""Camera admin: list, create, edit, placeholders, masked preview, 422 with nothing saved."""

import pytest

from tests.factories import make_camera
from tests.page import page
from webapp.models import AuditLog
from webapp.models import Camera
from webapp.models import WebhookDelivery
from webapp.models import utcnow

VALID = {
    "id": "gate",
    "name": "Gate",
    "site": "HQ",
    "timezone": "Europe/Berlin",
    "vendor": "generic",
    "address": "10.0.0.9",
    "rtsp_port": "554",
    "http_port": "80",
    "channel": "1",
    "username": "admin",
    "password": "s3cret-pass",
    "anr_enabled": "on",
    "enabled": "on",
    "anr_replay_url_template": "rtsp://10.0.0.9/replay?from={start_iso}&to={end_iso}",
    "anr_max_gap_hours": "48",
    "segment_seconds": "60",
}


@pytest.mark.parametrize("role", ["viewer", "guard", "manager"])
def test_only_admins_manage_cameras(db, login_as, role):
    make_camera("cam1")
    session = login_as(role)
    for url in ("/admin/cameras", "/admin/cameras/new", "/admin/cameras/cam1"):
        resp = session.get(url)
        assert resp.status_code == 403 and "not permitted to manage cameras" in resp.text
    assert session.post("/admin/cameras/new", data=VALID).status_code == 403
    assert db.session.get(Camera, "gate") is None


def test_list_shows_cameras_with_masked_templates(db, login_as):
    make_camera("cam1")
    # A template with credentials, as an earlier build stored them (now refused on input).
    db.session.get(Camera, "cam1").anr_replay_url_template = "rtsp://u:pw@10.0.0.1/r?s={start}"
    db.session.commit()
    html = login_as("admin").get("/admin/cameras").get_data(as_text=True)
    assert "/admin/cameras/cam1" in html and "rtsp://***@10.0.0.1/r?s={start}" in html
    assert "pw@" not in html


def test_new_form_explains_every_placeholder(db, login_as):
    html = login_as("admin").get("/admin/cameras/new").get_data(as_text=True)
    for name in (
        "start",
        "end",
        "start_iso",
        "end_iso",
        "start_epoch",
        "end_epoch",
        "start_dahua",
        "end_dahua",
        "seconds",
        "channel",
    ):
        assert f"<code>{{{name}}}</code>" in html
    assert 'hx-post="/admin/replay-url-preview"' in html


def test_create_saves_audits_and_never_shows_the_password(db, login_as):
    admin = login_as("admin")
    resp = admin.post("/admin/cameras/new", data=VALID)
    assert resp.status_code == 303 and resp.location.endswith("/admin/cameras/gate")
    camera = db.session.get(Camera, "gate")
    assert camera.anr_enabled and camera.timezone == "Europe/Berlin"
    assert camera.password_encrypted and "s3cret" not in camera.password_encrypted
    row = db.session.scalars(db.select(AuditLog)).one()
    assert row.action == "camera_create" and "s3cret" not in str(row.detail)
    html = admin.get("/admin/cameras/gate").get_data(as_text=True)
    assert "s3cret" not in html and "A password is stored" in html
    # The preview shows the URL for a sample window, credentials masked.
    assert "rtsp://***@10.0.0.9/replay?from=" in html


def test_invalid_create_is_422_with_messages_and_nothing_saved(db, login_as):
    data = dict(VALID, id="Bad Id!", timezone="Mars/Olympus", anr_replay_url_template="ftp://x")
    resp = login_as("admin").post("/admin/cameras/new", data=data)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert "Nothing was saved: fix the 3 fields marked below." in html
    assert 'id="e-id"' in html and 'id="e-timezone"' in html
    assert 'id="e-anr_replay_url_template"' in html and 'aria-invalid="true"' in html
    assert 'value="Gate"' in html  # the rest of what was typed is kept
    assert "s3cret-pass" not in html  # the password is never sent back
    assert db.session.scalars(db.select(Camera)).all() == []
    assert db.session.scalars(db.select(AuditLog)).all() == []


def test_anr_without_template_for_a_vendor_without_default_is_refused(db, login_as):
    data = dict(VALID, vendor="axis", anr_replay_url_template="")
    resp = login_as("admin").post("/admin/cameras/new", data=data)
    assert resp.status_code == 422 and "a template is needed to turn ANR on" in resp.text


def test_an_onvif_camera_needs_no_template_and_every_vendor_is_offered(db, login_as):
    admin = login_as("admin")
    form = admin.get("/admin/cameras/new").get_data(as_text=True)
    for label in ("Hikvision", "Dahua", "ONVIF (Profile G)", "Axis", "Generic"):
        assert label in form
    data = dict(VALID, vendor="onvif", anr_replay_url_template="")
    resp = admin.post("/admin/cameras/new", data=data)
    assert resp.status_code == 303, resp.text
    camera = db.session.get(Camera, "gate")
    assert camera.vendor == "onvif" and camera.anr_enabled and camera.replay_clock == "utc"
    listing = admin.get("/admin/cameras").get_data(as_text=True)
    assert "vendor default" in listing


def test_edit_saves_changes_and_audits_what_changed(db, login_as):
    make_camera("cam1", name="Old name")
    admin = login_as("admin")
    data = dict(VALID, name="New name", password="")
    data.pop("id")
    resp = admin.post("/admin/cameras/cam1", data=data)
    assert resp.status_code == 303
    db.session.expire_all()
    assert db.session.get(Camera, "cam1").name == "New name"
    row = db.session.scalars(db.select(AuditLog)).one()
    assert row.action == "camera_update" and row.detail["changed"]["name"] == [
        "Old name",
        "New name",
    ]


def test_invalid_edit_changes_nothing(db, login_as):
    make_camera("cam1", name="Keep me")
    data = dict(VALID, name="Changed", rtsp_port="99999")
    data.pop("id")
    resp = login_as("admin").post("/admin/cameras/cam1", data=data)
    assert resp.status_code == 422 and "must be between 1 and 65535" in resp.text
    db.session.expire_all()
    camera = db.session.get(Camera, "cam1")
    assert camera.name == "Keep me" and camera.rtsp_port == 554
    assert db.session.scalars(db.select(AuditLog)).all() == []


def test_live_preview_masks_credentials_and_explains_problems(db, login_as):
    admin = login_as("admin")
    ok = admin.post(
        "/admin/replay-url-preview",
        data={
            "vendor": "hikvision",
            "address": "10.1.1.1",
            "rtsp_port": "554",
            "channel": "2",
            "username": "admin",
            "anr_replay_url_template": "",
        },
        headers={"HX-Request": "true"},
    )
    html = ok.get_data(as_text=True)
    assert ok.status_code == 200 and "<html" not in html and 'id="url-preview"' in html
    assert "rtsp://***@10.1.1.1:554/Streaming/tracks/201?starttime=" in html
    bad = admin.post(
        "/admin/replay-url-preview",
        data={"vendor": "generic", "anr_replay_url_template": "rtsp://x/{nope}"},
        headers={"HX-Request": "true"},
    )
    assert "unknown placeholder {nope}" in bad.text


def test_scoped_admin_cannot_edit_other_cameras(db, login_as):
    make_camera("cam1")
    make_camera("cam2")
    admin = login_as("admin", cameras=["cam1"])
    assert admin.get("/admin/cameras/cam2").status_code == 403
    html = admin.get("/admin/cameras").get_data(as_text=True)
    assert "/admin/cameras/cam1" in html and "/admin/cameras/cam2" not in html


def test_download_bandwidth_cap_is_saved_and_checked(db, login_as):
    make_camera("cam1")
    admin = login_as("admin")
    assert 'name="max_kbps"' in admin.get("/admin/cameras/cam1").text
    data = dict(VALID, max_kbps="not fast")
    data.pop("id")
    resp = admin.post("/admin/cameras/cam1", data=data)
    assert resp.status_code == 422 and "must be a whole number" in resp.text
    resp = admin.post("/admin/cameras/cam1", data=dict(data, max_kbps="2048"))
    assert resp.status_code == 303
    db.session.expire_all()
    assert db.session.get(Camera, "cam1").max_kbps == 2048
    resp = admin.post("/admin/cameras/cam1", data=dict(data, max_kbps=""))
    db.session.expire_all()
    assert db.session.get(Camera, "cam1").max_kbps is None


def test_camera_form_offers_iana_zones_a_wide_template_and_the_retention_default(db, login_as, app):
    app.config["ANR_MAX_GAP_HOURS"] = 48.0
    seen = page(login_as("admin").get("/admin/cameras/new").get_data(as_text=True))
    zones = [o.text for o in seen.find(id="f-timezone").find_all("option")]
    assert zones[0] == "UTC" and "Europe/Berlin" in zones and len(zones) > 300
    template = seen.find("textarea", id="f-anr_replay_url_template")
    assert "{start" in template.attrs["placeholder"]
    assert "wide" in template.parent.attrs["class"]
    retention = seen.find(id="f-anr_max_gap_hours")
    assert retention.attrs["placeholder"] == "48"
    help_text = retention.parent.find("p").text
    assert "fleet default, 48 hours" in help_text and "ANR_MAX_GAP_HOURS" not in help_text


def test_admin_camera_table_has_one_camera_header_and_scrolls(db, login_as):
    make_camera("cam1", name="Gate")
    seen = page(login_as("admin").get("/admin/cameras").get_data(as_text=True))
    headers = [th.text for th in seen.find("table").find("thead").find_all("th")]
    assert [h for h in headers if h.lower() == "camera"] == ["Camera"]
    assert "Recording" in headers
    assert "table-wrap" in seen.find("table").parent.attrs["class"]
    assert "Never recorded" in seen.row("Gate").text


def test_replay_clock_and_fill_method_are_set_from_the_form(db, login_as):
    admin = login_as("admin")
    html = admin.get("/admin/cameras/new").get_data(as_text=True)
    assert 'name="replay_clock"' in html and 'name="fill_method"' in html
    data = dict(VALID, vendor="dahua", anr_replay_url_template="", fill_method="replay")
    assert admin.post("/admin/cameras/new", data=data).status_code == 303
    camera = db.session.get(Camera, "gate")
    assert (camera.replay_clock, camera.fill_method) == ("local", "replay")  # Dahua default
    # The preview renders the replay times in the camera's clock (Berlin wall time, no Z).
    html = admin.get("/admin/cameras/gate").get_data(as_text=True)
    assert "starttime=20" in html and "Z&amp;endtime" not in html

    data = dict(VALID, replay_clock="mars", fill_method="carrier-pigeon")
    data.pop("id")
    resp = admin.post("/admin/cameras/gate", data=data)
    assert resp.status_code == 422
    assert 'id="e-replay_clock"' in resp.text and 'id="e-fill_method"' in resp.text
    data.update(replay_clock="utc", fill_method="auto")
    assert admin.post("/admin/cameras/gate", data=data).status_code == 303
    db.session.expire_all()
    assert db.session.get(Camera, "gate").replay_clock == "utc"


def test_admin_sees_each_alert_receivers_last_status(db, login_as, app):
    app.config["ANR_WEBHOOK_URLS"] = "http://hooks.example/a https://user:pw@hooks.example/b"
    now = utcnow()
    db.session.add_all(
        [
            WebhookDelivery(
                receiver="http://hooks.example/a",
                event="camera.stale",
                body="{}",
                state="pending",
                attempts=2,
                last_attempt_at=now,
                last_status="HTTP 500",
            ),
            WebhookDelivery(
                receiver="https://user:pw@hooks.example/b",
                event="recording_gap.failed",
                body="{}",
                state="delivered",
                attempts=1,
                last_attempt_at=now,
                last_status="HTTP 204",
                delivered_at=now,
            ),
        ]
    )
    db.session.commit()
    html = login_as("admin").get("/admin/cameras").get_data(as_text=True)
    seen = page(html)
    failing = seen.row("http://hooks.example/a").text
    assert "HTTP 500" in failing and "camera.stale" in failing
    assert "pw@" not in html  # receiver credentials are masked
    assert "HTTP 204" in seen.row("https://***@hooks.example/b").text


def test_a_manager_is_told_the_capability_the_page_needs(db, login_as):
    manager = login_as("manager")
    users = manager.get("/admin/users")
    assert users.status_code == 403
    assert "manage users and API keys" in users.text and "manage cameras" not in users.text
    assert "manage users and API keys" in manager.get("/admin/api-keys").text
    assert "manage cameras" in manager.get("/admin/cameras").text


def test_a_scope_naming_an_unknown_camera_is_422_naming_it(db, login_as, runner):
    make_camera("lobby")
    admin = login_as("admin")
    form = {"username": "mona", "role": "manager", "cameras": "lobby, lobbby"}
    resp = admin.post("/admin/users", data=form)
    assert resp.status_code == 422 and "no such camera: lobbby" in resp.text
    key = admin.post(
        "/admin/api-keys", data={"name": "vms", "role": "integration", "cameras": "lobbby"}
    )
    assert key.status_code == 422 and "no such camera: lobbby" in key.text
    assert admin.post("/admin/users", data={**form, "cameras": "lobby"}).status_code == 200
    cli = runner.invoke(args=["users", "create", "tom", "--role", "viewer", "--cameras", "lobbby"])
    assert cli.exit_code != 0 and "no such camera: lobbby" in cli.output
    cli = runner.invoke(args=["apikeys", "create", "k2", "--role", "viewer", "--cameras", "lobbby"])
    assert cli.exit_code != 0 and "no such camera: lobbby" in cli.output


def test_the_replay_template_may_name_the_cameras_address_and_ports(db, login_as):
    make_camera("cam1")
    admin = login_as("admin")
    assert "{address}" in page(admin.get("/admin/cameras/new").text).text
    data = dict(VALID, address="10.0.0.42", rtsp_port="10554", http_port="8080")
    data["anr_replay_url_template"] = (
        "rtsp://{address}:{rtsp_port}/replay?from={start}&h={http_port}"
    )
    data.pop("id")
    assert admin.post("/admin/cameras/cam1", data=data).status_code == 303
    preview = page(admin.get("/admin/cameras/cam1").text).find(id="url-preview").text
    assert "@10.0.0.42:10554/replay?from=" in preview and "h=8080" in preview
    missing = admin.post("/admin/replay-url-preview", data=dict(data, address=""))
    assert "uses {address}: set the camera's address" in page(missing.text).text


def test_an_admin_deletes_a_camera_from_its_page_audited_and_the_files_stay(db, login_as, app):
    from pathlib import Path

    from tests.factories import make_gap
    from webapp.models import RecordingGap

    make_camera("gate", name="Gate")
    make_gap("gate")
    archive = Path(app.config["ANR_RECORDINGS_DIR"]) / "gate"
    archive.mkdir(parents=True, exist_ok=True)
    (archive / "20260613_120000.mp4").write_bytes(b"footage")
    admin = login_as("admin")
    form = page(admin.get("/admin/cameras/gate").text).find(id="h-delete").parent
    assert "archive files stay on disk" in form.text
    button = form.find("form")
    assert "Delete camera Gate" in button.attrs["hx-confirm"]

    resp = admin.post("/admin/cameras/gate/delete", headers={"HX-Request": "true"})
    assert resp.status_code == 204 and resp.headers["HX-Redirect"] == "/admin/cameras"
    db.session.expire_all()
    assert db.session.get(Camera, "gate") is None
    assert db.session.query(RecordingGap).count() == 0
    rows = db.session.query(AuditLog).filter_by(action="camera_delete").all()
    assert [r.target_id for r in rows] == ["gate"]
    assert (archive / "20260613_120000.mp4").read_bytes() == b"footage"
    assert "Camera Gate deleted" in page(admin.get("/admin/cameras").text).text
    assert admin.post("/admin/cameras/gate/delete").status_code == 404


def test_delete_camera_api_is_admin_only_and_checks_scope_before_existence(db, login_as):
    make_camera("gate")
    make_camera("lobby")
    assert login_as("manager").delete("/api/v1/cameras/gate").status_code == 403
    scoped = login_as("admin", cameras=["lobby"])
    assert scoped.delete("/api/v1/cameras/gate").status_code == 403
    assert scoped.delete("/api/v1/cameras/nope").status_code == 403  # no existence oracle
    admin = login_as("admin")
    assert admin.delete("/api/v1/cameras/nope").status_code == 404
    assert admin.delete("/api/v1/cameras/gate").status_code == 204
    db.session.expire_all()
    assert db.session.get(Camera, "gate") is None
    assert db.session.query(AuditLog).filter_by(action="camera_delete").count() == 1


def test_test_connection_is_admin_only_and_says_what_it_cannot_ask(db, login_as):
    make_camera("gate", vendor="generic", address="127.0.0.1", rtsp_port="9")
    manager = login_as("manager")
    assert manager.post("/admin/cameras/gate/test").status_code == 403
    assert manager.post("/api/v1/cameras/gate/test").status_code == 403
    admin = login_as("admin")
    assert "Test connection" in page(admin.get("/admin/cameras/gate").text).text
    answer = page(admin.post("/admin/cameras/gate/test").text).text
    assert "127.0.0.1:9 does not answer" in answer
    assert "do not report what their card holds" in answer
    assert "Fill method replay over RTSP" in answer
