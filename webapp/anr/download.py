"""A download fill: the camera's recordings for the window come over its vendor API, are cut
to the window by stream copy (start rounded down to a keyframe) and judged like a replay.

The HTTP download and the cut run in the job's own thread; the worker polls it like an ffmpeg
child. Downloaded files go to ``<target>.dl<n>.part`` in the camera folder (the indexer ignores
them; a dead worker's are removed with its other ``.part`` files), the cut to the same ``.part``
the replay writes, renamed into place only when footage came back.
"""

import collections
import fcntl
import functools
import logging
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from collections.abc import Sequence
from datetime import datetime
from datetime import timedelta
from pathlib import Path

from ..domain.evidence import sha256_file
from ..domain.states import GapState
from ..masking import mask_credentials
from .fill import FILLED_RATIO
from .fill import MAX_ERROR_CHARS
from .fill import PART_SUFFIX
from .fill import FillJob
from .fill import FillResult
from .fill import Piece
from .fill import _die_with_parent
from .media import HEAD_BYTES
from .media import MEDIA_FORMATS
from .media import describe_content
from .media import describe_head
from .media import ffmpeg_bin
from .media import moov_first
from .media import probe_duration
from .media import sniff_head
from .media import sniff_media
from .phases import Phases
from .vendors import DownloadStopped
from .vendors import Recording
from .vendors import Refused
from .vendors import Unsupported
from .vendors import VendorClient
from .vendors import VendorError
from .vendors.base import CONTIGUOUS_S

log = logging.getLogger(__name__)

CUT_TIMEOUT_S = 300
DOWNLOAD_SHARE = 0.9  # of the progress bar; the cut is the rest
DOWNLOAD_HEADROOM = 1.5  # a window may bring back this much more than its seconds at the cap


def contiguous(recordings: list[Recording], start: datetime, end: datetime) -> list[Recording]:
    """The recordings overlapping [start, end) that run on without a hole from the first one."""
    run: list[Recording] = []
    for rec in sorted(recordings, key=lambda r: r.start):
        if rec.end <= start or rec.start >= end:
            continue
        if run and (rec.start - run[-1].end).total_seconds() > CONTIGUOUS_S:
            break
        run.append(rec)
    return run


def concat_list(
    files: Sequence[tuple[Path | str, Recording]], start: datetime, end: datetime
) -> str:
    """An ffconcat script: the files in order, the first cut in at ``start``, the last out at
    ``end`` (with stream copy ffmpeg starts at the keyframe before the in point).

    Names are bare (the script sits beside them), so ffmpeg's ``-safe 1`` accepts them and no
    path can lead out of the attempt's own files; a streamed cut names its pipes (``pipe:5``).
    """
    lines = ["ffconcat version 1.0"]
    for i, (path, rec) in enumerate(files):
        lines.append(f"file '{path if isinstance(path, str) else path.name}'")
        if i == 0 and start > rec.start:
            lines.append(f"inpoint {(start - rec.start).total_seconds():.3f}")
        if i == len(files) - 1 and end < rec.end:
            lines.append(f"outpoint {(end - rec.start).total_seconds():.3f}")
    return "\n".join(lines) + "\n"


PIPE_BYTES = 1024 * 1024  # the pipe to the cut holds this much: fewer switches per chunk


@functools.cache
def _setpriv() -> str | None:
    """``setpriv`` if it can give a child the parent-death signal (util-linux 2.33+), else None."""
    found = shutil.which("setpriv")
    if found is None:
        return None
    try:
        probe = subprocess.run(
            [found, "--pdeathsig", "KILL", "--", "true"], capture_output=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return found if probe.returncode == 0 else None


def _pipe() -> tuple[int, int]:
    """A pipe for one recording, widened where Linux allows (the default holds 64 kB)."""
    read, write = os.pipe()
    try:
        fcntl.fcntl(write, getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BYTES)
    except OSError:  # above the system's pipe-max-size: the default size works too
        pass
    return read, write


class NotStreamable(Exception):
    """The camera's file cannot be read from a pipe (an MP4 with its index at the end)."""


class _Feed:
    """One recording on its way down the cut's pipe: its first bytes must look like media
    (a playlist, manifest or script is refused before ffmpeg reads any of it)."""

    def __init__(self, out, on_head: Callable[[str], None] | None = None) -> None:
        self.out = out
        self.on_head = on_head  # told the container once the head is judged, before it goes
        self.head = bytearray()
        self.passing = False

    def write(self, chunk: bytes) -> None:
        if self.passing:
            self.out.write(chunk)
            return
        self.head += chunk
        if len(self.head) >= HEAD_BYTES:
            self._let_through()

    def finish(self) -> None:
        """The recording ended (a short one may never have reached ``HEAD_BYTES``)."""
        if not self.passing:
            self._let_through()

    def _let_through(self) -> None:
        head = bytes(self.head)
        kind = sniff_head(head)
        if kind is None:
            raise Refused(
                f"the camera's download is not a media file ({describe_head(head)}); "
                "playlists, manifests and scripts are refused"
            )
        if kind == "mp4" and not moov_first(head):
            raise NotStreamable("the camera's MP4 keeps its index after the footage")
        if self.on_head is not None:
            self.on_head(kind)
        self.passing = True
        self.head = bytearray()
        self.out.write(head)


class DownloadJob:
    """One gap's window fetched by download; polled by the worker like a replay FillJob."""

    method = "download"

    def __init__(
        self,
        *,
        gap_id: str,
        folder: Path,
        start: datetime,
        seconds: int,
        client: VendorClient,
        recordings: list[Recording] | None = None,
        slots: threading.Semaphore | None = None,
        secrets: tuple[str, ...] = (),
        ffmpeg: str = "",
        io_timeout_s: float = 15.0,
        max_fill_seconds: float = 3600.0,
        max_mbps: float = 64.0,
        min_free_mb: float = 1024.0,
        on_done: Callable[[], None] = lambda: None,
        phases: Phases | None = None,
    ):
        self.gap_id = gap_id
        self.on_done = on_done  # tells the worker to poll now
        self.phases = phases if phases is not None else Phases()  # where the fill's time went
        self.folder = folder
        self.start_time = start
        self.seconds = seconds
        self.client = client
        self.recordings = recordings  # from the card check; None: search when starting
        self.slots = slots  # the worker's download slots (ANR_DOWNLOAD_CONCURRENCY)
        self.secrets = secrets
        self.ffmpeg = ffmpeg_bin(ffmpeg)
        self.io_timeout_s = io_timeout_s
        self.time_limit_s = float(max_fill_seconds)
        self.max_mbps = float(max_mbps)  # ANR_DOWNLOAD_MAX_MBPS: 0 = no size bound
        self.min_free_bytes = int(float(min_free_mb) * 1024 * 1024)
        self.covered = 0.0  # seconds already archived from the window start (earlier partials)
        self.fetch_seconds = seconds
        self.piece: Piece | None = None  # the stretch of the window to fetch, once started
        self.started_at = 0.0
        self.timed_out = False
        self.unsupported: Unsupported | None = None
        self.downloaded_bytes = 0
        self.download_s = 0.0
        self._stop = threading.Event()
        self._slot_held = False  # one of ``slots``, from the slot's wait to the last byte
        self._thread: threading.Thread | None = None
        self._error: str | None = None
        self._cut_proc: subprocess.Popen | None = None
        self._readers: list[threading.Thread] = []
        self._out_time = 0.0
        self._share = 0.0  # of the fetched part, 0..1
        self._temps: list[Path] = []
        self._stderr: list[str] = []
        self._cut_seconds = 0.0  # the cut's own output length (ffmpeg's progress), once it ends
        self._digest = ""  # the cut's SHA-256, taken in the job's thread
        self.hashes: dict[str, str] = {}  # archive name -> SHA-256 (the worker's segment row)
        self.durations: dict[str, float] = {}  # archive name -> seconds, so nobody probes it

    @property
    def target(self) -> Path | None:
        """The archive file the cut becomes."""
        return self.piece.target if self.piece else None

    @property
    def part(self) -> Path | None:
        """Where the cut is written until it is judged (the replay's ``.part`` name)."""
        return self.piece.part if self.piece else None

    @property
    def source(self) -> str:
        """Where the footage came from, masked, for the fill history and the evidence manifest:
        the camera's download API and the card recordings asked for."""
        base = getattr(self.client, "base_url", "") or ""
        refs = ", ".join(r.ref for r in (self.recordings or [])[:5])
        where = f"{self.client.vendor or 'camera'} download {base}".strip()
        return self.masked(f"{where} ({refs})" if refs else where)[:1000]

    def _current(self) -> Piece:
        """The stretch being fetched; everything that asks runs after ``start`` chose it."""
        if self.piece is None:
            raise RuntimeError(f"gap {self.gap_id}: the download has not started")
        return self.piece

    def masked(self, text: str) -> str:
        """``text`` with the camera's credentials hidden."""
        return mask_credentials(text, self.secrets)

    @property
    def max_bytes(self) -> int:
        """The most this window's download may bring, 0 unbounded (design.md, "Hostile cameras")."""
        return int(self.max_mbps * 1_000_000 / 8 * self.fetch_seconds * DOWNLOAD_HEADROOM)

    def error_tail(self) -> str:
        """The end of the cut's complaints, credentials masked."""
        return self.masked("\n".join(self._stderr))[-MAX_ERROR_CHARS:]

    def start(self) -> FillResult | None:
        """Check what is archived already, then download and cut in a thread."""
        self.folder.mkdir(parents=True, exist_ok=True)
        # The replay job's walk over the archive (one rule for what is already there), as one
        # piece: its answer is where the missing footage starts and the file to write.
        walk = FillJob(
            gap_id=self.gap_id, folder=self.folder, start=self.start_time, seconds=self.seconds,
            replay_url=lambda begin, end: "", ffmpeg=self.ffmpeg, chunk_seconds=self.seconds,
        )  # fmt: skip
        piece = walk._next_piece()
        if piece is None:
            log.info("gap %s: archive files already cover the window; not fetching", self.gap_id)
            return FillResult(GapState.FILLED, min(walk.recovered, float(self.seconds)))
        self.covered = walk.recovered
        self.piece = piece
        self.fetch_seconds = piece.seconds
        self._skip = piece.offset
        piece.part.unlink(missing_ok=True)  # a leftover of a crashed run is ours to replace
        self.started_at = time.monotonic()
        self._thread = threading.Thread(target=self._work, daemon=True, name=f"dl-{self.gap_id}")
        self._thread.start()
        return None

    @property
    def begin(self) -> datetime:
        return self.start_time + timedelta(seconds=self._skip)

    def _work(self) -> None:
        if self.slots is not None:
            with self.phases.timed("wait"):
                while not self.slots.acquire(timeout=0.2):
                    if self._stop.is_set():
                        self._error = "the download was stopped"
                        return
            self._slot_held = True
            self.started_at = time.monotonic()  # the time limit counts from the slot
        try:
            try:
                self._fetch()
            finally:
                self._release_slot()
            self._hash_cut()
        finally:
            self.on_done()

    def _release_slot(self) -> None:
        """Give the download slot back once the camera has sent its bytes: the next download
        need not wait for this cut's last write (the moov, the faststart pass) or its hash."""
        if self._slot_held and self.slots is not None:
            self._slot_held = False
            self.slots.release()

    def _hash_cut(self) -> None:
        """The cut's SHA-256 (the segment row and evidence take it), off the worker's thread."""
        piece = self.piece
        if self._error is not None or not self._cut_seconds or piece is None:
            return
        try:
            with self.phases.timed("hash"):
                self._digest = sha256_file(piece.part)
        except OSError:  # gone (aborted meanwhile): the worker hashes what it indexes
            self._digest = ""

    def _fetch(self) -> None:
        begin = self.begin
        end = begin + timedelta(seconds=self.fetch_seconds)
        try:
            listed = self.recordings
            if listed is None:
                with self.phases.timed("search"):
                    listed = self.client.recordings(begin, end)
            run = contiguous(listed, begin, end)
            if not run:
                self._error = "the camera lists no recording for this window"
                return
            if (run[0].start - begin).total_seconds() > CONTIGUOUS_S:
                self._error = (
                    f"the camera's recordings start at {run[0].start:%Y-%m-%d %H:%M:%S} UTC, "
                    "after the window began"
                )
                return
            try:
                self._stream_cut(run, begin, end)
            except NotStreamable as exc:
                # Rare (an MP4 with its index at the end): the whole window again, by file.
                log.info("gap %s: %s; downloading to disk before the cut", self.gap_id, exc)
                self._cut_proc = None
                self._stderr.clear()
                piece = self._current()
                piece.part.unlink(missing_ok=True)
                self.downloaded_bytes = 0
                with self.phases.timed("download"):
                    files = self._download(run, end)
                self._release_slot()
                with self.phases.timed("probe"):
                    self._check_media(files)
                with self.phases.timed("cut"):
                    self._cut(files, begin, end)
        except DownloadStopped:
            self._error = "the download was stopped"
        except Unsupported as exc:
            self.unsupported = exc
            self._error = self.masked(str(exc))
        except VendorError as exc:
            self._error = self.masked(str(exc))
        except Exception as exc:  # this attempt's failure, never the worker's
            log.exception("gap %s: download failed", self.gap_id)
            self._error = self.masked(f"download failed: {type(exc).__name__}: {exc}")
        finally:
            for temp in self._temps:
                temp.unlink(missing_ok=True)
            self.client.close()

    def _download(self, run: list[Recording], end: datetime) -> list[tuple[Path, Recording]]:
        wanted = sum((min(r.end, end) - r.start).total_seconds() for r in run) or 1.0
        target = self._current().target
        files, done = [], 0.0
        started = time.monotonic()
        for i, rec in enumerate(run):
            dest = target.with_name(f"{target.name}.dl{i}{PART_SUFFIX}")
            self._temps.append(dest)
            share = (min(rec.end, end) - rec.start).total_seconds() / wanted

            def moved(written: int, expected: int, done=done, share=share) -> None:
                part = written / expected if expected else 0.5
                self._share = DOWNLOAD_SHARE * (done + share * min(part, 1.0))

            log.info("gap %s: downloading %s", self.gap_id, self.masked(rec.ref))
            left = self.max_bytes - self.downloaded_bytes if self.max_bytes else 0
            if self.max_bytes and left <= 0:
                raise Refused(
                    f"the download is more than {self.max_bytes} bytes, more than this window "
                    "can hold (ANR_DOWNLOAD_MAX_MBPS); refused"
                )
            self.downloaded_bytes += self.client.download(
                rec, dest, stop=self._stop, on_bytes=moved, max_bytes=left,
                min_free_bytes=self.min_free_bytes,
            )  # fmt: skip
            done += share
            files.append((dest, rec))
        self.download_s = time.monotonic() - started
        return files

    def _check_media(self, files: list[tuple[Path, Recording]]) -> None:
        """Refuse what is not a media file before the cut: a playlist or manifest would make
        ffmpeg open whatever it names (another camera's archive, another host)."""
        for path, _rec in files:
            if sniff_media(path) is None or probe_duration(path, self.ffmpeg) is None:
                raise Refused(
                    f"the camera's download is not a media file ({describe_content(path)}); "
                    "playlists, manifests and scripts are refused"
                )

    def _stream_cut(self, run: list[Recording], begin: datetime, end: datetime) -> None:
        """Download straight into the cut: each recording's bytes go down a pipe to ffmpeg's
        concat of them, so nothing but the cut itself is written (SPEC §17's bounds hold: the
        byte cap, the free-space floor, the time limit and Stop are checked as bytes arrive,
        Digest auth and the refused redirects are the client's).

        Only pipes: the script comes on stdin, each recording on its own pipe (one recording
        that is the window exactly is ffmpeg's input itself, no script), and ffmpeg may open no
        file at all. A recording that does not start like media is refused before
        ffmpeg sees a byte of it. An MP4 whose index comes last cannot be read from a pipe, nor
        can a TS or PS recording be cut in (ffmpeg seeks those backwards): ``NotStreamable``,
        and the caller downloads to disk instead, as before.
        """
        pipes = [_pipe() for _ in run]
        writers: list[int | None] = [w for _r, w in pipes]
        try:
            names = [f"pipe:{r}" for r, _w in pipes]
            cmd = self._cut_head()
            # One recording that is the window exactly needs no cut points: ffmpeg reads it
            # straight from its pipe (the concat demuxer costs a third more time and CPU).
            whole = len(run) == 1 and run[0].start >= begin and run[0].end <= end
            if whole:
                cmd += ["-protocol_whitelist", "pipe", "-format_whitelist", MEDIA_FORMATS]
                cmd += ["-i", names[0]]
            else:
                cmd += ["-protocol_whitelist", "pipe"]
                cmd += ["-format_whitelist", "concat," + MEDIA_FORMATS]
                # ``-safe 0`` only because the entries are ``pipe:N`` names (``-safe 1`` takes
                # bare file names). It opens nothing more: the script is ours, written on stdin;
                # the protocol whitelist is ``pipe`` alone, so no entry can name a file or a
                # host; and each pipe's head is checked as media (manifests, playlists and
                # ffconcat scripts refused) before ffmpeg reads it (tests/anr/test_hostile_camera).
                cmd += ["-f", "concat", "-safe", "0", "-i", "pipe:0"]
            if self._stop.is_set():
                raise DownloadStopped()
            with self.phases.timed("download"):
                try:
                    self._start_cut(cmd + self._cut_tail(), pass_fds=[r for r, _w in pipes])
                finally:
                    for read, _w in pipes:
                        os.close(read)  # the child holds them now
                proc = self._cut_proc
                assert proc is not None and proc.stdin is not None  # started with stdin=PIPE
                stdin = proc.stdin
                script = concat_list(list(zip(names, run, strict=True)), begin, end)

                def first_head(kind: str) -> None:
                    # Only the first recording is cut in, and only an MP4 (its index first)
                    # can be cut in from a pipe: ffmpeg seeks a TS or PS stream backwards.
                    if kind != "mp4" and begin > run[0].start:
                        raise NotStreamable(f"a {kind} recording is cut in only from a file")
                    if not whole:
                        stdin.write(script)
                    stdin.close()

                try:
                    self._pump(run, end, writers, first_head)
                except BrokenPipeError:
                    pass  # ffmpeg ended early: its complaints say why (below)
                self._release_slot()
            with self.phases.timed("cut"):
                self._wait_cut()
        except BaseException:
            if self._cut_proc is not None and self._cut_proc.poll() is None:
                self._cut_proc.kill()
                self._wait_cut()
            raise
        finally:
            for fd in writers:
                if fd is not None:
                    os.close(fd)
        if self._stop.is_set():
            raise DownloadStopped()

    def _pump(
        self,
        run: list[Recording],
        end: datetime,
        writers: list[int | None],
        first_head: Callable[[str], None],
    ) -> None:
        """Each recording in turn down its pipe, under the window's byte cap; ``first_head``
        sees what the first one is before ffmpeg is given the script."""
        wanted = sum((min(r.end, end) - r.start).total_seconds() for r in run) or 1.0
        done = 0.0
        started = time.monotonic()
        for i, rec in enumerate(run):
            share = (min(rec.end, end) - rec.start).total_seconds() / wanted

            def moved(written: int, expected: int, done=done, share=share) -> None:
                part = written / expected if expected else 0.5
                self._share = DOWNLOAD_SHARE * (done + share * min(part, 1.0))

            log.info("gap %s: downloading %s into the cut", self.gap_id, self.masked(rec.ref))
            left = self.max_bytes - self.downloaded_bytes if self.max_bytes else 0
            if self.max_bytes and left <= 0:
                raise Refused(
                    f"the download is more than {self.max_bytes} bytes, more than this window "
                    "can hold (ANR_DOWNLOAD_MAX_MBPS); refused"
                )
            fd = writers[i]
            assert fd is not None
            writers[i] = None  # the file object below closes it
            with open(fd, "wb") as out:
                feed = _Feed(out, first_head if i == 0 else None)
                self.downloaded_bytes += self.client.pump(
                    self.client.open_download(rec), feed.write, stop=self._stop, on_bytes=moved,
                    max_bytes=left, min_free_bytes=self.min_free_bytes,
                    disk=self._current().target.parent, pipe=out,
                )  # fmt: skip
                feed.finish()
            done += share
        self.download_s = time.monotonic() - started

    def _cut(self, files: list[tuple[Path, Recording]], begin: datetime, end: datetime) -> None:
        """The cut of downloads on disk (when the camera's file cannot be read from a pipe)."""
        piece = self._current()
        script = piece.target.with_name(f"{piece.target.name}.ffconcat{PART_SUFFIX}")
        self._temps.append(script)
        script.write_text(concat_list(files, begin, end))
        cmd = self._cut_head()
        # Only local files, only media demuxers, only names beside the script: the cut reads
        # this attempt's downloads and nothing else.
        cmd += ["-protocol_whitelist", "file", "-format_whitelist", "concat," + MEDIA_FORMATS]
        cmd += ["-f", "concat", "-safe", "1", "-i", str(script)]
        if self._stop.is_set():
            raise DownloadStopped()
        self._start_cut(cmd + self._cut_tail())
        self._wait_cut()

    def _cut_head(self) -> list[str]:
        # The progress report on stdout ends with the cut's own length: no probe needed after.
        return [self.ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-nostats",
                "-progress", "pipe:1"]  # fmt: skip

    def _cut_tail(self) -> list[str]:
        cmd = ["-map", "0:v:0", "-map", "0:a?", "-c", "copy"]
        return cmd + ["-movflags", "+faststart", "-f", "mp4", "-n", str(self._current().part)]

    def _start_cut(self, cmd: list[str], pass_fds: Sequence[int] = ()) -> None:
        # Dies with this thread (and so with the worker); the thread waits for it below. The
        # streamed cut gets that signal from ``setpriv`` rather than a preexec function, so
        # Python starts it with vfork instead of forking the whole worker (a fork held the
        # download slot ~10 ms more per fill); should the worker die before setpriv sets it,
        # the cut still ends: every input is a pipe from the worker, and EOF ends ffmpeg.
        setpriv = _setpriv() if pass_fds else None
        if setpriv is not None:
            cmd = [setpriv, "--pdeathsig", "KILL", "--", *cmd]
        proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE if pass_fds else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
            start_new_session=True, pass_fds=tuple(pass_fds),
            preexec_fn=None if setpriv is not None else _die_with_parent(os.getpid()),
        )  # fmt: skip
        self._cut_proc = proc
        self._readers = [
            threading.Thread(target=self._read_cut_progress, args=(proc,), daemon=True),
            threading.Thread(target=self._read_cut_errors, args=(proc,), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read_cut_progress(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None  # started with stdout=PIPE
        for line in proc.stdout:
            key, _, value = line.strip().partition("=")
            if key == "out_time_us" and value.isdigit():
                self._out_time = int(value) / 1_000_000

    def _read_cut_errors(self, proc: subprocess.Popen) -> None:
        assert proc.stderr is not None  # started with stderr=PIPE
        lines: collections.deque[str] = collections.deque(maxlen=12)
        for line in proc.stderr:
            if line.strip():
                lines.append(line.rstrip())
        self._stderr.extend(lines)

    def _wait_cut(self) -> None:
        """Wait for the cut (bounded); its length when it ended well, else 0."""
        proc = self._cut_proc
        if proc is None:
            return
        try:
            proc.wait(timeout=CUT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for reader in self._readers:
            reader.join(timeout=5)
        self._readers = []
        self._cut_seconds = self._out_time if proc.returncode == 0 else 0.0
        self._share = 1.0

    # --- what the worker polls ------------------------------------------------------------
    @property
    def progress(self) -> float:
        """Share of the whole window in the archive so far, 0..1."""
        if not self.seconds:
            return 0.0
        return min((self.covered + self._share * self.fetch_seconds) / self.seconds, 1.0)

    def running(self) -> bool:
        """True while downloading or cutting; ends a run past its hard time limit."""
        if self._thread is None or not self._thread.is_alive():
            return False
        if not self.timed_out and time.monotonic() - self.started_at > self.time_limit_s:
            self.timed_out = True
            self._stop.set()
            if self._cut_proc is not None and self._cut_proc.poll() is None:
                self._cut_proc.kill()
        return True

    def abort(self) -> None:
        """Stop the download or the cut now and remove every file this run wrote."""
        self._stop.set()
        if self._cut_proc is not None and self._cut_proc.poll() is None:
            self._cut_proc.kill()
        if self._thread is not None:
            self._thread.join(timeout=15)
        if self.part is not None:
            self.part.unlink(missing_ok=True)

    def _move_into_place(self) -> bool:
        """Rename ``.part`` to the archive name atomically; False if a file got there first."""
        piece = self._current()
        try:
            os.link(piece.part, piece.target)  # fails when the target exists: never overwrite
        except FileExistsError:
            log.warning("gap %s: %s appeared meanwhile; kept it", self.gap_id, piece.target.name)
            return False
        finally:
            piece.part.unlink(missing_ok=True)
        return True

    def result(self) -> FillResult:
        """Judge the cut by the footage it holds; move it into place."""
        if self._thread is not None:
            self._thread.join(timeout=30)
        limit_note = f"the fill exceeded its {self.time_limit_s:g} s time limit" if (
            self.timed_out) else ""  # fmt: skip
        piece = self._current()
        recovered = None
        if self._error is None and piece.part.exists():
            recovered = self._cut_seconds or None  # the cut's own length: no probe
            if not recovered:  # a cut that did not end well may still hold footage
                with self.phases.timed("probe"):
                    recovered = probe_duration(piece.part, self.ffmpeg)
        if not recovered:
            piece.part.unlink(missing_ok=True)
            reason = self._error or self.error_tail() or "the cut produced no footage"
            outcome = "unsupported" if self.unsupported is not None else GapState.FAILED
            return FillResult(outcome, 0.0, "; ".join(filter(None, [limit_note, reason])))
        digest = self._digest
        if not self._move_into_place():
            return FillResult(GapState.FILLED, float(self.seconds), None)
        self.durations[piece.target.name] = recovered
        if digest:
            self.hashes[piece.target.name] = digest
        total = min(self.covered + recovered, float(self.seconds))
        log.info(
            "gap %s: downloaded %d bytes in %.1f s, %.1f s of footage",
            self.gap_id, self.downloaded_bytes, self.download_s, recovered,
        )  # fmt: skip
        if total >= FILLED_RATIO * self.seconds:
            return FillResult(GapState.FILLED, round(total, 2), None, piece.target)
        note = f"the camera's recordings cover {total:.1f} of {self.seconds} s"
        return FillResult(GapState.PARTIAL, round(total, 2), note, piece.target)
