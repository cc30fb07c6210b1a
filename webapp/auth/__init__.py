"""Sign-in, principals (users and API keys), roles and camera scope."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from . import views  # noqa: E402,F401  (routes register on bp)
