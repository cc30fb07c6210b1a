"""The JSON API under /api/v1."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

from . import embed_sessions  # noqa: E402,F401
from . import evidence  # noqa: E402,F401
from . import openapi  # noqa: E402,F401
from . import views  # noqa: E402,F401
