"""Start and steer the GStreamer RTSP test camera (``rtsp_camera.py``) from a test."""

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

DEVTOOLS = Path(__file__).resolve().parents[2] / "webapp" / "devtools"
SCRIPT = DEVTOOLS / "rtsp_camera.py"
SYSTEM_PYTHON = "/usr/bin/python3"  # the GStreamer bindings are Debian packages, not in the venv
START_TIMEOUT_S = 15


def gstreamer_missing() -> str | None:
    """Why the RTSP camera cannot run here, or None when it can."""
    if not shutil.which(SYSTEM_PYTHON):
        return f"{SYSTEM_PYTHON} is not installed"
    probe = (
        "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0');"
        "from gi.repository import Gst, GstRtspServer; Gst.init(None);"
        "missing = [e for e in ('videotestsrc', 'x264enc', 'rtph264pay', 'mulawenc', 'alawenc',"
        " 'rtppcmupay', 'rtppcmapay') if Gst.ElementFactory.find(e) is None];"
        "print(' '.join(missing))"
    )
    try:
        done = subprocess.run(
            [SYSTEM_PYTHON, "-c", probe], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"GStreamer probe failed: {exc}"
    if done.returncode != 0:
        return "GStreamer RTSP server bindings missing (gir1.2-gst-rtsp-server-1.0, python3-gi)"
    if done.stdout.strip():
        return f"GStreamer elements missing: {done.stdout.strip()} (plugins-good/ugly)"
    return None


def skip_or_fail(reason: str):
    """Skip a test that needs the RTSP camera; under REQUIRE_RTSP=1 that is a failure."""
    if os.environ.get("REQUIRE_RTSP") == "1":
        pytest.fail(f"REQUIRE_RTSP=1 but the RTSP test camera cannot run: {reason}")
    pytest.skip(f"RTSP test camera unavailable: {reason}")


class RtspCamera:
    """One running RTSP camera process on 127.0.0.1 with its control and request log files."""

    def __init__(self, folder: Path, auth: str = "none", user: str = "", password: str = ""):
        self.folder = folder
        self.control = folder / "control.json"
        self.log = folder / "requests.jsonl"
        self.set()
        cmd = [SYSTEM_PYTHON, str(SCRIPT), "--port", "0", "--control", str(self.control)]
        cmd += ["--log", str(self.log), "--auth", auth, "--user", user, "--password", password]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL
        )
        line = self.proc.stdout.readline()  # READY <port>, or nothing when it failed to start
        if not line.startswith("READY "):
            self.stop()
            raise RuntimeError(f"RTSP camera did not start: {self.proc.stderr.read()[-2000:]}")
        self.port = int(line.split()[1])

    def set(self, **control) -> None:
        """Behaviour for the next requests: audio=none|mulaw|alaw, mode=ok|short|stall|silent,
        seconds (when short ends / a stall begins)."""
        tmp = self.control.with_suffix(".tmp")
        tmp.write_text(json.dumps(control))
        tmp.replace(self.control)

    def requests(self) -> list[dict]:
        """Every request the camera received, as it read it."""
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]

    def stop(self) -> None:
        """End the server, also when a silent stall has frozen it."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        for stream in (self.proc.stdout, self.proc.stderr):
            stream.close()


ONVIF_SCRIPT = DEVTOOLS / "onvif_camera.py"


class OnvifRtspCamera:
    """GStreamer's RTSPOnvifServer (``onvif_camera.py``) on 127.0.0.1: replay by clock range.

    ``strict`` refuses a PLAY without ``Require: onvif-replay``; ``rate_control`` False refuses
    ``Rate-Control: no``; ``audio="mulaw"`` adds G.711 audio.
    """

    def __init__(
        self, folder: Path, user="", password="", strict=False, rate_control=True, audio="none"
    ):
        self.log = folder / "onvif-requests.jsonl"
        cmd = [SYSTEM_PYTHON, str(ONVIF_SCRIPT), "--port", "0", "--log", str(self.log)]
        cmd += ["--user", user, "--password", password]
        cmd += ["--strict"] if strict else []
        cmd += [] if rate_control else ["--no-rate-control"]
        cmd += ["--audio", audio]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL
        )
        line = self.proc.stdout.readline()
        if not line.startswith("READY "):
            self.stop()
            why = self.proc.stderr.read()[-2000:]
            raise RuntimeError(f"ONVIF RTSP camera did not start: {why}")
        self.port = int(line.split()[1])

    @property
    def replay_uri(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/replay"

    def requests(self) -> list[dict]:
        """Every SETUP and PLAY the camera received, with the ONVIF headers it saw."""
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        for stream in (self.proc.stdout, self.proc.stderr):
            stream.close()
