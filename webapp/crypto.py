"""Camera passwords at rest: Fernet under a key derived from SECRET_KEY."""

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet
from cryptography.fernet import InvalidToken
from flask import current_app


def _fernet(secret_key: str | None = None) -> Fernet:
    return _fernet_for(secret_key or current_app.config["SECRET_KEY"])


@lru_cache(maxsize=8)
def _fernet_for(secret: str) -> Fernet:
    """The key of one SECRET_KEY, derived once (the worker decrypts a password per fill)."""
    digest = hashlib.sha256(b"replenish camera password v1|" + secret.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt_secret(plain: str, secret_key: str | None = None) -> str:
    """Encrypt a camera password; the empty password stays empty."""
    if not plain:
        return ""
    return _fernet(secret_key).encrypt(plain.encode()).decode()


def decrypt_secret(token: str, secret_key: str | None = None) -> str:
    """Decrypt a stored password; a token from another SECRET_KEY decrypts to ''."""
    if not token:
        return ""
    try:
        return _fernet(secret_key).decrypt(token.encode()).decode()
    except InvalidToken:
        return ""
