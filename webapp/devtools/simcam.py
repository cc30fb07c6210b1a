"""A simulated camera on loopback: its "SD card" is generated footage with the time burned in.

It answers ``GET /replay/<camera_id>?start=<iso>&end=<iso>`` with an MP4 of that window, so the
demo and the tests fill real gaps with real ffmpeg. ``POST /control/<camera_id>`` (JSON) or the
constructor tells a camera to fail, stall or cut its replays short.

It also speaks the vendors' own APIs (Hikvision ISAPI search/download, Dahua mediaFileFind and
RPC_Loadfile, with Digest auth) for download fills and card coverage: see ``simvendor``.
``POST /control/card/<channel>`` (JSON fields of ``simvendor.Card``) changes a channel's card.
With credentials, replay and control demand the same Digest auth as the vendor APIs: a camera
serves nothing, and takes no orders, from someone without its password.
"""

import json
import logging
import tempfile
import threading
from collections import deque
from dataclasses import asdict
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urlsplit

from ..domain.times import parse_time
from .footage import render_footage
from .simvendor import VendorApi

log = logging.getLogger(__name__)

MODES = ("ok", "fail", "stall", "short")
MAX_WINDOW_S = 6 * 3600  # a replay request longer than this is refused, as cameras do
CHUNK = 16 * 1024


@dataclass
class Behaviour:
    """How one camera answers replays: ``mode`` in MODES, ``fraction`` of the window for short."""

    mode: str = "ok"
    fraction: float = 0.5
    status: int = 503
    speed: float = 0.0  # times real time; 0 sends as fast as the socket takes it


class SimCam:
    """The server; ``start()`` serves in a background thread, ``stop()`` shuts it down."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        ffmpeg: str = "",
        behaviours: dict[str, Behaviour] | None = None,
        speed: float = 0.0,
        credentials: tuple[str, str] | None = None,
        block_seconds: int = 600,
    ):
        self.ffmpeg = ffmpeg
        self.default_speed = speed
        self.behaviours: dict[str, Behaviour] = dict(behaviours or {})
        # (camera_id, mode) of the latest replays served, for tests; bounded for long demos.
        self.requests: deque[tuple[str, str]] = deque(maxlen=1000)
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._workdir = tempfile.TemporaryDirectory(prefix="simcam-")
        self.server = ThreadingHTTPServer((host, port), _handler_for(self))
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None
        # The vendor APIs; ``credentials`` (user, password) make them demand Digest auth.
        self.vendor = VendorApi(self, credentials, block_seconds)

    @property
    def url(self) -> str:
        """Base URL of the server, e.g. ``http://127.0.0.1:8001``."""
        host, port = self.server.server_address[:2]
        if isinstance(host, bytes):  # typed for AF_UNIX too; an IP server's host is a str
            host = host.decode()
        return f"http://{host}:{port}"

    def set(self, camera_id: str, mode: str = "ok", **fields) -> Behaviour:
        """Change how ``camera_id`` answers from now on."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        with self._lock:
            current = self.behaviours.get(camera_id) or Behaviour(speed=self.default_speed)
            behaviour = Behaviour(**{**asdict(current), **fields, "mode": mode})
            self.behaviours[camera_id] = behaviour
        return behaviour

    def behaviour(self, camera_id: str) -> Behaviour:
        """How ``camera_id`` answers now."""
        with self._lock:
            return self.behaviours.get(camera_id) or Behaviour(speed=self.default_speed)

    def start(self) -> "SimCam":
        """Serve in a daemon thread (tests); returns self."""
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until ``server.shutdown()`` (the ``anr simcam`` command)."""
        try:
            self.server.serve_forever()
        finally:
            self.close()

    def stop(self) -> None:
        """End stalled replays, stop serving and remove the generated footage."""
        self._closing.set()
        self.server.shutdown()
        if self._thread:
            self._thread.join(timeout=5)
        self.close()

    def close(self) -> None:
        """Release the socket and the footage folder."""
        self._closing.set()
        self.server.server_close()
        self._workdir.cleanup()
        self.vendor.close()

    def footage(self, start: datetime, seconds: float) -> Path:
        """A fresh MP4 of the window (one file per request, removed after it is sent)."""
        handle = tempfile.NamedTemporaryFile(dir=self._workdir.name, suffix=".mp4", delete=False)
        handle.close()
        path = Path(handle.name)
        render_footage(start, seconds, path, self.ffmpeg)
        return path

    def wait_closing(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True at once when the server is closing."""
        return self._closing.wait(seconds)


def _handler_for(cam: SimCam):
    class Handler(BaseHTTPRequestHandler):
        server_version = "SimCam/1"
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # the request line carries no credential to hide
            log.info("simcam %s", fmt % args)

        def _json(self, status: int, body: dict, default=None) -> None:
            data = json.dumps(body, default=default).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            if cam.vendor.handle(self, "POST"):
                return None
            parts = urlsplit(self.path).path.strip("/").split("/")
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""  # read even when refusing
            if not cam.vendor.authorized(self, "POST"):
                return None
            if len(parts) == 3 and parts[:2] == ["control", "card"] and parts[2].isdigit():
                try:
                    body = json.loads(raw or b"{}")
                    card = cam.vendor.set_card(int(parts[2]), **body)
                except (ValueError, TypeError, KeyError) as exc:
                    return self._json(400, {"error": str(exc)})
                return self._json(200, {"channel": int(parts[2]), **asdict(card)}, default=str)
            if len(parts) != 2 or parts[0] != "control":
                return self._json(404, {"error": "not found"})
            try:
                body = json.loads(raw or b"{}")
                behaviour = cam.set(parts[1], **body)
            except (ValueError, TypeError) as exc:
                return self._json(400, {"error": str(exc)})
            return self._json(200, {"camera_id": parts[1], **asdict(behaviour)})

        def do_GET(self):
            if cam.vendor.handle(self, "GET"):
                return None
            url = urlsplit(self.path)
            parts = url.path.strip("/").split("/")
            if len(parts) != 2 or parts[0] != "replay":
                return self._json(404, {"error": "not found"})
            if not cam.vendor.authorized(self, "GET"):
                return None
            camera_id = parts[1]
            query = parse_qs(url.query)
            start = parse_time((query.get("start") or [None])[0])
            end = parse_time((query.get("end") or [None])[0])
            seconds = (end - start).total_seconds() if start and end else 0
            if not 0 < seconds <= MAX_WINDOW_S:
                return self._json(400, {"error": "start and end must be ISO times, end > start"})
            behaviour = cam.behaviour(camera_id)
            cam.requests.append((camera_id, behaviour.mode))
            if behaviour.mode == "fail":
                return self._json(behaviour.status, {"error": "replay refused by camera"})
            if behaviour.mode == "stall":
                self.send_response(200)
                self.send_header("Content-Type", "video/mp4")
                self.send_header("Content-Length", "100000000")
                self.end_headers()
                self.wfile.flush()
                cam.wait_closing(300)  # headers, then silence: the client's timeout must act
                return None
            if behaviour.mode == "short":
                seconds *= max(0.01, min(behaviour.fraction, 1.0))
            path = cam.footage(start, seconds)
            try:
                self._send_file(path, seconds, behaviour.speed)
            finally:
                path.unlink(missing_ok=True)
            return None

        def _send_file(self, path: Path, seconds: float, speed: float) -> None:
            size = path.stat().st_size
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            # Paced like a camera streaming its card: the whole file takes seconds/speed.
            pause = (seconds / speed) * CHUNK / size if speed > 0 and size else 0
            try:
                with path.open("rb") as fh:
                    while chunk := fh.read(CHUNK):
                        self.wfile.write(chunk)
                        if pause and cam.wait_closing(pause):
                            return
            except (BrokenPipeError, ConnectionResetError):
                log.info("simcam client went away during a replay")

    return Handler
