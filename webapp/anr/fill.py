"""One fill: ffmpeg copies a replay window from the camera into the archive, safely.

ffmpeg runs as a child process without a shell; it writes ``<start>.mp4.part`` which is renamed
into place only when footage came back, never over an existing archive file. Every way out that
brings nothing back removes the ``.part``.
"""

import collections
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from ..masking import mask_credentials
from .media import archive_name
from .media import ffmpeg_bin
from .media import probe_duration

log = logging.getLogger(__name__)

FILLED_RATIO = 0.95  # this much of the window recovered counts as filled (docs/design.md)
JOB_TIMEOUT_MARGIN_S = 60
STDERR_LINES = 12
MAX_ERROR_CHARS = 2000
MAX_EXISTING_PIECES = 20
TERMINATE_GRACE_S = 5


@dataclass
class FillResult:
    """How a fill ended: ``filled``, ``partial`` or ``failed`` (a failed attempt)."""

    outcome: str
    recovered_seconds: float
    error: str | None = None
    path: Path | None = None


class FillJob:
    """A running (or finished) ffmpeg copy of one gap's window."""

    def __init__(
        self,
        *,
        gap_id: str,
        folder: Path,
        start: datetime,
        seconds: int,
        replay_url: Callable[[datetime, datetime], str],
        secrets: tuple[str, ...] = (),
        ffmpeg: str = "",
        io_timeout_s: float = 15.0,
        max_fill_seconds: float = 3600.0,
    ):
        self.gap_id = gap_id
        self.folder = folder
        self.start_time = start
        self.seconds = seconds
        self.replay_url = replay_url
        self.secrets = secrets
        self.ffmpeg = ffmpeg_bin(ffmpeg)
        self.io_timeout_s = io_timeout_s
        self.time_limit_s = min(seconds + JOB_TIMEOUT_MARGIN_S, max_fill_seconds)
        self.covered = 0.0  # seconds already in the archive before this run (earlier partials)
        self.fetch_seconds = seconds
        self.target: Path | None = None
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0
        self.timed_out = False
        self._terminated_at: float | None = None
        self._out_time = 0.0
        self._stderr: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)
        self._readers: list[threading.Thread] = []

    @property
    def part(self) -> Path | None:
        """Where ffmpeg writes until the footage is judged."""
        return self.target.with_name(self.target.name + ".part") if self.target else None

    def masked(self, text: str) -> str:
        """``text`` with the camera's credentials hidden (everywhere, see docs/design.md)."""
        return mask_credentials(text, self.secrets)

    def start(self) -> FillResult | None:
        """Start ffmpeg; returns a result at once when there is nothing to run."""
        self.folder.mkdir(parents=True, exist_ok=True)
        covered, target = self._existing_coverage()
        if target is None or covered >= FILLED_RATIO * self.seconds:
            log.info("gap %s: archive files already cover the window; not fetching", self.gap_id)
            return FillResult("filled", min(covered, float(self.seconds)))
        self.covered = covered
        self.target = target
        begin = self.start_time + timedelta(seconds=int(covered))
        self.fetch_seconds = self.seconds - int(covered)
        end = begin + timedelta(seconds=self.fetch_seconds)
        url = self.replay_url(begin, end)
        self.part.unlink(missing_ok=True)  # a leftover of a crashed run is ours to replace
        log.info("gap %s: fetching %s s from %s", self.gap_id, self.fetch_seconds, self.masked(url))
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(
            self.command(url),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            # Own session: a Ctrl-C in the terminal reaches the worker, which decides what ends.
            start_new_session=True,
        )
        self._readers = [
            threading.Thread(target=self._read_progress, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        return None

    def command(self, url: str) -> list[str]:
        """The ffmpeg argument list (no shell ever sees it)."""
        micros = str(int(self.io_timeout_s * 1_000_000))
        cmd = [self.ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-nostats"]
        cmd += ["-progress", "pipe:1"]
        if urlsplit(url).scheme.lower() in ("rtsp", "rtsps"):
            cmd += ["-rtsp_transport", "tcp", "-timeout", micros]
        else:
            cmd += ["-rw_timeout", micros]
        cmd += ["-i", url, "-t", str(self.fetch_seconds), "-c", "copy"]
        cmd += ["-movflags", "+faststart", "-f", "mp4", "-n", str(self.part)]
        return cmd

    def _existing_coverage(self) -> tuple[float, Path | None]:
        """Seconds of the window already archived from its start, and the next file to write.

        An earlier partial fill left ``<start>.mp4``; the rest goes into a file named by where
        that one ends. An unreadable existing file counts as filled: it is never overwritten.
        """
        covered = 0.0
        for _ in range(MAX_EXISTING_PIECES):
            path = self.folder / archive_name(self.start_time + timedelta(seconds=int(covered)))
            if not path.exists():
                return covered, path
            duration = probe_duration(path, self.ffmpeg)
            if not duration:
                return float(self.seconds), None
            covered = int(covered) + duration
            if covered >= FILLED_RATIO * self.seconds:
                return covered, None
        return covered, None

    def _read_progress(self) -> None:
        for line in self.proc.stdout:
            key, _, value = line.strip().partition("=")
            if key == "out_time_us" and value.isdigit():
                self._out_time = int(value) / 1_000_000

    def _read_stderr(self) -> None:
        for line in self.proc.stderr:
            if line.strip():
                self._stderr.append(line.rstrip())

    @property
    def progress(self) -> float:
        """Share of the whole window in the archive so far, 0..1."""
        if not self.seconds:
            return 0.0
        return min((self.covered + self._out_time) / self.seconds, 1.0)

    def running(self) -> bool:
        """True while ffmpeg runs; ends a run that outlives its hard time limit."""
        if self.proc is None or self.proc.poll() is not None:
            return False
        now = time.monotonic()
        if self._terminated_at is None and now - self.started_at > self.time_limit_s:
            # SIGTERM lets ffmpeg close the MP4, so footage copied so far can still count.
            self.timed_out = True
            self._terminated_at = now
            self.proc.terminate()
        elif self._terminated_at is not None and now - self._terminated_at > TERMINATE_GRACE_S:
            self.proc.kill()
        return True

    def abort(self) -> None:
        """End ffmpeg now and remove its ``.part`` (stop, shutdown, lost claim)."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._reap()
        if self.part is not None:
            self.part.unlink(missing_ok=True)

    def _reap(self) -> None:
        if self.proc is None:
            return
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for reader in self._readers:
            reader.join(timeout=2)

    def error_tail(self) -> str:
        """The end of ffmpeg's complaints, credentials masked."""
        text = "\n".join(self._stderr)
        return self.masked(text)[-MAX_ERROR_CHARS:]

    def result(self) -> FillResult:
        """Judge the finished run by the footage it brought back; move the file into place."""
        self._reap()
        code = self.proc.returncode
        recovered = probe_duration(self.part, self.ffmpeg) if self.part.exists() else None
        limit_note = ""
        if self.timed_out:
            limit_note = f"the fill exceeded its {self.time_limit_s:g} s time limit"
        if not recovered:
            self.part.unlink(missing_ok=True)
            reason = self.error_tail() or f"ffmpeg exited with code {code} and copied no footage"
            return FillResult("failed", 0.0, "; ".join(filter(None, [limit_note, reason])))
        if not self._move_into_place():
            return FillResult("filled", float(self.seconds), None)
        total = min(self.covered + recovered, float(self.seconds))
        if total >= FILLED_RATIO * self.seconds:
            return FillResult("filled", round(total, 2), None, self.target)
        note = f"replay ended after {total:.1f} of {self.seconds} s"
        detail = "; ".join(filter(None, [note, limit_note, self.error_tail()]))
        return FillResult("partial", round(total, 2), detail, self.target)

    def _move_into_place(self) -> bool:
        """Rename ``.part`` to the archive name atomically; False if a file got there first."""
        try:
            os.link(self.part, self.target)  # fails when the target exists: never overwrite
        except FileExistsError:
            log.warning("gap %s: %s appeared meanwhile; kept it", self.gap_id, self.target.name)
            return False
        finally:
            self.part.unlink(missing_ok=True)
        return True
