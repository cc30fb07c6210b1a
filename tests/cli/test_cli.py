"""The command line (see the README), through Flask's CLI runner."""

from tests import factories
from webapp.extensions import db as _db
from webapp.models import ApiKey
from webapp.models import AuditLog
from webapp.models import Camera
from webapp.models import RecordingGap
from webapp.models import Segment
from webapp.models import User


def test_users_create_with_password_stdin_and_list(runner, app):
    with app.app_context():
        factories.make_camera("a")
        factories.make_camera("b")
    result = runner.invoke(
        args=[
            "users",
            "create",
            "Dora",
            "--role",
            "manager",
            "--cameras",
            "a,b",
            "--password-stdin",
        ],
        input="a long enough password\n",
    )
    assert result.exit_code == 0, result.output
    assert "password:" not in result.output
    with app.app_context():
        user = _db.session.scalars(_db.select(User)).one()
        assert user.username == "dora" and user.camera_scope == ["a", "b"]
        assert user.check_password("a long enough password")
        assert user.password_hash.startswith("scrypt:")
    listing = runner.invoke(args=["users", "list"])
    assert "dora\tmanager\ta,b\tactive" in listing.output


def test_the_production_hasher_is_full_strength_scrypt(make_app):
    app = make_app(PASSWORD_HASH_METHOD="scrypt")
    with app.app_context():
        user = User(username="x", display_name="x", role="viewer")
        user.set_password("a long enough password")
        # werkzeug's default scrypt parameters: n=2**15, r=8, p=1.
        assert user.password_hash.startswith("scrypt:32768:8:1$")
        assert user.check_password("a long enough password")
        assert not user.check_password("a long enough passwore")


def test_users_create_generates_a_password_once(runner, app):
    result = runner.invoke(args=["users", "create", "eve", "--role", "viewer"])
    assert result.exit_code == 0
    password = result.output.split("password:")[1].strip()
    with app.app_context():
        assert _db.session.scalars(_db.select(User)).one().check_password(password)


def test_users_create_refuses_duplicates_bad_roles_and_short_passwords(runner, app):
    runner.invoke(args=["users", "create", "eve", "--role", "viewer"])
    dup = runner.invoke(args=["users", "create", "EVE", "--role", "viewer"])
    assert dup.exit_code != 0 and "already exists" in dup.output
    bad_role = runner.invoke(args=["users", "create", "x", "--role", "integration"])
    assert bad_role.exit_code != 0
    short = runner.invoke(
        args=["users", "create", "y", "--role", "viewer", "--password-stdin"], input="short\n"
    )
    assert short.exit_code != 0 and "at least 8" in short.output
    with app.app_context():
        assert _db.session.scalar(_db.select(_db.func.count()).select_from(User)) == 1


def test_apikeys_create_prints_token_once_and_stores_only_its_hash(runner, app, client):
    result = runner.invoke(args=["apikeys", "create", "vms", "--role", "integration"])
    assert result.exit_code == 0
    token = result.output.split("token:")[1].strip()
    with app.app_context():
        key = _db.session.scalars(_db.select(ApiKey)).one()
        assert key.token_sha256 == ApiKey.hash_token(token) and token not in str(key.__dict__)
        actions = [r.action for r in _db.session.scalars(_db.select(AuditLog))]
        assert actions == ["apikey_create"]
    resp = client.get("/api/v1/cameras", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200


def test_cameras_add_and_list(runner, app):
    result = runner.invoke(
        args=[
            "cameras",
            "add",
            "gate-1",
            "--name",
            "Gate",
            "--vendor",
            "hikvision",
            "--address",
            "10.0.0.5",
            "--anr",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "gate-1\tGate" in runner.invoke(args=["cameras", "list"]).output
    with app.app_context():
        cam = _db.session.get(Camera, "gate-1")
        assert cam.anr_enabled and cam.vendor == "hikvision"


def test_cameras_add_an_onvif_camera_with_its_device_port(runner, app):
    args = ["cameras", "add", "door", "--name", "Door", "--vendor", "onvif", "--address"]
    args += ["10.0.0.7", "--http-port", "8080", "--username", "admin", "--password-stdin"]
    result = runner.invoke(args=[*args, "--method", "replay", "--anr"], input="pw-123456\n")
    assert result.exit_code == 0, result.output
    with app.app_context():
        cam = _db.session.get(Camera, "door")
        assert cam.vendor == "onvif" and cam.http_port == 8080 and cam.anr_enabled
        assert cam.fill_method == "replay" and cam.anr_replay_url_template is None
    unknown = runner.invoke(args=["cameras", "add", "x", "--name", "x", "--vendor", "sony"])
    assert unknown.exit_code != 0 and "onvif" in unknown.output  # the choices are listed


def test_cameras_add_rejects_bad_ids_and_templates(runner, app):
    bad_id = runner.invoke(args=["cameras", "add", "../etc", "--name", "x"])
    assert bad_id.exit_code != 0 and "id:" in bad_id.output
    bad_tpl = runner.invoke(
        args=["cameras", "add", "c2", "--name", "x", "--template", "ftp://host/{start}"]
    )
    assert bad_tpl.exit_code != 0
    with app.app_context():
        assert _db.session.scalar(_db.select(_db.func.count()).select_from(Camera)) == 0


def test_demo_seed_is_idempotent_and_covers_every_state(runner, app):
    first = runner.invoke(args=["demo", "seed"])
    assert first.exit_code == 0, first.output
    for name in ("admin", "manager", "viewer"):
        assert name in first.output
    second = runner.invoke(args=["demo", "seed"])
    assert "already present" in second.output
    with app.app_context():
        states = {g.fill_state for g in _db.session.scalars(_db.select(RecordingGap))}
        assert states == {"pending", "filling", "filled", "partial", "failed", "expired"}
        assert _db.session.scalar(_db.select(_db.func.count()).select_from(Segment)) > 1000
        assert _db.session.scalar(_db.select(_db.func.count()).select_from(User)) == 3
        assert _db.session.scalar(_db.select(_db.func.count()).select_from(AuditLog)) > 0
        cam = _db.session.get(Camera, "lobby")
        assert "demo-camera-pass" not in cam.password_encrypted
        from webapp.domain.gap_queries import state_counts
        from webapp.domain.gapstate import recount_stats

        live = state_counts(["lobby"])["lobby"]
        recount_stats()
        assert state_counts(["lobby"])["lobby"] == live  # maintained counters are exact


def test_cameras_add_edit_and_remove_with_the_real_camera_options(runner, app, tmp_path):
    added = runner.invoke(
        args=[
            "cameras", "add", "dock", "--name", "Dock", "--vendor", "dahua",
            "--address", "10.0.0.9", "--rtsp-port", "10554", "--http-port", "8080",
            "--channel", "2", "--username", "admin", "--password-stdin",
            "--timezone", "Europe/Berlin", "--retention-hours", "48", "--method", "replay", "--anr",
        ],
        input="cam pass:1\n",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    with app.app_context():
        cam = _db.session.get(Camera, "dock")
        assert (cam.rtsp_port, cam.http_port, cam.channel) == (10554, 8080, 2)
        assert cam.username == "admin"
        assert (cam.timezone, cam.anr_max_gap_hours) == ("Europe/Berlin", 48)
        assert cam.fill_method == "replay"
        assert cam.replay_clock == "local"  # the Dahua default
        assert cam.password_encrypted and "cam pass" not in cam.password_encrypted

    edited = runner.invoke(args=["cameras", "edit", "dock", "--clock", "utc", "--rtsp-port", "554"])
    assert edited.exit_code == 0, edited.output
    assert "replay_clock" in edited.output and "rtsp_port" in edited.output
    with app.app_context():
        cam = _db.session.get(Camera, "dock")
        assert (cam.replay_clock, cam.rtsp_port, cam.channel, cam.name) == ("utc", 554, 2, "Dock")
        row = _db.session.scalars(
            _db.select(AuditLog).where(AuditLog.action == "camera_update")
        ).one()
        assert row.detail["changed"]["replay_clock"] == ["local", "utc"]

    refused = runner.invoke(args=["cameras", "edit", "dock", "--timezone", "Mars/Base"])
    assert refused.exit_code != 0 and "timezone: must be an IANA time zone" in refused.output
    assert runner.invoke(args=["cameras", "edit", "nope", "--name", "x"]).exit_code != 0

    archive = tmp_path / "recordings" / "dock"
    archive.mkdir(parents=True)
    (archive / "20260613_120000.mp4").write_bytes(b"footage")
    with app.app_context():
        factories.make_gap("dock")
    removed = runner.invoke(args=["cameras", "remove", "dock"])
    assert removed.exit_code == 0, removed.output
    with app.app_context():
        assert _db.session.get(Camera, "dock") is None
        assert _db.session.scalars(_db.select(RecordingGap)).all() == []
        row = _db.session.scalars(
            _db.select(AuditLog).where(AuditLog.action == "camera_delete")
        ).one()
        assert row.target_id == "dock" and "cam pass" not in str(row.detail)
    assert (archive / "20260613_120000.mp4").read_bytes() == b"footage"
    assert runner.invoke(args=["cameras", "remove", "dock"]).exit_code != 0
