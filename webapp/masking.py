"""Credential masking, the one rule for logs, errors, pages, JSON and webhooks (design.md)."""

import base64
import re
from functools import lru_cache
from typing import overload
from urllib.parse import quote

CAMERA_TEXT_CHARS = 300  # what a camera says is shown this long at most
MASK = "***"

# scheme://user:pass@host  or  scheme://user@host  ->  scheme://***@host. Greedy up to the LAST
# "@" before the path, so a password with a raw "@" in it is hidden whole.
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/\s?#]*)@")
# password-like query parameters: ?password=secret&...
_SECRET_PARAM = re.compile(
    r"(?P<key>[?&;](?:password|passwd|pwd|pass|token|auth|secret|key|code|sig)=)"
    r"(?P<value>[^&;\s#]*)",
    re.IGNORECASE,
)
# name=value / name: value in free text or JSON, where the name says it is a secret
# (db_password=..., X-Api-Key: ..., "access_token": "..."); short names only with "="
# (``code: 500`` is not a secret).
_SECRET_PAIR = re.compile(
    r"(?P<key>\b[\w.-]*(?:password|passwd|pwd|token|secret|api[_-]?key|signature)[\w.-]*"
    r"[\"']?\s*[=:]\s*|\b(?:code|sig|key|auth|pass)=)"
    r"(?P<value>\"[^\"]*\"|'[^']*'|[^\s&;,\"'<>]+)",
    re.IGNORECASE,
)
_AUTHORIZATION = re.compile(r"(?P<key>\b(?:proxy-)?authorization\s*[:=]\s*)[^\r\n]*", re.I)
_BEARER = re.compile(r"(?P<key>\bbearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
# A URL's path segment that looks like a token (Slack's /services/T../B../<token>): long,
# letters and digits mixed.
_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>]+")
_TOKEN_SEGMENT = re.compile(
    r"(?<=/)(?=[A-Za-z_-]*\d)(?=[\d_-]*[A-Za-z])[A-Za-z0-9_-]{20,}(?=[/?#]|$)"
)


@overload
def mask_credentials(text: str, secrets: tuple[str, ...] = ()) -> str: ...
@overload
def mask_credentials(text: None, secrets: tuple[str, ...] = ()) -> None: ...
@overload
def mask_credentials(text: str | None, secrets: tuple[str, ...] = ()) -> str | None: ...


def mask_credentials(text: str | None, secrets: tuple[str, ...] = ()) -> str | None:
    """Hide user-info in URLs, secret-looking values and tokens, and any literal ``secrets``
    given (in every form of ``secret_forms``)."""
    if text is None:
        return None
    for secret in sorted({form for s in secrets for form in secret_forms(s)}, key=len)[::-1]:
        text = text.replace(secret, MASK)
    return _remembered(text) if len(text) <= CAMERA_TEXT_CHARS else _masked(text)


def _masked(text: str) -> str:
    """The patterns' masking of ``text``."""
    text = _USERINFO.sub(lambda m: m.group("scheme") + MASK + "@", text)
    text = _AUTHORIZATION.sub(lambda m: m.group("key") + MASK, text)
    text = _BEARER.sub(lambda m: m.group("key") + MASK, text)
    text = _SECRET_PARAM.sub(lambda m: m.group("key") + MASK, text)
    text = _SECRET_PAIR.sub(lambda m: m.group("key") + MASK, text)
    text = _URL.sub(lambda m: _TOKEN_SEGMENT.sub(MASK, m.group(0)), text)
    return text


# Short texts' masking, remembered: a fleet's errors repeat ("connection refused" on every gap
# of a camera that is down), and the JSON list masks each row's error (bounded: 4,096 of them).
_remembered = lru_cache(maxsize=4096)(_masked)


def camera_text(text: str | None, secrets: tuple[str, ...] = ()) -> str:
    """What a camera (or a fill about it) says, as a person or a log may read it: masked, and
    cut to ``CAMERA_TEXT_CHARS``."""
    shown = mask_credentials(text or "", secrets)
    if len(shown) <= CAMERA_TEXT_CHARS:
        return shown
    return shown[: CAMERA_TEXT_CHARS - 1] + "…"


def secret_forms(secret: str, username: str = "") -> set[str]:
    """A password as typed, percent-encoded, and base64 (alone and as Basic ``user:password``):
    every form a camera's echo or a log may carry it in. Too short to mask safely: none."""
    if not secret or len(secret) < 3:
        return set()
    forms = {secret, quote(secret, safe=""), quote(secret)}
    for raw in (secret, f"{username}:{secret}" if username else ""):
        if raw:
            encoded = base64.b64encode(raw.encode()).decode()
            forms |= {encoded, encoded.rstrip("=")}
    return forms


def has_userinfo(url: str | None) -> bool:
    """True when a URL carries ``user[:password]@`` (credentials belong in their own fields)."""
    return bool(url and _USERINFO.search(url))
