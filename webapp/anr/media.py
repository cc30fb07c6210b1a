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
# The demuxers a camera's media may need, and nothing that follows references to other files
# (HLS, DASH, concat, image2...): ffmpeg opens no input beside the one it is given.
MEDIA_FORMATS = "mov,mpegts,mpeg,h264,hevc,dhav"
SAFE_INPUT = ["-protocol_whitelist", "file", "-format_whitelist", MEDIA_FORMATS]
HEAD_BYTES = 512  # of a file's start: what the sniffing looks at
# The first bytes of the containers above (ISO BMFF's box names sit at offset 4).
_BMFF_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"styp", b"moof", b"sidx"}


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
    cmd = [ffmpeg_bin(ffmpeg), "-nostdin", "-hide_banner", *SAFE_INPUT, "-i", str(path)]
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


def sniff_media(path: Path) -> str | None:
    """The container ``path`` starts like (``mp4``, ``ts``, ``ps``, ``h264``, ``dhav``), or None
    when it is anything else: a playlist, a manifest, a script, an error page."""
    with path.open("rb") as fh:
        return sniff_head(fh.read(HEAD_BYTES))


def sniff_head(head: bytes) -> str | None:
    """``sniff_media`` of a file's first bytes (a download still streaming)."""
    head = head[:HEAD_BYTES]
    if len(head) >= 8 and head[4:8] in _BMFF_BOXES:
        return "mp4"
    if head[:1] == b"\x47" and (len(head) <= 188 or head[188:189] == b"\x47"):
        return "ts"
    if head[:4] == b"\x00\x00\x01\xba" or head[:4] == b"IMKH":  # Hikvision: PS behind a header
        return "ps"
    if head[:4] == b"DHAV":
        return "dhav"
    if head[:4] == b"\x00\x00\x00\x01" or head[:3] == b"\x00\x00\x01":
        return "h264"
    return None


def moov_first(head: bytes) -> bool:
    """Whether an MP4 starting with ``head`` has its index (``moov``) before its media
    (``mdat``): only then can ffmpeg read it from a pipe. False when ``head`` cannot tell."""
    offset = 0
    while offset + 8 <= len(head):
        size = int.from_bytes(head[offset : offset + 4], "big")
        kind = head[offset + 4 : offset + 8]
        if kind == b"moov":
            return True
        if kind in (b"mdat", b"moof") or size == 0:  # media first, or a box to the end
            return False
        if size == 1:  # a 64-bit size follows the type
            if offset + 16 > len(head):
                return False
            size = int.from_bytes(head[offset + 8 : offset + 16], "big")
        if size < 8:
            return False
        offset += size
    return False


def describe_content(path: Path) -> str:
    """A few words on what a non-media download looks like, for the operator's error."""
    with path.open("rb") as fh:
        return describe_head(fh.read(HEAD_BYTES))


def describe_head(head: bytes) -> str:
    """``describe_content`` of a file's first bytes."""
    head = head[:HEAD_BYTES].lstrip().lower()
    if head.startswith(b"#extm3u"):
        return "an HLS playlist"
    if b"<mpd" in head:
        return "a DASH manifest"
    if head.startswith(b"ffconcat") or head.startswith(b"file "):
        return "an ffconcat script"
    if head.startswith(b"<"):
        return "XML or HTML"
    return "no known media container" if head else "empty"
