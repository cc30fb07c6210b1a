"""Embedding in a VMS console: compact pages under /embed and signed single sign-on."""

from flask import Blueprint

bp = Blueprint("embed", __name__, url_prefix="/embed")

from . import views  # noqa: E402,F401
