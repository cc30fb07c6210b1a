"""Generated footage with the time burned in: the simulated camera's card and the demo recorder."""

import subprocess
from datetime import datetime
from pathlib import Path

from ..anr.media import ffmpeg_bin


def render_footage(start: datetime, seconds: float, out: Path, ffmpeg: str = "") -> None:
    """Encode ``seconds`` of test pattern whose burned-in clock starts at ``start`` (UTC).

    Small on purpose (320x180, 5 fps, ultrafast), so a minute encodes in well under a second.
    """
    clock = f"drawtext=text='%{{pts\\:gmtime\\:{int(start.timestamp())}}}'" + (
        ":x=8:y=8:fontsize=16:fontcolor=white:box=1:boxcolor=black"
    )
    cmd = [ffmpeg_bin(ffmpeg), "-nostdin", "-hide_banner", "-loglevel", "error"]
    cmd += ["-f", "lavfi", "-i", "testsrc=size=320x180:rate=5", "-t", f"{seconds:.3f}"]
    tail = ["-c:v", "libx264", "-preset", "ultrafast", "-g", "5", "-pix_fmt", "yuv420p"]
    tail += ["-movflags", "+faststart", "-f", "mp4", "-y", str(out)]
    done = subprocess.run(cmd + ["-vf", clock] + tail, capture_output=True, timeout=120)
    if done.returncode != 0:
        # An ffmpeg built without drawtext still makes footage: the plain test pattern.
        subprocess.run(cmd + tail, capture_output=True, timeout=120, check=True)
