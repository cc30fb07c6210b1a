"""Admin pages: cameras, users and API keys."""

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")

from . import accounts  # noqa: E402,F401
from . import views  # noqa: E402,F401
