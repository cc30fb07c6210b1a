"""Camera settings: validation and saving, shared by the CLI, the admin pages and the demo."""

from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo
from zoneinfo import ZoneInfoNotFoundError

from ..crypto import encrypt_secret
from ..extensions import db
from ..masking import has_userinfo
from ..masking import mask_credentials
from ..models import FILL_METHODS
from ..models import REPLAY_CLOCKS
from ..models import VENDORS
from ..models import Camera
from ..models import default_replay_clock
from ..models import valid_camera_id
from . import gapstate
from .audit import record
from .fill_schedule import format_fill_window
from .fill_schedule import read_fill_window
from .replay_urls import check_template as replay_template_problem
from .vendors import vendor as vendor_of

VENDORS_CHOICES = VENDORS

FIELDS = (
    "name",
    "site",
    "timezone",
    "vendor",
    "address",
    "rtsp_port",
    "http_port",
    "username",
    "max_kbps",
    "channel",
    "anr_enabled",
    "anr_replay_url_template",
    "anr_max_gap_hours",
    "segment_seconds",
    "replay_clock",
    "fill_method",
    "fill_window",
    "enabled",
)


def _credentials_problem(template: str) -> str | None:
    """Why a template carries credentials it must not (typed in, or a masked value sent back)."""
    if has_userinfo(template):
        return (
            "do not put a username or password in the URL: enter them in the camera's Username "
            "and Password fields, and they are added to the replay URL"
        )
    if "***" in template:
        return "contains a masked value (***); type the real value or keep the saved template"
    return None


def _int_check(low: int, high: int, default: int | None) -> Callable[[Any], int | None]:
    """A whole number in [low, high]; empty gives ``default`` (None: the field may stay empty)."""

    def check(value) -> int | None:
        text = "" if value is None else str(value).strip()
        if not text:
            if default is None:
                return None
            text = str(default)
        try:
            number = int(text)
        except ValueError:
            raise ValueError("must be a whole number") from None
        if not low <= number <= high:
            raise ValueError(f"must be between {low} and {high}")
        return number

    return check


def _text(value) -> str:
    return str(value or "").strip()


def _bool(value) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "true", "on", "yes", "y"}


def check_id(value) -> str:
    """A new camera's id: the pattern that keeps it a safe folder name."""
    cid = _text(value)
    if not valid_camera_id(cid):
        raise ValueError(
            "use 1-64 lower-case letters, digits, '-' or '_', starting with a letter or digit"
        )
    return cid


def check_name(value) -> str:
    """The camera's display name: required, at most 200 characters."""
    name = _text(value)
    if not name:
        raise ValueError("give the camera a name operators will recognise")
    if len(name) > 200:
        raise ValueError("at most 200 characters")
    return name


def check_timezone(value) -> str:
    """An IANA zone name (empty is UTC)."""
    tz = _text(value) or "UTC"
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("must be an IANA time zone such as Europe/Berlin or UTC") from None
    return tz


def _choice(choices: tuple[str, ...], default: str, message: str) -> Callable[[Any], str]:
    def check(value) -> str:
        chosen = _text(value).lower() or default
        if chosen not in choices:
            raise ValueError(message)
        return chosen

    return check


def check_address(value) -> str:
    """A host name or IP address, nothing around it."""
    address = _text(value)
    if any(c.isspace() or c in "/@?#" for c in address):
        raise ValueError("a host name or IP address only (no scheme, path or spaces)")
    return address


def check_template(value) -> str:
    """The replay URL template as typed (stripped); its rules need the stored one: ``finish``."""
    return _text(value)


def check_retention(value) -> float | None:
    """SD-card retention in hours (0, 8760]; empty is the global setting."""
    text = _text(value)
    if not text:
        return None
    try:
        hours = float(text)
    except ValueError:
        hours = -1.0
    if not 0 < hours <= 24 * 365:
        raise ValueError("hours between 0 and 8760, or empty for the global setting")
    return hours


def check_fill_window(value) -> str | None:
    """When automatic fills may start (camera time, HH:MM-HH:MM); empty: ANR_FILL_WINDOW."""
    return format_fill_window(read_fill_window(_text(value))) or None


# One check per setting: takes what was typed (or given to the CLI), returns the clean value or
# raises ValueError with the message shown next to the field. The form and the CLI both use these.
CHECKS: dict[str, Callable[[Any], Any]] = {
    "id": check_id,
    "name": check_name,
    "site": lambda v: _text(v)[:200],
    "timezone": check_timezone,
    "vendor": _choice(VENDORS, "generic", f"must be one of {', '.join(VENDORS)}"),
    "address": check_address,
    "rtsp_port": _int_check(1, 65535, 554),
    "http_port": _int_check(1, 65535, 80),
    "channel": _int_check(1, 256, 1),
    "segment_seconds": _int_check(1, 3600, 60),
    "username": lambda v: _text(v)[:128],
    "max_kbps": _int_check(8, 10_000_000, None),
    "anr_enabled": _bool,
    "enabled": lambda v: v is None or _bool(v),  # a camera is enabled unless told otherwise
    "anr_replay_url_template": check_template,
    "anr_max_gap_hours": check_retention,
    "replay_clock": _choice(
        ("", *REPLAY_CLOCKS), "", "must be utc or local (the zone the camera reads replay times in)"
    ),
    "fill_method": _choice(FILL_METHODS, "auto", f"must be one of {', '.join(FILL_METHODS)}"),
    "fill_window": check_fill_window,
}


def finish(clean: dict, *, creating: bool, current: Camera | None = None) -> dict[str, str]:
    """The rules across fields, on checked values (updated in place); returns errors by field.

    ``current`` is the camera being edited: a template sent back exactly as the form showed it
    (masked) keeps the stored one, so an edit never writes a masked value over a credential; a
    blank password keeps the stored one.
    """
    errors: dict[str, str] = {}
    cid = clean.get("id")
    if creating and cid and db.session.get(Camera, cid) is not None:
        errors["id"] = f"a camera with id '{cid}' already exists"
    template = clean.get("anr_replay_url_template") or ""
    stored = current.anr_replay_url_template if current is not None else None
    if template and stored and template in (stored, mask_credentials(stored)):
        # Unchanged (the CLI sends the stored value, the form shows it masked): keep it as it is.
        template = stored
    elif template:
        problem = replay_template_problem(template) or _credentials_problem(template)
        if problem:
            errors["anr_replay_url_template"] = problem
    clean["anr_replay_url_template"] = template or None
    vendor = clean.get("vendor") or "generic"
    if clean.get("anr_enabled") and not template and not vendor_of(vendor).has_replay_source:
        errors["anr_replay_url_template"] = (
            f"vendor '{vendor}' has no default replay URL; a template is needed to turn ANR on"
        )
    clean["replay_clock"] = clean.get("replay_clock") or default_replay_clock(vendor)
    if not clean.get("password"):
        clean.pop("password", None)
    return errors


def validate(data: dict, *, creating: bool, current: Camera | None = None) -> tuple[dict, dict]:
    """Clean camera settings from the CLI or the demo. Returns (clean values, errors by field)."""
    errors: dict[str, str] = {}
    clean: dict = {}
    for name, check in CHECKS.items():
        if name == "id" and not creating:
            continue
        try:
            clean[name] = check(data.get(name))
        except ValueError as exc:
            errors[name] = str(exc)
    if data.get("password") is not None:
        clean["password"] = str(data["password"])
    if "vendor" in errors:
        clean["vendor"] = _text(data.get("vendor")).lower()
    for name, problem in finish(clean, creating=creating, current=current).items():
        errors.setdefault(name, problem)
    return clean, errors


def save(camera: Camera | None, clean: dict) -> Camera:
    """Create (camera None) or update a camera from validated values; the caller commits."""
    password = clean.pop("password", None)
    if camera is None:
        camera = Camera(id=clean.pop("id"))
        db.session.add(camera)
        gapstate.ensure_stat_rows(camera.id)
    retention = camera.anr_max_gap_hours
    for name in FIELDS:
        if name in clean:
            setattr(camera, name, clean[name])
    if camera.created_at is not None and camera.anr_max_gap_hours != retention:
        # Automatic gaps are queued by when the card overwrites them, which just moved.
        db.session.flush()
        gapstate.rekey_automatic(camera.id)
    if password is not None:
        camera.password_encrypted = encrypt_secret(password)
    return camera


def public_settings(camera: Camera) -> dict:
    """Settings safe to show or audit: never the password."""
    out = {name: getattr(camera, name) for name in FIELDS}
    out["anr_replay_url_template"] = mask_credentials(camera.anr_replay_url_template)
    out["has_password"] = bool(camera.password_encrypted)
    return out


def editable_values(camera: Camera) -> dict:
    """The camera's settings as ``validate`` takes them: the base of a partial edit."""
    values = {name: getattr(camera, name) for name in FIELDS}
    values["anr_replay_url_template"] = camera.anr_replay_url_template or ""
    values["anr_max_gap_hours"] = (
        "" if camera.anr_max_gap_hours is None else str(camera.anr_max_gap_hours)
    )
    values["fill_window"] = camera.fill_window or ""
    return values


def update(camera: Camera, clean: dict, actor) -> dict:
    """Save validated values on ``camera`` with its ``camera_update`` audit row (no commit).

    Returns the changed settings as ``{name: [before, after]}`` (a password shows as ``***``).
    """
    before = public_settings(camera)
    changed_password = "password" in clean
    save(camera, clean)
    after = public_settings(camera)
    changed = {k: [before.get(k), after[k]] for k in after if before.get(k) != after[k]}
    if changed_password:
        changed["password"] = ["***", "***"]
    record(
        "camera_update", "camera", camera.id, camera_id=camera.id, actor=actor,
        detail={"changed": changed},
    )  # fmt: skip
    return changed


def remove(camera: Camera, actor) -> None:
    """Delete a camera (its gaps and segments go with it; archive files stay on disk), audited."""
    record(
        "camera_delete", "camera", camera.id, camera_id=camera.id, actor=actor,
        detail=public_settings(camera),
    )  # fmt: skip
    db.session.delete(camera)


def create(clean: dict, actor) -> Camera:
    """Create a camera from validated values with its ``camera_create`` audit row (no commit)."""
    camera = save(None, clean)
    db.session.flush()
    record(
        "camera_create",
        "camera",
        camera.id,
        camera_id=camera.id,
        actor=actor,
        detail=public_settings(camera),
    )
    return camera
