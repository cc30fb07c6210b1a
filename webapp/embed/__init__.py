"""Embedding in a VMS console: the signed single sign-on under /embed.

The embedded pages themselves are the gaps and queue blueprints registered a second time under
``/embed`` (``webapp.register_blueprints``); this blueprint keeps what only the embed has.
"""

from flask import Blueprint

# Not "embed": that name is the gaps blueprint's second registration (embed.camera_gaps, ...).
bp = Blueprint("embed_signon", __name__, url_prefix="/embed")

from . import views  # noqa: E402,F401
