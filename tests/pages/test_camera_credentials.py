"""Camera edits never destroy credentials; templates refuse typed-in user-info; no id oracle."""

from html.parser import HTMLParser

import pytest

from tests.factories import make_camera
from tests.factories import make_gap
from webapp.crypto import decrypt_secret
from webapp.crypto import encrypt_secret
from webapp.models import Camera

LEGACY_TEMPLATE = "rtsp://admin:p%40ss@10.0.0.9:554/Streaming/tracks/101?starttime={start}"
QUERY_TEMPLATE = "http://10.0.0.9/replay?user=admin&password=hunter22&from={start_iso}"
PASSWORD = "camera-pass 7"


class FormValues(HTMLParser):
    """What a browser would submit from the camera form: inputs, checked boxes, selects."""

    def __init__(self):
        super().__init__()
        self.values: dict[str, str] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        name = a.get("name")
        if tag == "input" and name and name != "csrf_token":
            if a.get("type") == "checkbox":
                if "checked" in a:
                    self.values[name] = a.get("value") or "on"
            else:
                self.values[name] = a.get("value") or ""
        elif tag == "select" and name:
            self._select = name
        elif tag == "textarea" and name:
            self._textarea = name
            self.values[name] = ""
        elif tag == "option" and self._select and "selected" in a:
            self.values[self._select] = a.get("value", "")

    def handle_data(self, data):
        if self._textarea:
            self.values[self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        if tag == "textarea":
            self._textarea = None


def _form_values(session, camera_id):
    parser = FormValues()
    parser.feed(session.get(f"/admin/cameras/{camera_id}").get_data(as_text=True))
    return parser.values


@pytest.mark.parametrize("template", [LEGACY_TEMPLATE, QUERY_TEMPLATE])
def test_edit_form_saved_unchanged_or_changed_keeps_template_and_password(db, login_as, template):
    make_camera("cam1", username="admin")
    camera = db.session.get(Camera, "cam1")
    # Stored as an earlier build allowed: credentials inside the template.
    camera.anr_replay_url_template = template
    camera.password_encrypted = encrypt_secret(PASSWORD)
    db.session.commit()
    admin = login_as("admin")
    values = _form_values(admin, "cam1")
    assert "hunter22" not in str(values) and "p%40ss" not in str(values)
    assert values["password"] == ""
    for change in ({}, {"name": "Renamed"}):
        resp = admin.post("/admin/cameras/cam1", data={**values, **change})
        assert resp.status_code == 303, resp.get_data(as_text=True)
        db.session.expire_all()
        camera = db.session.get(Camera, "cam1")
        assert camera.anr_replay_url_template == template
        assert decrypt_secret(camera.password_encrypted) == PASSWORD
    assert camera.name == "Renamed"


def test_userinfo_typed_into_a_template_is_refused_with_a_pointer(db, login_as):
    make_camera("cam1", anr_replay_url_template=None)
    admin = login_as("admin")
    values = _form_values(admin, "cam1")
    values["anr_replay_url_template"] = "rtsp://root:pw@10.0.0.9/replay?from={start}"
    resp = admin.post("/admin/cameras/cam1", data=values)
    assert resp.status_code == 422
    assert "Username and Password fields" in resp.get_data(as_text=True)
    masked = dict(values, anr_replay_url_template="rtsp://***@10.0.0.9/replay?from={start}")
    assert admin.post("/admin/cameras/cam1", data=masked).status_code == 422
    assert db.session.get(Camera, "cam1").anr_replay_url_template is None


def test_cli_refuses_userinfo_in_a_template(app, runner):
    result = runner.invoke(
        args=["cameras", "add", "c2", "--name", "C2", "--template", "rtsp://u:p@h/x?s={start}"]
    )
    assert result.exit_code != 0 and "Username and Password fields" in result.output


def test_last_error_is_masked_in_json(db, login_as):
    make_camera("cam1")
    gap = make_gap("cam1", state="failed", last_error="refused by rtsp://root:hunter22@10.0.0.9/")
    viewer = login_as("viewer")
    listed = viewer.get("/api/v1/cameras/cam1/recording-gaps").json
    assert listed[0]["last_error"] == "refused by rtsp://***@10.0.0.9/"
    manager = login_as("manager")
    retried = manager.post(f"/api/v1/cameras/cam1/recording-gaps/{gap.id}/retry").json
    assert "hunter22" not in str(retried)


def test_scoped_admin_learns_nothing_from_already_exists(db, login_as):
    make_camera("secret-cam")
    make_camera("mine")
    admin = login_as("admin", cameras=["mine", "new-one"])
    base = {"name": "X", "vendor": "generic", "timezone": "UTC"}
    taken = admin.post("/admin/cameras/new", data={**base, "id": "secret-cam"})
    free = admin.post("/admin/cameras/new", data={**base, "id": "nobody-has-it"})
    assert taken.status_code == free.status_code == 403
    assert "already exists" not in taken.get_data(as_text=True)
    assert admin.post("/admin/cameras/new", data={**base, "id": "new-one"}).status_code == 303


def test_cli_edit_keeps_a_stored_template_with_credentials(db, app, runner):
    make_camera("cam1")
    camera = db.session.get(Camera, "cam1")
    camera.anr_replay_url_template = LEGACY_TEMPLATE
    db.session.commit()
    result = runner.invoke(args=["cameras", "edit", "cam1", "--name", "Renamed"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    camera = db.session.get(Camera, "cam1")
    assert camera.name == "Renamed" and camera.anr_replay_url_template == LEGACY_TEMPLATE
    typed = runner.invoke(
        args=["cameras", "edit", "cam1", "--template", "rtsp://a:b@h/x?s={start}"]
    )
    assert typed.exit_code != 0 and "Username and Password fields" in typed.output


def test_form_and_cli_refuse_the_same_values_in_the_same_words(db, login_as, runner):
    # One rule each (webapp/domain/cameras.py): the admin form and the CLI say the same thing.
    bad = {"id": "Bad Id", "name": "X", "timezone": "Mars/Olympus", "channel": "0"}
    html = login_as("admin").post("/admin/cameras/new", data=bad).get_data(as_text=True)
    cli = runner.invoke(
        args=[
            "cameras",
            "add",
            "Bad Id",
            "--name",
            "X",
            "--timezone",
            "Mars/Olympus",
            "--channel",
            "0",
        ]
    ).output
    for words in (
        "starting with a letter or digit",
        "must be an IANA time zone",
        "must be between 1 and 256",
    ):
        assert words in html and words in cli
