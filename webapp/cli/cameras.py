"""``flask cameras add|edit|remove|list``: camera settings from the command line (audited)."""

import sys
from typing import Any

import click
from flask.cli import AppGroup
from sqlalchemy import select

from ..domain import cameras as camera_settings
from ..domain.audit import SYSTEM
from ..extensions import db
from ..models import Camera

cameras = AppGroup("cameras", help="Manage cameras.")


# Camera settings shared by ``cameras add`` and ``cameras edit``: (option, field, click kwargs).
# Unset options are None: ``add`` takes the defaults, ``edit`` keeps the camera's value.
CAMERA_OPTIONS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("--name", "name", {}),
    ("--site", "site", {}),
    ("--timezone", "timezone", {"help": "IANA zone, e.g. Europe/Berlin (default UTC)."}),
    ("--vendor", "vendor", {"type": click.Choice(camera_settings.VENDORS_CHOICES)}),
    ("--address", "address", {"help": "Host name or IP address."}),
    ("--rtsp-port", "rtsp_port", {"type": int, "help": "Default 554."}),
    ("--http-port", "http_port", {"type": int, "help": "Default 80."}),
    ("--channel", "channel", {"type": int, "help": "Default 1."}),
    ("--username", "username", {}),
    (
        "--clock",
        "replay_clock",
        {
            "type": click.Choice(camera_settings.REPLAY_CLOCKS),
            "help": "Zone the camera reads replay times in (default: local for dahua, else utc).",
        },
    ),
    ("--retention-hours", "anr_max_gap_hours", {"help": "SD-card retention; '' = global."}),
    (
        "--method",
        "fill_method",
        {"type": click.Choice(camera_settings.FILL_METHODS), "help": "Default auto."},
    ),
    ("--template", "anr_replay_url_template", {"help": "Replay URL template (see the README)."}),
    ("--max-kbps", "max_kbps", {"help": "Download bandwidth cap in kbit/s; '' = none."}),
    (
        "--fill-window",
        "fill_window",
        {"help": "When automatic fills may start, camera time, e.g. 22:00-06:00; '' = global."},
    ),
)


def camera_options(command):
    """Add the camera setting options, ``--anr/--no-anr`` and ``--password-stdin``."""
    for option, field, kwargs in reversed(CAMERA_OPTIONS):
        command = click.option(option, field, default=None, **kwargs)(command)
    command = click.option("--anr/--no-anr", "anr_enabled", default=None)(command)
    return click.option(
        "--password-stdin", is_flag=True, help="Read the camera password from stdin."
    )(command)


def _camera_data(options: dict, password_stdin: bool) -> dict:
    data = {name: value for name, value in options.items() if value is not None}
    if password_stdin:
        data["password"] = sys.stdin.readline().rstrip("\r\n")
    return data


def _usage_error(errors: dict) -> click.UsageError:
    return click.UsageError("; ".join(f"{k}: {v}" for k, v in errors.items()))


def _existing_camera(camera_id: str) -> Camera:
    camera = db.session.get(Camera, camera_id)
    if camera is None:
        raise click.UsageError(f"no camera with id '{camera_id}' (see `cameras list`)")
    return camera


@cameras.command("add")
@click.argument("camera_id")
@camera_options
def cameras_add(camera_id, password_stdin, **options):
    """Add a camera (--name is required)."""
    data = _camera_data(options, password_stdin)
    data["id"] = camera_id
    clean, errors = camera_settings.validate(data, creating=True)
    if errors:
        raise _usage_error(errors)
    camera = camera_settings.create(clean, SYSTEM)
    db.session.commit()
    click.echo(f"added camera {camera.id}")


@cameras.command("edit")
@click.argument("camera_id")
@camera_options
def cameras_edit(camera_id, password_stdin, **options):
    """Change a camera's settings; options not given keep their value."""
    camera = _existing_camera(camera_id)
    data = {**camera_settings.editable_values(camera), **_camera_data(options, password_stdin)}
    clean, errors = camera_settings.validate(data, creating=False, current=camera)
    if errors:
        raise _usage_error(errors)
    changed = camera_settings.update(camera, clean, SYSTEM)
    db.session.commit()
    click.echo(f"updated camera {camera.id}: {', '.join(sorted(changed)) or 'nothing changed'}")


@cameras.command("remove")
@click.argument("camera_id")
def cameras_remove(camera_id):
    """Remove a camera with its gaps and segments (audited); its archive files stay on disk."""
    camera = _existing_camera(camera_id)
    camera_settings.remove(camera, SYSTEM)
    db.session.commit()
    click.echo(f"removed camera {camera_id}; its archive files were left in place")


@cameras.command("list")
def cameras_list():
    """List cameras."""
    for cam in db.session.execute(select(Camera).order_by(Camera.id)).scalars():
        anr = "anr on" if cam.anr_enabled else "anr off"
        click.echo(f"{cam.id}\t{cam.name}\t{cam.site}\t{cam.vendor}\t{anr}")
