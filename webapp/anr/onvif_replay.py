"""ONVIF Profile G replay: the window comes back as fast as the link allows (design.md).

The RTSP client is GStreamer's ``rtspsrc`` in ONVIF mode, run as a helper process
(``gst_onvif_replay.py``) by Debian's Python, which alone has the GStreamer bindings. The job is
a ``FillJob`` with another child: the same kill-safe ``.part`` writing, watchdog, chunks,
progress, finalising and Stop, only the command differs. A camera that refuses
``Rate-Control: no`` is replayed again at real time, the reason kept in the run. A worker without
GStreamer says so once and replays ONVIF cameras through ffmpeg at real time.
"""

import functools
import logging
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

from .fill import FillJob
from .fill import FillResult

log = logging.getLogger(__name__)

HELPER = Path(__file__).with_name("gst_onvif_replay.py")
SYSTEM_PYTHON = "/usr/bin/python3"
EXIT_RATE_CONTROL = 3  # gst_onvif_replay.py: the camera refused Rate-Control: no
REAL_TIME_NOTE = "the camera refused Rate-Control: no; replayed at real time"
_PROBE = (
    "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtsp', '1.0');"
    "from gi.repository import Gst, GstRtsp; Gst.init(None);"
    "missing = [e for e in ('rtspsrc', 'rtph264depay', 'h264parse', 'mp4mux', 'filesink')"
    " if Gst.ElementFactory.find(e) is None]; print(' '.join(missing))"
)


@functools.cache
def gstreamer_problem(python: str = SYSTEM_PYTHON) -> str | None:
    """Why ONVIF replay cannot run on this machine, or None when it can (asked once per worker)."""
    if not shutil.which(python):
        problem = f"{python} is not installed"
    else:
        try:
            done = subprocess.run(
                [python, "-c", _PROBE], capture_output=True, text=True, timeout=30
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            problem = f"the GStreamer probe failed: {exc}"
        else:
            if done.returncode != 0:
                problem = "GStreamer's Python bindings are missing (python3-gi, python3-gst-1.0)"
            elif done.stdout.strip():
                problem = f"GStreamer elements are missing: {done.stdout.strip()}"
            else:
                problem = None
    if problem:
        log.warning(
            "ONVIF replay is not available (%s): ONVIF cameras are replayed through ffmpeg at "
            "real time; install gstreamer1.0-plugins-good/-bad and python3-gst-1.0",
            problem,
        )
    return problem


def with_credentials(uri: str, username: str, password: str) -> str:
    """``uri`` with the camera's credentials in its user-info (for ffmpeg, which has no flag)."""
    parts = urlsplit(uri)
    if not username or "@" in parts.netloc:
        return uri
    info = quote(username, safe="") + (":" + quote(password, safe="") if password else "")
    return urlunsplit(parts._replace(netloc=f"{info}@{parts.netloc}"))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class OnvifReplayJob(FillJob):
    """A replay by ``Range: clock=`` with ``Require: onvif-replay`` and ``Rate-Control: no``."""

    method = "onvif-replay"

    def __init__(
        self,
        *,
        replay_uri: Callable[[], str],
        username: str = "",
        password: str = "",
        max_kbps: float = 0.0,
        python: str = SYSTEM_PYTHON,
        **kw,
    ):
        super().__init__(replay_url=lambda _start, _end: replay_uri(), **kw)
        self.username = username
        self._password = password
        self.max_kbps = max_kbps
        self.python = python
        self.rate_control = "no"

    def command(self, url: str) -> list[str]:
        """The helper's argument list for the current piece; the password goes on stdin."""
        piece = self._current()
        begin = self.start_time + timedelta(seconds=piece.offset)
        end = begin + timedelta(seconds=piece.seconds)
        parts = urlsplit(url)
        bare = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
        cmd = [self.python, str(HELPER), "--url", bare, "--start", _iso(begin), "--end", _iso(end)]
        cmd += ["--out", str(piece.part), "--rate-control", self.rate_control]
        cmd += ["--io-timeout", f"{self.io_timeout_s:g}", "--max-kbps", f"{self.max_kbps:g}"]
        cmd += ["--audio", "drop" if self._drop_audio else "aac"]  # the fill's audio rule
        if self.username:
            cmd += ["--user", self.username]
        return cmd

    def child_input(self) -> str | None:
        return self._password + "\n" if self.username else None

    def _after_piece(self) -> bool:
        refused = (
            self.rate_control == "no"
            and not self._piece_footage
            and self.proc is not None
            and self.proc.returncode == EXIT_RATE_CONTROL
        )
        if refused:
            log.warning("gap %s: %s", self.gap_id, REAL_TIME_NOTE)
            self.rate_control = "yes"
            self._launch(self._current())
            return True
        return super()._after_piece()

    def result(self) -> FillResult:
        """As ``FillJob.result``; a replay at real time says why in the run."""
        result = super().result()
        if self.rate_control == "yes":
            result.error = "; ".join(filter(None, [REAL_TIME_NOTE, result.error]))
        return result
