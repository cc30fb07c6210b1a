"""Test connection: what a camera answers now, in the words the admin page shows.

Reachability (a TCP connection to the camera's API or RTSP port), authentication and what the
card holds (vendors whose API reports coverage, through the worker's own vendor client), and the
fill method the worker would run. Every call is bounded by ``timeout_s``; every text is masked.
"""

import socket
from dataclasses import dataclass
from datetime import timedelta

from ..crypto import decrypt_secret
from ..domain.vendors import vendor as vendor_of
from ..masking import mask_credentials
from ..models import utcnow
from .vendors import Unsupported
from .vendors import VendorError
from .vendors import client_for

PROBE_TIMEOUT_S = 5.0


@dataclass
class Check:
    """One line of the answer: ``ok`` True, False, or None (not asked)."""

    name: str
    ok: bool | None
    text: str


def _reachable(host: str, port: int, timeout_s: float) -> tuple[bool, str]:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True, f"{host}:{port} answers"
    except OSError as exc:
        return False, f"{host}:{port} does not answer ({exc.strerror or type(exc).__name__})"


def probe_camera(camera, timeout_s: float = PROBE_TIMEOUT_S) -> list[Check]:
    """Ask the camera now; never raises for what the camera does."""
    secrets: tuple[str, ...] = ()
    try:
        password = decrypt_secret(camera.password_encrypted) if camera.password_encrypted else ""
    except Exception:  # noqa: BLE001  (a key change: say so, do not fail the page)
        password = ""
    if password:
        secrets = (password,)

    def masked(text: str) -> str:
        return mask_credentials(text, secrets)

    if not camera.address:
        return [Check("Reachable", False, "the camera has no address: set it in the form")]
    declared = vendor_of(camera.vendor)
    client = client_for(camera, password, timeout_s=timeout_s, secrets=secrets)
    port = camera.http_port if client is not None else camera.rtsp_port
    ok, text = _reachable(camera.address, port, timeout_s)
    checks = [Check("Reachable", ok, masked(text))]
    coverage = None
    if client is None:
        checks.append(
            Check(
                "Authentication",
                None,
                f"not checked: {declared.label} has no API "
                "this console asks; the credentials are tried when a fill runs",
            )
        )
        checks.append(
            Check("Card", None, f"{declared.label} cameras do not report what their card holds")
        )
    elif ok:
        try:
            end = utcnow()
            coverage = client.coverage(end - timedelta(hours=1), end)
            checks.append(
                Check("Authentication", True, "the camera accepted the username and password")
            )
            held = (
                f"footage from {coverage.oldest:%Y-%m-%d %H:%M} UTC"
                if coverage.oldest
                else "no footage (the card is empty)"
            )
            checks.append(
                Check(
                    "Card",
                    True,
                    f"holds {held}; {len(coverage.recordings)} recording(s) in the last hour",
                )
            )
        except Unsupported as exc:
            checks.append(Check("Authentication", None, masked(f"not checked: {exc}")))
            checks.append(Check("Card", None, "the camera offers no card search"))
        except VendorError as exc:
            auth = exc.status in (401, 403)
            checks.append(
                Check(
                    "Authentication",
                    False if auth else None,
                    masked(
                        "the camera refused the username or password"
                        if auth
                        else f"not checked: {exc}"
                    ),
                )
            )
            checks.append(Check("Card", False, masked(f"could not be asked: {exc}")))
        finally:
            client.close()
    checks.append(Check("Fill method", None, _method(camera, client, coverage)))
    return checks


def _method(camera, client, coverage) -> str:
    can_download = client is not None and client.can_download
    if camera.fill_method == "download":
        return (
            "download recorded files"
            if can_download
            else "download is set, but this vendor offers none: fills will fail; use auto"
        )
    if camera.fill_method == "replay" or not can_download:
        return "replay over RTSP"
    if coverage is None:
        return "auto: replay over RTSP (the card did not answer, so no download)"
    return "auto: download recorded files from the card"
