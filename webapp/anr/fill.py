"""One fill: ffmpeg copies a replay window from the camera into the archive, safely.

ffmpeg runs as a child process without a shell and dies with its worker (a parent-death
signal). It writes fragmented MP4 into ``<start>.mp4.part``, so whatever it copied survives an
abrupt end (time limit, stalled camera, Stop, a crash); the footage is then finalised into an
ordinary MP4 with its index at the front and renamed into place, never over an existing archive
file. Video is stream-copied; audio is transcoded to AAC or dropped (MP4 cannot carry the G.711
most cameras send). A window longer than the chunk size is fetched as consecutive chunks, one
archive file each, and an archived chunk is never fetched again.
"""

import collections
import ctypes
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from ..domain.evidence import sha256_file
from ..domain.states import GapState
from ..masking import mask_credentials
from .media import ARCHIVE_NAME_FORMAT
from .media import MEDIA_FORMATS
from .media import archive_name
from .media import ffmpeg_bin
from .media import probe_duration

log = logging.getLogger(__name__)

FILLED_RATIO = 0.95  # this much of the window recovered counts as filled
JOB_TIMEOUT_MARGIN_S = 60
STDERR_LINES = 12
MAX_ERROR_CHARS = 2000
MAX_EXISTING_PIECES = 20
TERMINATE_GRACE_S = 2.0
SECOND_SIGNAL_S = 0.3
FINALISE_TIMEOUT_S = 900
# Before its first output ffmpeg connects and probes the streams (up to its 5 s analyzeduration):
# the watchdog allows that on top of the I/O timeout.
STARTUP_ALLOWANCE_S = 10.0
AUDIO_MODES = ("aac", "drop")
PART_SUFFIX = ".part"
# ffmpeg's complaints that mean the audio (not the video or the camera) is the problem.
_AUDIO_TROUBLE = re.compile(r"audio|aac|pcm_|codec|decoder|encoder|Stream #\d+:[1-9]", re.I)
# A refusal or an unreachable camera is never about audio: no video-only retry for those.
_NOT_AUDIO = re.compile(
    # ffmpeg names a 5xx it has no text for "5XX" ("Server returned 5XX Server Error reply").
    r"Server returned [45](?:\d\d|XX)|Unauthorized|Forbidden"
    r"|Connection refused|Connection timed out",
    re.I,
)
# ffmpeg's lines at ``-loglevel +level+info``: the level tells errors from the redirect notice.
_LEVEL = re.compile(r"\[(panic|fatal|error|warning|info|verbose|debug|trace)\] ")
_ERROR_LEVELS = ("panic", "fatal", "error")
# ffmpeg follows an RTSP redirect by itself (no option turns it off): it says so at info level.
_REDIRECTING = re.compile(r"Redirecting to (\S+)")
_OWN_ENDING = re.compile(r"Immediate exit requested|received signal|loss of information possible")
# Fragmented MP4, a fragment every half second (keyframe or not): an abrupt end loses at most that.
FRAGMENTED = ["-movflags", "+empty_moov+default_base_moof", "-frag_duration", "500000"]

# A replay loses up to about a frame interval at each end whatever its length, so a short piece
# (the last chunk of a window) is complete within this many seconds of its length.
PIECE_SLACK_S = 1.0

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _die_with_parent(parent_pid: int) -> Callable[[], None] | None:
    """A preexec function giving ffmpeg SIGKILL when the thread that started it goes away.

    Linux only. The signal follows the forking *thread*, so fills are started from the worker's
    long-lived loop thread. The parent check closes the race of a parent dying before prctl.
    """
    if _libc is None:
        return None

    def setup() -> None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent_pid:
            os._exit(1)

    return setup


def remove_stale_parts(folder: Path, start: datetime, end: datetime) -> list[Path]:
    """Delete the ``.part`` files of a window [start, end): what a dead worker left behind."""
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    low, high = archive_name(start)[:15], archive_name(end)[:15]
    for path in folder.glob("*" + PART_SUFFIX):
        stamp = path.name[:15]  # YYYYmmdd_HHMMSS, in every name this module writes
        try:
            datetime.strptime(stamp, ARCHIVE_NAME_FORMAT)
        except ValueError:
            continue
        if low <= stamp < high:
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def covers(duration: float, span: float) -> bool:
    """Whether ``duration`` seconds of footage settle a piece of ``span`` seconds."""
    return duration >= min(FILLED_RATIO * span, span - PIECE_SLACK_S)


@dataclass
class FillResult:
    """How a fill ended: ``filled``, ``partial`` or ``failed`` (a failed attempt)."""

    outcome: str
    recovered_seconds: float
    error: str | None = None
    path: Path | None = None
    paths: list[Path] = field(default_factory=list)


@dataclass
class Piece:
    """One ffmpeg run: ``seconds`` of the window from ``offset``, written to ``target``."""

    offset: int
    seconds: int
    target: Path

    @property
    def part(self) -> Path:
        """Where ffmpeg writes this piece until it is judged."""
        return self.target.with_name(self.target.name + PART_SUFFIX)

    @property
    def final_part(self) -> Path:
        """The finalised (index at the front) copy of this piece, before the rename."""
        return self.target.with_name(self.target.name + ".final" + PART_SUFFIX)


class FillJob:
    """A running (or finished) copy of one gap's window, one or more ffmpeg runs in turn."""

    method = "replay"  # what the fill history records

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
        audio: str = "aac",
        chunk_seconds: int = 1800,
    ):
        self.gap_id = gap_id
        self.folder = folder
        self.start_time = start
        self.seconds = seconds
        self.replay_url = replay_url
        self.secrets = secrets
        self.ffmpeg = ffmpeg_bin(ffmpeg)
        self.io_timeout_s = io_timeout_s
        self.max_fill_seconds = max_fill_seconds
        self.audio = audio if audio in AUDIO_MODES else "aac"
        self.chunk_seconds = max(int(chunk_seconds), 1)
        self.piece: Piece | None = None
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0
        self.time_limit_s = 0.0
        self.timed_out = False
        self.stalled = False
        self.recovered = 0.0  # seconds of the window in the archive (earlier runs and this one)
        self.fetched = 0.0  # of which this job brought back
        self.placed: list[Path] = []
        self.hashes: dict[str, str] = {}  # archive name -> SHA-256, taken as each file is placed
        self.source: str | None = None  # the last replay URL, credentials masked
        self.complete = False  # every piece of the window is archived
        self._position = 0  # seconds from the window start up to which the archive is settled
        self._end_note: str | None = None
        self._drop_audio = self.audio == "drop"
        self._terminated_at: float | None = None
        self._signalled_twice = False
        self._out_time = 0.0
        self._last_advance = 0.0
        self._notes: list[str] = []
        self._stderr: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)
        self._readers: list[threading.Thread] = []
        self._settling: threading.Thread | None = None
        self._finished = False
        self._piece_footage = 0.0
        self._piece_error = ""
        self._http = False  # the replay URL is HTTP(S): ffmpeg is told not to follow redirects
        self.redirected: str | None = None  # where the camera tried to send ffmpeg (masked)

    # --- the piece in hand --------------------------------------------------------------------
    @property
    def target(self) -> Path | None:
        """The archive file the current piece becomes."""
        return self.piece.target if self.piece else None

    @property
    def part(self) -> Path | None:
        """Where ffmpeg writes the current piece until it is judged."""
        return self.piece.part if self.piece else None

    def _current(self) -> Piece:
        """The piece ffmpeg is on; everything that asks runs after ``_launch`` set it."""
        if self.piece is None:
            raise RuntimeError(f"gap {self.gap_id}: no piece launched yet")
        return self.piece

    def _running_proc(self) -> subprocess.Popen:
        """The ffmpeg of the current piece; everything that asks runs after ``_launch``."""
        if self.proc is None:
            raise RuntimeError(f"gap {self.gap_id}: ffmpeg not started yet")
        return self.proc

    def masked(self, text: str) -> str:
        """``text`` with the camera's credentials hidden (everywhere, see docs/design.md)."""
        return mask_credentials(text, self.secrets)

    # --- lifecycle --------------------------------------------------------------------------
    def start(self) -> FillResult | None:
        """Start the first ffmpeg run; returns a result at once when there is nothing to run."""
        self.folder.mkdir(parents=True, exist_ok=True)
        piece = self._next_piece()
        if piece is None:
            log.info("gap %s: archive files already cover the window; not fetching", self.gap_id)
            return FillResult(GapState.FILLED, min(self.recovered, float(self.seconds)))
        self._launch(piece)
        return None

    def _next_piece(self) -> Piece | None:
        """The next stretch of the window the archive lacks, walking the files already there.

        Pieces end on chunk boundaries; a file that covers its chunk settles it, a shorter one (an
        earlier partial fill) is continued in a file named by where it ends. An unreadable
        existing file counts as covering its chunk: it is never overwritten.
        """
        steps = self.seconds // self.chunk_seconds + MAX_EXISTING_PIECES
        while self._position < self.seconds and steps > 0:
            steps -= 1
            offset = self._position
            end = min((offset // self.chunk_seconds + 1) * self.chunk_seconds, self.seconds)
            path = self.folder / archive_name(self.start_time + timedelta(seconds=offset))
            if not path.exists():
                return Piece(offset, end - offset, path)
            duration = probe_duration(path, self.ffmpeg)
            if not duration:
                self.recovered += end - offset
                self._position = end
            elif covers(duration, end - offset):
                self.recovered += min(duration, end - offset)
                self._position = end
            else:
                self.recovered += duration
                self._position = offset + max(int(duration), 1)
        self.complete = self._position >= self.seconds
        return None

    def _launch(self, piece: Piece) -> None:
        """Start ffmpeg for ``piece``."""
        self.piece = piece
        begin = self.start_time + timedelta(seconds=piece.offset)
        url = self.replay_url(begin, begin + timedelta(seconds=piece.seconds))
        self._http = urlsplit(url).scheme.lower() in ("http", "https")
        self.source = self.masked(url)
        piece.part.unlink(missing_ok=True)  # a leftover of a crashed run is ours to replace
        piece.final_part.unlink(missing_ok=True)
        log.info(
            "gap %s: fetching %s s from %s into %s",
            self.gap_id, piece.seconds, self.masked(url), piece.target.name,
        )  # fmt: skip
        self.time_limit_s = min(piece.seconds + JOB_TIMEOUT_MARGIN_S, self.max_fill_seconds)
        self._out_time = 0.0
        self._terminated_at = None
        self._stderr.clear()
        self.started_at = self._last_advance = time.monotonic()
        secret = self.child_input()
        self.proc = subprocess.Popen(
            self.command(url),
            stdin=subprocess.DEVNULL if secret is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            # Own session: a Ctrl-C in the terminal reaches the worker, which decides what ends.
            start_new_session=True,
            preexec_fn=_die_with_parent(os.getpid()),
        )
        if secret is not None and self.proc.stdin is not None:
            try:
                self.proc.stdin.write(secret)
                self.proc.stdin.close()
            except OSError:  # the child died at once: its exit code tells
                pass
        self._readers = [
            threading.Thread(target=self._read_progress, args=(self.proc,), daemon=True),
            threading.Thread(target=self._read_stderr, args=(self.proc,), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def child_input(self) -> str | None:
        """What the child reads on stdin (a secret kept out of its argv), or None."""
        return None

    def command(self, url: str) -> list[str]:
        """The ffmpeg argument list for the current piece (no shell ever sees it)."""
        # The watchdog decides when a camera has stalled; ffmpeg's own socket timeout is only a
        # backstop behind it (at 1x it would fire first and reset the watchdog with a last frame).
        piece = self._current()
        micros = str(int(2 * self.io_timeout_s * 1_000_000))
        # Info level, each line tagged with its level: errors are kept, and a redirect is seen.
        cmd = [self.ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "+level+info", "-nostats"]
        cmd += ["-progress", "pipe:1", "-stats_period", "0.5"]
        # The camera's stream only: no redirect (HTTP), no protocol or demuxer that could
        # follow a reference to a file or another host (design.md, "Hostile cameras").
        if urlsplit(url).scheme.lower() in ("rtsp", "rtsps"):
            cmd += ["-rtsp_transport", "tcp", "-timeout", micros]
            cmd += ["-protocol_whitelist", "rtsp,rtsps,rtp,srtp,udp,tcp,tls"]
        else:
            cmd += ["-rw_timeout", micros, "-max_redirects", "0"]
            cmd += ["-protocol_whitelist", "http,https,tcp,tls"]
        cmd += ["-format_whitelist", "rtsp," + MEDIA_FORMATS]
        cmd += ["-i", url, "-t", str(piece.seconds)]
        cmd += ["-map", "0:v:0", "-c:v", "copy"]
        if self._drop_audio:
            cmd += ["-an"]
        else:
            cmd += ["-map", "0:a:0?", "-c:a", "aac", "-b:a", "64k"]
        # Each fragment reaches the disk when it is complete, not when an I/O buffer fills.
        cmd += ["-dn", "-sn", *FRAGMENTED, "-flush_packets", "1"]
        cmd += ["-f", "mp4", "-n", str(piece.part)]
        return cmd

    def _read_progress(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None  # started with stdout=PIPE
        for line in proc.stdout:
            key, _, value = line.strip().partition("=")
            if key == "out_time_us" and value.isdigit():
                out_time = int(value) / 1_000_000
                if out_time > self._out_time:
                    self._out_time = out_time
                    self._last_advance = time.monotonic()

    def _read_stderr(self, proc: subprocess.Popen) -> None:
        assert proc.stderr is not None  # started with stderr=PIPE
        for line in proc.stderr:
            level = _LEVEL.search(line)
            text = _LEVEL.sub("", line, count=1).rstrip() if level else line.rstrip()
            moved = _REDIRECTING.search(text)
            if moved and self.redirected is None:
                # Off the camera: end ffmpeg before it copies a frame from wherever it went.
                self.redirected = self.masked(moved.group(1))
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if text.strip() and (level is None or level.group(1) in _ERROR_LEVELS):
                self._stderr.append(text)

    @property
    def progress(self) -> float:
        """Share of the whole window in the archive so far, 0..1 (one bar over every chunk)."""
        if not self.seconds:
            return 0.0
        current = 0.0 if self._settling is not None else self._out_time
        return min((self.recovered + current) / self.seconds, 1.0)

    def running(self) -> bool:
        """True while the job works: watches ffmpeg, finalises each piece, starts the next."""
        if self._finished or self.proc is None:
            return False
        if self._settling is not None:
            if self._settling.is_alive():
                return True
            self._settling = None
            self._finished = not self._after_piece()
            return not self._finished
        if self.proc.poll() is None:
            self._watch()
            return True
        self._reap()
        # Finalising can take a while for a long chunk: off the worker's thread, so leases renew.
        self._settling = threading.Thread(target=self._settle_piece, daemon=True)
        self._settling.start()
        return True

    def _watch(self) -> None:
        """End ffmpeg when its output stops advancing, or past the hard time limit."""
        now = time.monotonic()
        if self._terminated_at is not None:
            waited = now - self._terminated_at
            if waited > TERMINATE_GRACE_S:
                self._running_proc().kill()  # the fragments already written survive SIGKILL
            elif waited > SECOND_SIGNAL_S and not self._signalled_twice:
                # ffmpeg aborts a blocking read (a hung camera) only at its second signal; the
                # fragments on disk stay, only the one being built (at most half a second) is lost.
                self._signalled_twice = True
                self._signal(signal.SIGTERM)
            return
        allowed = self.io_timeout_s + (0.0 if self._out_time else STARTUP_ALLOWANCE_S)
        if now - self._last_advance > allowed:
            # A camera can keep the session (and its RTCP) alive and send no media: only the
            # output time tells.
            self.stalled = True
            self._terminate()
        elif now - self.started_at > self.time_limit_s:
            self.timed_out = True
            self._terminate()

    def _terminate(self) -> None:
        self._terminated_at = time.monotonic()
        self._signalled_twice = False
        self._signal(signal.SIGTERM)  # ffmpeg closes its last fragment on SIGTERM

    def _signal(self, signum: int) -> None:
        try:
            self._running_proc().send_signal(signum)
        except ProcessLookupError:
            pass

    def end(self, note: str) -> None:
        """End the fill now keeping what it copied (e.g. an operator's Stop); ``note`` says why."""
        self._end_note = note
        if self.proc is not None and self.proc.poll() is None and self._terminated_at is None:
            self._terminate()

    def _settle_piece(self) -> None:
        """Finalise the piece ffmpeg wrote (index at the front) and move it into place."""
        self._piece_footage = 0.0
        self._piece_error = self.error_tail()
        piece = self._current()
        part, final = piece.part, piece.final_part
        try:
            if self.redirected is not None:
                pass  # footage from where a redirect led is not this camera's: never archived
            elif part.exists() and self._finalise(part, final):
                recovered = probe_duration(final, self.ffmpeg)
                # Hashed before the rename, off the worker's thread: the link keeps the bytes.
                digest = sha256_file(final) if recovered else ""
                if recovered and self._move_into_place(final, piece.target):
                    self._piece_footage = min(recovered, float(piece.seconds))
                    self.hashes[piece.target.name] = digest
                elif recovered:  # a file got there first: it counts, and it stays
                    self._piece_footage = float(piece.seconds)
        except Exception:  # a broken piece is this attempt's failure, never the worker's
            log.exception("gap %s: could not finalise %s", self.gap_id, part.name)
        finally:
            part.unlink(missing_ok=True)
            final.unlink(missing_ok=True)

    def _finalise(self, part: Path, final: Path) -> bool:
        """Remux the fragmented ``.part`` into an ordinary MP4 with its index at the front."""
        cmd = [self.ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-i", str(part)]
        cmd += ["-map", "0", "-c", "copy", "-movflags", "+faststart", "-f", "mp4", "-y", str(final)]
        try:
            done = subprocess.run(
                cmd, capture_output=True, timeout=FINALISE_TIMEOUT_S, stdin=subprocess.DEVNULL
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("gap %s: finalising %s failed: %s", self.gap_id, part.name, exc)
            return False
        return done.returncode == 0 and final.exists()

    def _after_piece(self) -> bool:
        """Account for the settled piece; start the next one (or a retry without audio)."""
        piece, footage = self._current(), self._piece_footage
        ended_early = self.stalled or self.timed_out or self._end_note is not None
        if self.redirected is not None:
            return False  # refused: no retry, no next piece
        if not footage:
            retry_without_audio = (
                not self._drop_audio
                and not ended_early
                and _AUDIO_TROUBLE.search(self._piece_error or "")
                and not _NOT_AUDIO.search(self._piece_error or "")
            )
            if retry_without_audio:
                # Audio never fails a fill: the same piece again, video only.
                log.warning("gap %s: audio could not be kept; fetching video only", self.gap_id)
                self._notes.append("audio dropped: " + self._piece_error.splitlines()[-1])
                self._drop_audio = True
                self._launch(piece)
                return True
            return False
        self.placed.append(piece.target)
        self.recovered += footage
        self.fetched += footage
        if not covers(footage, piece.seconds) or ended_early:
            self._position = piece.offset + max(int(footage), 1)
            return False
        self._position = piece.offset + piece.seconds
        following = self._next_piece()
        if following is None:
            return False
        self._launch(following)
        return True

    def abort(self) -> None:
        """End ffmpeg now and remove its ``.part`` (shutdown, lost claim)."""
        self._finished = True
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._reap()
        if self._settling is not None:
            self._settling.join(timeout=FINALISE_TIMEOUT_S)
        if self.piece is not None:
            self.piece.part.unlink(missing_ok=True)
            self.piece.final_part.unlink(missing_ok=True)

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
        lines = list(self._stderr)
        if self._terminated_at is not None:  # what ffmpeg says about being ended is no news
            lines = [line for line in lines if not _OWN_ENDING.search(line)]
        text = "\n".join(lines)
        return self.masked(text)[-MAX_ERROR_CHARS:]

    def result(self) -> FillResult:
        """Judge the job by the footage it brought back (call once ``running()`` is False)."""
        while self.running():  # a caller that did not poll to the end still gets the outcome
            time.sleep(0.1)
        self._reap()
        code = self.proc.returncode if self.proc is not None else None
        notes = list(self._notes)
        if self.stalled:
            notes.append(f"no new footage for {self.io_timeout_s:g} s (the camera stalled)")
        if self.timed_out:
            notes.append(f"the fill exceeded its {self.time_limit_s:g} s time limit")
        if self._end_note:
            notes.append(self._end_note)
        if self.redirected is not None:
            reason = (
                f"the camera redirected the replay to {self.redirected}; redirects are refused "
                "(footage and credentials stay with the camera's own address)"
            )
            return FillResult(GapState.FAILED, 0.0, "; ".join(notes + [reason]))
        if not self.fetched:
            reason = self._piece_error or f"ffmpeg exited with code {code} and copied no footage"
            if self._http and "Error opening input" in reason:
                # ffmpeg says nothing of a redirect it refused (-max_redirects 0): say it here.
                notes.append(
                    "the camera's HTTP answer could not be opened (an error, or a redirect: "
                    "redirects are not followed)"
                )
            return FillResult(GapState.FAILED, 0.0, "; ".join(notes + [reason]))
        total = round(min(self.recovered, float(self.seconds)), 2)
        first = self.placed[0] if self.placed else None
        if self.complete or total >= FILLED_RATIO * self.seconds:
            return FillResult(GapState.FILLED, total, None, first, list(self.placed))
        note = f"replay ended after {total:.1f} of {self.seconds} s"
        detail = "; ".join(filter(None, [note, *notes, self._piece_error]))
        return FillResult(GapState.PARTIAL, total, detail, first, list(self.placed))

    def _move_into_place(self, source: Path, target: Path) -> bool:
        """Rename ``source`` to the archive name atomically; False if a file got there first."""
        try:
            os.link(source, target)  # fails when the target exists: never overwrite
        except FileExistsError:
            log.warning("gap %s: %s appeared meanwhile; kept it", self.gap_id, target.name)
            return False
        finally:
            source.unlink(missing_ok=True)
        return True
