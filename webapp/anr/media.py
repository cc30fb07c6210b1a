"""The ffmpeg program: where it is, and what it says about a media file's duration."""

import re
import subprocess
from datetime import UTC
from datetime import datetime
from pathlib import Path

ARCHIVE_NAME_FORMAT = "%Y%m%d_%H%M%S"
ARCHIVE_NAME_RE = re.compile(r"^(\d{8}_\d{6})\.mp4$")
_DURATION_RE = re.compile(r"Duration: (\d+):(\d{2}):(\d{2}(?:\.\d+)?)")
_TIME_RE = re.compile(r"time=(\d+):(\d{2}):(\d{2}(?:\.\d+)?)")
PROBE_TIMEOUT_S = 30


def ffmpeg_bin(configured: str = "") -> str:
    """The configured ffmpeg, else the one shipped in the imageio-ffmpeg wheel (pip brings it)."""
    if configured:
        return configured
    # Imported on first use: with ANR_FFMPEG_BIN set the wheel is never needed.
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def archive_name(start: datetime) -> str:
    """The archive file name of footage starting at ``start`` (its UTC start)."""
    return start.astimezone(UTC).strftime(ARCHIVE_NAME_FORMAT) + ".mp4"


def archive_start(name: str) -> datetime | None:
    """The UTC start encoded in an archive file name, or None for any other file."""
    if not is_archive_name(name):
        return None
    try:  # sliced by hand: strptime would dominate a rescan of a large folder
        return datetime(
            int(name[0:4]), int(name[4:6]), int(name[6:8]),
            int(name[9:11]), int(name[11:13]), int(name[13:15]), tzinfo=UTC,
        )  # fmt: skip
    except ValueError:
        return None


def is_archive_name(name: str) -> bool:
    """Whether ``name`` looks like an archive file (cheap: no date parsing)."""
    return ARCHIVE_NAME_RE.match(name) is not None


def _seconds(match: re.Match) -> float:
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def probe_duration(path: Path, ffmpeg: str = "", *, decode: bool = False) -> float | None:
    """Seconds of footage in ``path`` as ffmpeg reads it; None when ffmpeg cannot read it.

    The container header is enough for a finished archive file; ``decode`` reads every packet,
    which is how a test proves a file really plays.
    """
    cmd = [ffmpeg_bin(ffmpeg), "-nostdin", "-hide_banner", "-i", str(path)]
    if decode:
        cmd += ["-map", "0:v:0", "-f", "null", "-"]
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, errors="replace", timeout=PROBE_TIMEOUT_S
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    err = done.stderr
    if decode:
        if done.returncode != 0:
            return None
        times = list(_TIME_RE.finditer(err))
        return _seconds(times[-1]) if times else None
    match = _DURATION_RE.search(err)
    if not match or "Invalid data" in err:
        return None
    return _seconds(match)
