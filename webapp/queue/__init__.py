"""The fill queue page: the fleet's running, queued and finished fills, and the workers."""

from flask import Blueprint

bp = Blueprint("queue", __name__)

from . import views  # noqa: E402,F401
