"""Credential masking: the one rule used by logs, errors, pages and JSON."""

import re

# scheme://user:pass@host  or  scheme://user@host  ->  scheme://***@host. Greedy up to the LAST
# "@" before the path, so a password with a raw "@" in it is hidden whole.
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/\s?#]*)@")
# password-like query parameters: ?password=secret&...
_SECRET_PARAM = re.compile(
    r"(?P<key>[?&;](?:password|passwd|pwd|pass|token|auth|secret|key)=)(?P<value>[^&;\s#]*)",
    re.IGNORECASE,
)


def mask_credentials(text: str | None, secrets: tuple[str, ...] = ()) -> str | None:
    """Hide user-info in URLs, password-like query values, and any literal ``secrets`` given."""
    if text is None:
        return None
    text = _USERINFO.sub(lambda m: m.group("scheme") + "***@", text)
    text = _SECRET_PARAM.sub(lambda m: m.group("key") + "***", text)
    for secret in secrets:
        if secret and len(secret) >= 3:
            text = text.replace(secret, "***")
    return text


def has_userinfo(url: str | None) -> bool:
    """True when a URL carries ``user[:password]@`` (credentials belong in their own fields)."""
    return bool(url and _USERINFO.search(url))
