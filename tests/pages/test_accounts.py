"""Admin pages for users and API keys: create (secret shown once), disable, revoke, audited."""

import re

from webapp.models import ApiKey
from webapp.models import AuditLog
from webapp.models import User


def test_admin_creates_a_key_sees_the_token_once_and_revokes_it(db, login_as):
    admin = login_as("admin")
    page = admin.post(
        "/admin/api-keys",
        data={
            "name": "vms",
            "role": "integration",
            "expires_days": "30",
            "embed_role_ceiling": "viewer",
        },
    )
    assert page.status_code == 200
    token = re.search(r'<code class="secret">([^<]+)</code>', page.get_data(as_text=True))[1]
    headers = {"Authorization": f"Bearer {token}"}
    assert admin.client.get("/api/v1/cameras", headers=headers).status_code == 200
    listing = admin.get("/admin/api-keys").get_data(as_text=True)
    assert token not in listing and "vms" in listing and "viewer" in listing
    key = db.session.execute(db.select(ApiKey).where(ApiKey.name == "vms")).scalar_one()
    assert key.expires_at is not None and key.embed_role_ceiling == "viewer"
    resp = admin.post(f"/admin/api-keys/{key.id}/revoke")
    assert resp.status_code == 303
    assert admin.client.get("/api/v1/cameras", headers=headers).status_code == 401
    actions = [a.action for a in db.session.scalars(db.select(AuditLog))]
    assert actions.count("apikey_create") == 1 and actions.count("apikey_revoke") == 1


def test_bad_key_form_is_422_with_a_message(db, login_as):
    admin = login_as("admin")
    resp = admin.post(
        "/admin/api-keys", data={"name": "x", "role": "integration", "expires_days": "soon"}
    )
    assert resp.status_code == 422 and "expiry is in days" in resp.get_data(as_text=True)
    resp = admin.post(
        "/admin/api-keys", data={"name": "x", "role": "integration", "embed_role_ceiling": "admin"}
    )
    assert resp.status_code == 422 and "ceiling" in resp.get_data(as_text=True)


def test_admin_creates_disables_and_resets_a_user(db, login_as, app):
    admin = login_as("admin")
    page = admin.post("/admin/users", data={"username": "newbie", "role": "viewer"})
    assert page.status_code == 200
    password = re.search(r'<code class="secret">([^<]+)</code>', page.get_data(as_text=True))[1]
    newbie = app.test_client()
    assert (
        newbie.post("/login", data={"username": "newbie", "password": password}).status_code == 302
    )
    assert newbie.get("/cameras").status_code == 200
    user = db.session.execute(db.select(User).where(User.username == "newbie")).scalar_one()
    assert admin.post(f"/admin/users/{user.id}/active", data={"active": "0"}).status_code == 303
    assert newbie.get("/cameras").status_code == 302  # signed out at once
    assert "disabled" in admin.get("/admin/users").get_data(as_text=True)
    assert admin.post(f"/admin/users/{user.id}/active", data={"active": "1"}).status_code == 303
    page = admin.post(f"/admin/users/{user.id}/password")
    fresh = re.search(r'<code class="secret">([^<]+)</code>', page.get_data(as_text=True))[1]
    assert fresh != password
    assert newbie.post("/login", data={"username": "newbie", "password": fresh}).status_code == 302
    actions = [a.action for a in db.session.scalars(db.select(AuditLog))]
    for action in ("user_create", "user_disable", "user_enable", "user_set_password"):
        assert action in actions


def test_account_pages_need_an_unscoped_admin(db, login_as):
    scoped = login_as("admin", cameras=["cam1"])
    assert scoped.get("/admin/users").status_code == 403
    assert scoped.post("/admin/api-keys", data={"name": "k", "role": "admin"}).status_code == 403
    assert login_as("manager").get("/admin/api-keys").status_code == 403


def test_admin_cannot_disable_themselves(db, login_as):
    admin = login_as("admin")
    resp = admin.post(f"/admin/users/{admin.user}/active", data={"active": "0"})
    assert resp.status_code == 409


def test_an_admin_edits_a_users_role_scope_and_display_name(db, login_as, runner):
    from tests.factories import make_camera
    from tests.factories import make_user
    from tests.page import page
    from webapp.models import AuditLog
    from webapp.models import User

    make_camera("lobby")
    mona = make_user("mona", "viewer")
    admin = login_as("admin")
    form = {"role": "manager", "cameras": "lobby", "display_name": "Mona L."}
    resp = admin.post(f"/admin/users/{mona.id}/edit", data=form)
    assert resp.status_code == 303
    db.session.expire_all()
    user = db.session.get(User, mona.id)
    assert (user.role, user.camera_scope, user.display_name) == ("manager", ["lobby"], "Mona L.")
    audit = db.session.query(AuditLog).filter_by(action="user_update").one()
    assert audit.detail["changed"]["role"] == ["viewer", "manager"]
    listed = page(admin.get("/admin/users").text).text
    assert "mona: camera_scope, display_name, role changed." in listed

    bad = admin.post(f"/admin/users/{mona.id}/edit", data={**form, "cameras": "lobbby"})
    assert bad.status_code == 422 and "no such camera: lobbby" in page(bad.text).text
    wrong = admin.post(f"/admin/users/{mona.id}/edit", data={**form, "role": "root"})
    assert wrong.status_code == 422 and "role must be one of" in page(wrong.text).text

    cli = runner.invoke(args=["users", "edit", "mona", "--cameras", "", "--role", "viewer"])
    assert cli.exit_code == 0 and "camera_scope, role" in cli.output
    db.session.expire_all()
    assert db.session.get(User, mona.id).camera_scope is None
    cli = runner.invoke(args=["users", "edit", "mona", "--cameras", "lobbby"])
    assert cli.exit_code != 0 and "no such camera: lobbby" in cli.output


def test_an_admin_cannot_change_their_own_role(db, login_as):
    from webapp.models import User

    admin = login_as("admin")
    me = db.session.query(User).filter_by(role="admin").one()
    resp = admin.post(f"/admin/users/{me.id}/edit", data={"role": "viewer", "cameras": ""})
    assert resp.status_code == 422 and "cannot change your own role" in resp.text
