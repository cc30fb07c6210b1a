"""Camera settings: validation and saving, shared by the CLI, the admin pages and the demo."""

from zoneinfo import ZoneInfo
from zoneinfo import ZoneInfoNotFoundError

from ..anr.replay import check_template
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
    "enabled",
)


def _int(value, low: int, high: int, name: str, errors: dict):
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        errors[name] = "must be a whole number"
        return None
    if not low <= number <= high:
        errors[name] = f"must be between {low} and {high}"
        return None
    return number


def _bool(value) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "true", "on", "yes", "y"}


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


def validate(data: dict, *, creating: bool, current: Camera | None = None) -> tuple[dict, dict]:
    """Clean camera settings from a form or the CLI. Returns (clean values, errors by field).

    ``current`` is the camera being edited: a template sent back exactly as the form showed it
    (masked) keeps the stored one, so an edit never writes a masked value over a credential.
    """
    errors: dict[str, str] = {}
    clean: dict = {}
    if creating:
        cid = str(data.get("id", "")).strip()
        if not valid_camera_id(cid):
            errors["id"] = (
                "use 1-64 lower-case letters, digits, '-' or '_', starting with a letter or digit"
            )
        elif db.session.get(Camera, cid) is not None:
            errors["id"] = f"a camera with id '{cid}' already exists"
        clean["id"] = cid
    name = str(data.get("name", "")).strip()
    if not name:
        errors["name"] = "give the camera a name operators will recognise"
    elif len(name) > 200:
        errors["name"] = "at most 200 characters"
    clean["name"] = name
    clean["site"] = str(data.get("site", "") or "").strip()[:200]
    tz = str(data.get("timezone", "") or "UTC").strip()
    try:
        ZoneInfo(tz)
        clean["timezone"] = tz
    except (ZoneInfoNotFoundError, ValueError):
        errors["timezone"] = "must be an IANA time zone such as Europe/Berlin or UTC"
    vendor = str(data.get("vendor", "") or "generic").strip().lower()
    if vendor not in VENDORS:
        errors["vendor"] = f"must be one of {', '.join(VENDORS)}"
    clean["vendor"] = vendor
    address = str(data.get("address", "") or "").strip()
    if any(c.isspace() or c in "/@?#" for c in address):
        errors["address"] = "a host name or IP address only (no scheme, path or spaces)"
    clean["address"] = address
    clean["rtsp_port"] = _int(data.get("rtsp_port", 554) or 554, 1, 65535, "rtsp_port", errors)
    clean["http_port"] = _int(data.get("http_port", 80) or 80, 1, 65535, "http_port", errors)
    clean["channel"] = _int(data.get("channel", 1) or 1, 1, 256, "channel", errors)
    clean["segment_seconds"] = _int(
        data.get("segment_seconds", 60) or 60, 1, 3600, "segment_seconds", errors
    )
    clean["username"] = str(data.get("username", "") or "").strip()[:128]
    kbps = str(data.get("max_kbps", "") or "").strip()
    clean["max_kbps"] = _int(kbps, 8, 10_000_000, "max_kbps", errors) if kbps else None
    clean["anr_enabled"] = _bool(data.get("anr_enabled", False))
    clean["enabled"] = _bool(data.get("enabled", True))
    template = str(data.get("anr_replay_url_template", "") or "").strip()
    stored = current.anr_replay_url_template if current is not None else None
    if template and stored and template in (stored, mask_credentials(stored)):
        # Unchanged (the CLI sends the stored value, the form shows it masked): keep it as it is.
        template = stored
    elif template:
        problem = check_template(template) or _credentials_problem(template)
        if problem:
            errors["anr_replay_url_template"] = problem
    clean["anr_replay_url_template"] = template or None
    hours = str(data.get("anr_max_gap_hours", "") or "").strip()
    if hours:
        try:
            clean["anr_max_gap_hours"] = float(hours)
            if not 0 < clean["anr_max_gap_hours"] <= 24 * 365:
                raise ValueError
        except ValueError:
            errors["anr_max_gap_hours"] = (
                "hours between 0 and 8760, or empty for the global setting"
            )
    else:
        clean["anr_max_gap_hours"] = None
    if clean["anr_enabled"] and not template and vendor not in ("hikvision", "dahua"):
        errors["anr_replay_url_template"] = (
            f"vendor '{vendor}' has no default replay URL; a template is needed to turn ANR on"
        )
    clock = str(data.get("replay_clock", "") or "").strip().lower()
    if clock and clock not in REPLAY_CLOCKS:
        errors["replay_clock"] = "must be utc or local (the zone the camera reads replay times in)"
    clean["replay_clock"] = clock or default_replay_clock(vendor)
    method = str(data.get("fill_method", "") or "auto").strip().lower()
    if method not in FILL_METHODS:
        errors["fill_method"] = f"must be one of {', '.join(FILL_METHODS)}"
    clean["fill_method"] = method
    password = data.get("password")
    if password is not None and password != "":
        clean["password"] = str(password)
    return clean, errors


def save(camera: Camera | None, clean: dict) -> Camera:
    """Create (camera None) or update a camera from validated values; the caller commits."""
    password = clean.pop("password", None)
    if camera is None:
        camera = Camera(id=clean.pop("id"))
        db.session.add(camera)
        gapstate.ensure_stat_rows(camera.id)
    for name in FIELDS:
        if name in clean:
            setattr(camera, name, clean[name])
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
    return values


def update(camera: Camera, clean: dict, actor=None) -> dict:
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


def remove(camera: Camera, actor=None) -> None:
    """Delete a camera (its gaps and segments go with it; archive files stay on disk), audited."""
    record(
        "camera_delete", "camera", camera.id, camera_id=camera.id, actor=actor,
        detail=public_settings(camera),
    )  # fmt: skip
    db.session.delete(camera)


def create(clean: dict, actor=None) -> Camera:
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
