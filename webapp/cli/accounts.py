"""``flask users create|list|edit|disable|enable|set-password|unlock`` and
``flask apikeys list|create|revoke``: the people and machine clients who may sign in."""

import secrets
import sys

import click
from flask.cli import AppGroup
from sqlalchemy import select

from ..domain import accounts
from ..domain.audit import SYSTEM
from ..domain.users import UserRefused
from ..domain.users import create_user
from ..extensions import db
from ..models import KEY_ROLES
from ..models import USER_ROLES
from ..models import ApiKey
from ..models import User
from ..models.user import EMBED_ROLES

users = AppGroup("users", help="Manage people who sign in.")
apikeys = AppGroup("apikeys", help="Manage API keys for machine clients.")


@users.command("create")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(USER_ROLES))
@click.option("--cameras", "camera_list", help="Comma-separated camera ids (default: all).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def users_create(username, role, camera_list, password_stdin):
    """Create a user; without --password-stdin a password is generated and printed once."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        generated = False
    else:
        password = secrets.token_urlsafe(12)
        generated = True
    try:
        user = create_user(
            username, role, password, accounts.parse_cameras(camera_list), actor=SYSTEM
        )
    except (UserRefused, accounts.AccountError) as exc:
        raise click.UsageError(str(exc)) from None
    db.session.commit()
    click.echo(f"created user {user.username} ({user.role})")
    if generated:
        click.echo(f"password: {password}")


@users.command("list")
def users_list():
    """List users with role, scope and last sign-in."""
    for user in db.session.execute(select(User).order_by(User.username)).scalars():
        scope = ",".join(user.camera_scope) if user.camera_scope else "all cameras"
        state = "active" if user.active else "disabled"
        last = user.last_login_at.isoformat() if user.last_login_at else "never"
        click.echo(f"{user.username}\t{user.role}\t{scope}\t{state}\tlast sign-in {last}")


def _done(action):
    """Run a lifecycle change, commit it, or turn its refusal into a usage error."""
    try:
        result = action()
    except accounts.AccountError as exc:
        db.session.rollback()
        raise click.UsageError(str(exc)) from None
    db.session.commit()
    return result


@users.command("disable")
@click.argument("username")
def users_disable(username):
    """Disable a user: their sessions end now and they cannot sign in."""
    user = _done(lambda: _set_active(username, False))
    click.echo(f"disabled {user.username}")


@users.command("enable")
@click.argument("username")
def users_enable(username):
    """Enable a disabled user."""
    user = _done(lambda: _set_active(username, True))
    click.echo(f"enabled {user.username}")


def _set_active(username: str, active: bool):
    user = accounts.user_named(username)
    accounts.set_active(user, active, SYSTEM)
    return user


@users.command("set-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def users_set_password(username, password_stdin):
    """Set a user's password (prompted, or one line of stdin); their sessions end."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)

    def change():
        user = accounts.user_named(username)
        accounts.set_password(user, password, SYSTEM)
        return user

    user = _done(change)
    click.echo(f"password set for {user.username}; their sessions have ended")


@users.command("unlock")
@click.argument("username")
def users_unlock(username):
    """Lift the sign-in delays on a username."""
    removed = _done(lambda: accounts.unlock(username, SYSTEM))
    click.echo(f"unlocked {username.strip().lower()} ({removed} counters cleared)")


@users.command("edit")
@click.argument("username")
@click.option("--role", default=None, help="New role.")
@click.option("--cameras", "camera_list", default=None, help="Comma-separated ids; '' = all.")
@click.option("--display-name", default=None)
def users_edit(username, role, camera_list, display_name):
    """Change a user's role, camera scope or display name; options not given keep their value."""
    keep = accounts.KEEP

    def change():
        user = accounts.user_named(username)
        cameras = keep if camera_list is None else accounts.parse_cameras(camera_list)
        return accounts.edit_user(
            user,
            SYSTEM,
            role=keep if role is None else role,
            cameras=cameras,
            display_name=keep if display_name is None else display_name,
        )

    changed = _done(change)
    click.echo(f"updated {username.strip().lower()}: {', '.join(sorted(changed)) or 'nothing'}")


@apikeys.command("list")
def apikeys_list():
    """List API keys: name, prefix, role, scope, state, expiry and embed role ceiling."""
    query = select(ApiKey).order_by(ApiKey.name, ApiKey.created_at)
    for key in db.session.execute(query).scalars():
        scope = ",".join(key.camera_scope) if key.camera_scope else "all cameras"
        expires = key.expires_at.isoformat() if key.expires_at else "never"
        click.echo(
            f"{key.name}\t{key.prefix}\t{key.role}\t{scope}\t{accounts.key_state(key)}"
            f"\texpires {expires}\tembed up to {key.embed_role_ceiling}"
        )


@apikeys.command("revoke")
@click.argument("name")
def apikeys_revoke(name):
    """Revoke the key(s) with this name; their next request is a 401."""
    keys = _done(lambda: accounts.revoke_named(name, SYSTEM))
    for key in keys:
        click.echo(f"revoked {key.name} ({key.prefix})")


@apikeys.command("create")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(KEY_ROLES))
@click.option("--cameras", "camera_list", help="Comma-separated camera ids (default: all).")
@click.option("--expires-days", type=click.IntRange(1, accounts.MAX_EXPIRES_DAYS), default=None)
@click.option(
    "--embed-role-ceiling",
    type=click.Choice(EMBED_ROLES),
    default="manager",
    show_default=True,
    help="Highest role an embed session minted by this key acts as.",
)
def apikeys_create(name, role, camera_list, expires_days, embed_role_ceiling):
    """Create an API key and print its token once (only its SHA-256 is stored)."""
    key, token = _done(
        lambda: accounts.create_key(
            name,
            role,
            accounts.parse_cameras(camera_list),
            expires_days,
            embed_role_ceiling,
            actor=SYSTEM,
        )
    )
    expires = f", expires {key.expires_at.isoformat()}" if key.expires_at else ""
    click.echo(f"created API key {name} ({role}), prefix {key.prefix}{expires}")
    click.echo(f"token: {token}")
