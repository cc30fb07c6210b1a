"""Replay URLs for the engine: the rules live in the domain (``webapp/domain/replay_urls.py``)."""

from ..domain.replay_urls import ALLOWED_SCHEMES
from ..domain.replay_urls import PLACEHOLDERS
from ..domain.replay_urls import ReplayUrlError
from ..domain.replay_urls import build_replay_url
from ..domain.replay_urls import camera_replay_url
from ..domain.replay_urls import check_template
from ..domain.replay_urls import masked
from ..domain.replay_urls import source_problem

__all__ = [
    "ALLOWED_SCHEMES",
    "PLACEHOLDERS",
    "ReplayUrlError",
    "build_replay_url",
    "camera_replay_url",
    "check_template",
    "masked",
    "source_problem",
]
