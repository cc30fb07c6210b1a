"""Operator pages: the fleet overview and each camera's gap page (HTML + htmx)."""

from flask import Blueprint

bp = Blueprint("gaps", __name__)

from . import views  # noqa: E402,F401
