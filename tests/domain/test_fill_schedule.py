"""A camera's own fill schedule: set from the admin form and the CLI, shown where operators look."""

from tests.factories import make_camera
from tests.page import page
from webapp.extensions import db as _db
from webapp.models import AuditLog
from webapp.models import Camera

FORM = {
    "name": "Gate",
    "timezone": "Europe/Berlin",
    "vendor": "generic",
    "rtsp_port": "554",
    "http_port": "80",
    "channel": "1",
    "anr_enabled": "on",
    "enabled": "on",
    "anr_replay_url_template": "rtsp://10.0.0.9/replay?from={start_iso}&to={end_iso}",
    "segment_seconds": "60",
}


def test_the_admin_form_sets_checks_and_clears_a_fill_window(db, login_as):
    make_camera("gate", anr_enabled=True)
    admin = login_as("admin")
    form = page(admin.get("/admin/cameras/gate").text)
    assert "Fill schedule (camera time)" in form.text
    assert "any time (no fleet setting)" in form.text

    bad = admin.post("/admin/cameras/gate", data=dict(FORM, fill_window="10pm-6am"))
    assert bad.status_code == 422
    assert "use HH:MM-HH:MM in camera time, e.g. 22:00-06:00" in page(bad.text).text
    db.session.expire_all()
    assert db.session.get(Camera, "gate").fill_window is None

    saved = admin.post("/admin/cameras/gate", data=dict(FORM, fill_window="22:00 - 6:00"))
    assert saved.status_code == 303
    db.session.expire_all()
    assert db.session.get(Camera, "gate").fill_window == "22:00-06:00"
    audit = db.session.query(AuditLog).filter_by(action="camera_update").one()
    assert audit.detail["changed"]["fill_window"] == [None, "22:00-06:00"]

    shown = page(admin.get("/cameras/gate/gaps").text)
    schedule = shown.find(id="fill-schedule").text
    assert "between 22:00-06:00 camera time (this camera's schedule)" in schedule

    admin.post("/admin/cameras/gate", data=dict(FORM, fill_window=""))
    db.session.expire_all()
    assert db.session.get(Camera, "gate").fill_window is None


def test_the_camera_page_names_the_fleet_window_when_the_camera_has_none(app, db, login_as):
    app.config["ANR_FILL_WINDOW"] = "23:00-05:00"
    make_camera("gate", anr_enabled=True)
    viewer = login_as("viewer")
    schedule = page(viewer.get("/cameras/gate/gaps").text).find(id="fill-schedule").text
    assert "between 23:00-05:00 camera time (the fleet setting)" in schedule
    admin = login_as("admin")
    assert "the fleet setting, 23:00-05:00" in page(admin.get("/admin/cameras/gate").text).text


def test_the_cli_sets_and_clears_a_fill_window_and_refuses_a_bad_one(runner, app):
    add = ["cameras", "add", "gate", "--name", "Gate", "--fill-window", "22:00-06:00"]
    assert runner.invoke(args=add).exit_code == 0
    with app.app_context():
        assert _db.session.get(Camera, "gate").fill_window == "22:00-06:00"
    bad = runner.invoke(args=["cameras", "edit", "gate", "--fill-window", "22:00-22:00"])
    assert bad.exit_code != 0 and "fill_window: start and end are the same time" in bad.output
    cleared = runner.invoke(args=["cameras", "edit", "gate", "--fill-window", ""])
    assert cleared.exit_code == 0 and "fill_window" in cleared.output
    with app.app_context():
        assert _db.session.get(Camera, "gate").fill_window is None


def test_the_api_and_the_queue_show_each_cameras_window(db, login_as):
    make_camera("gate", anr_enabled=True, fill_window="22:00-06:00", name="Gate")
    make_camera("lobby", anr_enabled=True)
    viewer = login_as("viewer")
    cams = {c["id"]: c for c in viewer.get("/api/v1/cameras").json}
    assert cams["gate"]["fill_window"] == "22:00-06:00" and cams["lobby"]["fill_window"] is None
    body = viewer.get("/api/v1/queue").json
    assert [w["camera_id"] for w in body["camera_windows"]] == ["gate"]
    assert body["camera_windows"][0]["fill_window"] == "22:00-06:00"
    schedules = page(viewer.get("/queue").text).find("section", aria_labelledby="h-schedules").text
    assert "Gate" in schedules and "22:00-06:00 camera time (UTC)" in schedules
    scoped = login_as("viewer", cameras=["lobby"])
    assert scoped.get("/api/v1/queue").json["camera_windows"] == []
