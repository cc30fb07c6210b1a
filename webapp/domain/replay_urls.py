"""Replay URLs: the camera's template (or its vendor default) filled for a time window.

A domain rule: the camera settings check templates with it, an operator's request is refused
at once when no URL can be built (``source_problem``), and the engine builds its URLs here
(``webapp/anr/replay.py`` keeps the engine's names).
"""

import re
from datetime import UTC
from datetime import datetime
from string import Formatter
from urllib.parse import quote
from urllib.parse import urlsplit
from urllib.parse import urlunsplit
from zoneinfo import ZoneInfo

from ..masking import mask_credentials
from .vendors import vendor as vendor_of

ALLOWED_SCHEMES = ("rtsp", "rtsps", "http", "https")
# {start}, {end}, {*_iso} and {*_dahua} are in the camera's replay clock: UTC as shown, or with
# replay_clock=local the camera's wall time without a zone suffix (20260613T140000 in Berlin).
PLACEHOLDERS = {
    "start": "window start, compact, camera clock (Hikvision style): 20260613T120000Z",
    "end": "window end, compact, camera clock: 20260613T120500Z",
    "start_iso": "window start, ISO 8601, camera clock: 2026-06-13T12:00:00Z",
    "end_iso": "window end, ISO 8601, camera clock: 2026-06-13T12:05:00Z",
    "start_dahua": "window start, Dahua style, camera clock: 2026_06_13_12_00_00",
    "end_dahua": "window end, Dahua style, camera clock: 2026_06_13_12_05_00",
    "start_utc": "window start, compact UTC whatever the clock: 20260613T120000Z",
    "end_utc": "window end, compact UTC: 20260613T120500Z",
    "start_local": "window start, compact camera local time: 20260613T140000",
    "end_local": "window end, compact camera local time: 20260613T140500",
    "start_epoch": "window start, Unix seconds: 1781352000",
    "end_epoch": "window end, Unix seconds: 1781352300",
    "seconds": "window length in whole seconds: 300",
    "channel": "the camera's channel number: 1",
    "address": "the camera's address (host or IP) as set above: 10.0.0.7",
    "rtsp_port": "the camera's RTSP port: 554",
    "http_port": "the camera's HTTP port: 80",
}
_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")


class ReplayUrlError(ValueError):
    """No replay URL can be built for this camera (the message says why)."""


def check_template(template: str) -> str | None:
    """Why a template cannot be saved, or None when it is acceptable."""
    if _CONTROL.search(template):
        return "must not contain spaces or control characters"
    scheme = template.split("://", 1)[0].lower() if "://" in template else ""
    if scheme not in ALLOWED_SCHEMES:
        return f"must start with one of {', '.join(s + '://' for s in ALLOWED_SCHEMES)}"
    try:
        fields = [
            (n, spec, conv) for _, n, spec, conv in Formatter().parse(template) if n is not None
        ]
    except ValueError:
        return "has an unbalanced { or }; write {{ or }} for a literal brace"
    if any(spec or conv for _, spec, conv in fields):
        return "placeholders take no format (write {start}, not {start:...} or {start!r})"
    names = {name for name, _, _ in fields}
    unknown = sorted(n for n in names if n not in PLACEHOLDERS)
    if unknown:
        return "unknown placeholder " + ", ".join("{" + n + "}" for n in unknown)
    return None


def _zone(timezone: str):
    try:
        return ZoneInfo(timezone or "UTC")
    except (KeyError, ValueError):  # validated at save time; an old bad value reads as UTC
        return UTC


def _values(
    start: datetime, end: datetime, channel: int, clock: str = "utc", timezone: str = "UTC"
) -> dict:
    """Every placeholder's text; ``clock`` (utc or local) sets the zone of the clock ones."""
    zone = _zone(timezone)
    values = {
        "seconds": str(int((end - start).total_seconds())),
        "channel": str(channel),
    }
    for name, moment in (("start", start), ("end", end)):
        utc = moment.astimezone(UTC)
        local = moment.astimezone(zone)
        values[f"{name}_utc"] = utc.strftime("%Y%m%dT%H%M%SZ")
        values[f"{name}_local"] = local.strftime("%Y%m%dT%H%M%S")
        values[f"{name}_epoch"] = str(int(utc.timestamp()))
        if clock == "local":
            # The camera reads a bare wall time in its own zone: no Z, no offset.
            values[name] = values[f"{name}_local"]
            values[f"{name}_iso"] = local.strftime("%Y-%m-%dT%H:%M:%S")
            values[f"{name}_dahua"] = local.strftime("%Y_%m_%d_%H_%M_%S")
        else:
            values[name] = values[f"{name}_utc"]
            values[f"{name}_iso"] = utc.strftime("%Y-%m-%dT%H:%M:%SZ")
            values[f"{name}_dahua"] = utc.strftime("%Y_%m_%d_%H_%M_%S")
    return values


def build_replay_url(
    *,
    vendor: str,
    template: str | None,
    address: str,
    rtsp_port: int,
    channel: int,
    username: str,
    password: str,
    start: datetime,
    end: datetime,
    clock: str = "utc",
    timezone: str = "UTC",
    http_port: int = 80,
) -> str:
    """The replay URL for [start, end), credentials percent-encoded into the user-info.

    ``clock`` is the camera's replay clock (``utc`` or ``local`` in ``timezone``).

    Raises ReplayUrlError when the camera has no template and its vendor has no default, or the
    template is not acceptable.
    """
    default = vendor_of(vendor).replay_template
    if template:
        problem = check_template(template)
        if problem:
            raise ReplayUrlError(f"the replay URL template {problem}")
        if "{address}" in template and not address:
            raise ReplayUrlError("the replay URL template uses {address}: set the camera's address")
        camera_values = {"address": address, "rtsp_port": rtsp_port, "http_port": http_port}
        url = template.format(**camera_values, **_values(start, end, channel, clock, timezone))
    elif default:
        if not address:
            raise ReplayUrlError(f"camera has no address for the {vendor} replay URL")
        url = default.format(
            host=address, port=rtsp_port, **_values(start, end, channel, clock, timezone)
        )
    elif vendor_of(vendor).onvif_replay:
        raise ReplayUrlError(
            "the replay URI is asked from the camera (ONVIF GetReplayUri) when the fill starts"
        )
    else:
        raise ReplayUrlError(
            f"no replay URL: vendor '{vendor}' has no default; set a replay URL template"
        )
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
    except ValueError as exc:
        raise ReplayUrlError(f"the replay URL is not a valid URL: {exc}") from None
    if parts.scheme.lower() not in ALLOWED_SCHEMES or not host:
        raise ReplayUrlError("the replay URL has no host or a scheme that is not allowed")
    if username and "@" not in parts.netloc:
        userinfo = quote(username, safe="")
        if password:
            userinfo += ":" + quote(password, safe="")
        url = urlunsplit(parts._replace(netloc=f"{userinfo}@{parts.netloc}"))
    return url


def camera_replay_url(camera, start: datetime, end: datetime, password: str) -> str:
    """``build_replay_url`` for a Camera row (the caller decrypts the password)."""
    return build_replay_url(
        vendor=camera.vendor,
        template=camera.anr_replay_url_template,
        address=camera.address,
        rtsp_port=camera.rtsp_port,
        channel=camera.channel,
        username=camera.username,
        password=password,
        start=start,
        end=end,
        clock=camera.replay_clock or "utc",
        timezone=camera.timezone,
        http_port=getattr(camera, "http_port", 80) or 80,
    )


def masked(url: str) -> str:
    """The URL with its credentials hidden, fit for a log line or a page."""
    return mask_credentials(url)


def source_problem(camera) -> str | None:
    """What stops any fill of this camera from starting, in words naming what to configure.

    None when a replay URL can be built. Checked before an operator's request is queued, so a
    request that can never run is refused at once instead of waiting forever.
    """
    declared = vendor_of(camera.vendor)
    if declared.onvif_replay and not camera.anr_replay_url_template:
        # The replay URI comes from the camera itself (GetReplayUri) when the fill starts.
        if not camera.address:
            return (
                f"camera {camera.id} has no replay source: set the camera's address so its "
                "ONVIF device service can be asked"
            )
        return None
    sample = datetime(2026, 1, 1, tzinfo=UTC)
    try:
        camera_replay_url(camera, sample, sample, "")
    except ReplayUrlError as exc:
        reason = str(exc)
        if not declared.replay_template and not camera.anr_replay_url_template:
            return (
                f"camera {camera.id} has no replay source: vendor '{camera.vendor}' has no "
                "default replay URL, so set a replay URL template in the camera's ANR settings"
            )
        if not camera.anr_replay_url_template and not camera.address:
            return (
                f"camera {camera.id} has no replay source: set the camera's address (or a "
                "replay URL template) in its ANR settings"
            )
        return f"camera {camera.id} has no usable replay source: {reason}"
    return None
