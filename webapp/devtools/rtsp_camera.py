"""A real RTSP camera for the tests: GStreamer's RTSP server replaying a requested window.

Run by ``/usr/bin/python3`` (the GStreamer bindings are Debian packages, not in the venv):

    rtsp_camera.py --control FILE --log FILE [--port N] [--auth digest|basic --user U --password P]

It serves the Hikvision ``/Streaming/tracks/<channel>01?starttime=20260613T120000Z&endtime=...``
and Dahua ``/cam/playback?channel=1&subtype=0&starttime=2026_06_13_12_00_00&endtime=...`` shapes,
reads the times in each vendor's format, streams exactly that window at real time (H.264 test
pattern, optional G.711 audio) and then ends the stream. The JSON control file (re-read on every
request) picks the behaviour:

- ``audio``: ``none`` | ``mulaw`` | ``alaw``
- ``mode``: ``ok`` | ``short`` (ends after ``seconds`` s) | ``stall`` (stops sending media after
  ``seconds`` s but keeps the session and its RTCP alive) | ``silent`` (after ``seconds`` s the
  whole server freezes: nothing more is sent, no socket is closed)

Every request is appended to the log file as one JSON line (vendor, path, query and the window
as the camera read it), so a test can tell local from UTC replay times. The chosen port is printed
as ``READY <port>`` on standard output.
"""

import argparse
import json
import os
import signal
import sys
import threading
import time
from datetime import datetime
from urllib.parse import parse_qs

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib  # noqa: E402
from gi.repository import Gst  # noqa: E402
from gi.repository import GstRtsp  # noqa: E402
from gi.repository import GstRtspServer  # noqa: E402

FPS = 10
AUDIO_RATE = 8000
AUDIO_BUFFER = 800  # samples: ten buffers a second
MAX_WINDOW_S = 3600
FORMATS = {
    "hikvision": ("%Y%m%dT%H%M%S", ("Z",)),
    "dahua": ("%Y_%m_%d_%H_%M_%S", ()),
}


def parse_time(vendor: str, raw: str) -> datetime:
    """A replay time in the vendor's format, as the naive wall time the camera reads."""
    fmt, suffixes = FORMATS[vendor]
    for suffix in suffixes:
        raw = raw.removesuffix(suffix)
    return datetime.strptime(raw, fmt)


def read_control(path: str) -> dict:
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return {}


# Payloaders push single buffers and buffer lists (a fragmented keyframe): a stall drops both.
MEDIA = Gst.PadProbeType.BUFFER | Gst.PadProbeType.BUFFER_LIST


class ReplayFactory(GstRtspServer.RTSPMediaFactory):
    """One pipeline per request, built for the window in the request's query."""

    def __init__(self, vendor: str, options):
        super().__init__()
        self.vendor = vendor
        self.options = options
        self.set_shared(False)
        self.set_eos_shutdown(False)
        self.connect("media-configure", self._configure)

    @staticmethod
    def _configure(_factory, media):
        media.connect("prepared", _frequent_rtcp)

    def do_create_element(self, url):
        query = parse_qs(url.query or "")
        entry = {"vendor": self.vendor, "path": url.abspath, "query": url.query or ""}
        control = read_control(self.options.control)
        try:
            start = parse_time(self.vendor, query["starttime"][0])
            end = parse_time(self.vendor, query["endtime"][0])
            window = (end - start).total_seconds()
            if not 0 < window <= MAX_WINDOW_S:
                raise ValueError(f"window of {window} s")
        except (KeyError, ValueError) as exc:
            entry["error"] = str(exc)
            log_request(self.options.log, entry)
            return None
        entry.update(start=start.isoformat(), end=end.isoformat(), window=window, control=control)
        log_request(self.options.log, entry)
        mode = control.get("mode", "ok")
        after = float(control.get("seconds", window))
        send = min(window, after) if mode == "short" else window
        if mode in ("stall", "silent"):
            send = MAX_WINDOW_S  # never ends by itself: only the stall decides
        frames = int(round(send * FPS))
        desc = (
            f"( videotestsrc is-live=true num-buffers={frames} pattern=ball "
            f"! video/x-raw,width=320,height=240,framerate={FPS}/1 "
            "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10 bitrate=256 "
            "! video/x-h264,profile=baseline ! rtph264pay name=pay0 pt=96 config-interval=1 "
        )
        audio = control.get("audio", "none")
        if audio in ("mulaw", "alaw"):
            enc, pay, pt = (
                ("mulawenc", "rtppcmupay", 0) if audio == "mulaw" else ("alawenc", "rtppcmapay", 8)
            )
            buffers = int(round(send * AUDIO_RATE / AUDIO_BUFFER))
            desc += (
                f"audiotestsrc is-live=true wave=sine num-buffers={buffers} "
                f"samplesperbuffer={AUDIO_BUFFER} ! audio/x-raw,rate={AUDIO_RATE},channels=1 "
                f"! {enc} ! {pay} name=pay1 pt={pt} "
            )
        bin_ = Gst.parse_launch(desc + ")")
        if mode in ("stall", "silent"):
            stall = Stall(mode, after)
            for name in ("pay0", "pay1"):
                element = bin_.get_by_name(name)
                if element is not None:
                    element.get_static_pad("src").add_probe(MEDIA, stall.probe)
        return bin_


def _frequent_rtcp(media):
    """RTCP every second (cameras send it every few seconds): a stalled session stays chatty
    for any I/O timeout a test uses."""
    for index in range(media.n_streams()):
        session = media.get_stream(index).get_rtpsession()
        if session is not None:
            session.set_property("rtcp-min-interval", 1_000_000_000)


class Stall:
    """Drops media once ``after`` seconds have been sent; ``silent`` freezes the whole process."""

    def __init__(self, mode: str, after: float):
        self.mode = mode
        self.after = after
        self.first: float | None = None
        self.lock = threading.Lock()

    def probe(self, pad, info):
        with self.lock:
            now = time.monotonic()
            if self.first is None:
                self.first = now
            if now - self.first < self.after:
                return Gst.PadProbeReturn.OK
            if self.mode == "silent":
                # Like a hung camera: nothing more leaves, sockets stay open. The test's fixture
                # sends SIGCONT/SIGKILL when it is done.
                os.kill(os.getpid(), signal.SIGSTOP)
            return Gst.PadProbeReturn.DROP


def log_request(path: str, entry: dict) -> None:
    with open(path, "a") as fh:
        fh.write(json.dumps(entry) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--control", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--auth", choices=("none", "basic", "digest"), default="none")
    parser.add_argument("--user", default="")
    parser.add_argument("--password", default="")
    options = parser.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(options.port))
    mounts = server.get_mount_points()
    factories = [
        ReplayFactory("hikvision", options),
        ReplayFactory("dahua", options),
    ]
    for channel in range(1, 5):
        mounts.add_factory(f"/Streaming/tracks/{channel}01", factories[0])
    mounts.add_factory("/cam/playback", factories[1])

    if options.auth != "none":
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "viewer")
        if options.auth == "basic":
            auth.add_basic(GstRtspServer.RTSPAuth.make_basic(options.user, options.password), token)
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.BASIC)
        else:
            auth.add_digest(options.user, options.password, token)
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_permission_for_role("viewer", "media.factory.access", True)
        permissions.add_permission_for_role("viewer", "media.factory.construct", True)
        for factory in factories:
            factory.set_permissions(permissions)

    server.attach(None)
    print(f"READY {server.get_bound_port()}", flush=True)
    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
