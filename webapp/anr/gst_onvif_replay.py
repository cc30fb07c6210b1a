"""ONVIF Profile G replay of one clock range into fragmented MP4, with GStreamer's rtspsrc.

Run by Debian's ``/usr/bin/python3`` (the GStreamer bindings exist only there), as ffmpeg runs
for an ordinary replay: stdlib and ``gi`` only, never the webapp package. The password comes on
stdin, never in argv. Progress goes to stdout as ``out_time_us=<n>`` lines (ffmpeg's
``-progress`` form, so the fill's watchdog reads both alike). SIGTERM ends the copy cleanly (the
MP4 is closed); SIGKILL keeps every fragment already written. Exit 3 with
``rate-control-refused`` on stdout: the camera refused ``Rate-Control: no``.
See docs/design.md, "ONVIF replay".
"""

import argparse
import signal
import sys
import time
from datetime import datetime
from datetime import timezone

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
from gi.repository import GLib  # noqa: E402
from gi.repository import Gst  # noqa: E402
from gi.repository import GstRtsp  # noqa: E402

# ONVIF mode takes seek positions as time since 1900-01-01 (NTP's epoch).
NTP_OFFSET_S = 2_208_988_800
EXIT_RATE_CONTROL = 3


def ntp_ns(moment: datetime) -> int:
    """``moment`` as nanoseconds since 1900-01-01 UTC."""
    return int((moment.timestamp() + NTP_OFFSET_S) * Gst.SECOND)


def parse_time(raw: str) -> datetime:
    """An ISO 8601 UTC time (``2026-06-13T12:00:00Z``)."""
    return datetime.fromisoformat(raw.replace("Z", "+00:00")).astimezone(timezone.utc)


def emit(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Replay:
    """One rtspsrc session in ONVIF mode, video stream-copied into MP4 fragments."""

    def __init__(self, args, password: str):
        self.args = args
        self.start = parse_time(args.start)
        self.end = parse_time(args.end)
        self.code = 0
        self.refused_rate_control = False
        self.play_sent = False
        self.first_pts: int | None = None
        self.sent_bytes = 0
        self.began = time.monotonic()
        self.pipeline = Gst.parse_launch(
            "rtspsrc name=src onvif-mode=true is-live=true buffer-mode=none protocols=tcp "
            "latency=0 ! rtph264depay ! h264parse name=parse ! "
            "mp4mux name=mux fragment-duration=500 streamable=true ! "
            "filesink name=sink sync=false"
        )
        src = self.pipeline.get_by_name("src")
        src.set_property("location", args.url)
        src.set_property("onvif-rate-control", args.rate_control == "yes")
        src.set_property("tcp-timeout", int(args.io_timeout * 1_000_000))
        if args.user:
            src.set_property("user-id", args.user)
            src.set_property("user-pw", password)
        src.connect("before-send", self._before_send)
        src.connect("select-stream", self._select_stream)
        self.pipeline.get_by_name("sink").set_property("location", args.out)
        parse_src = self.pipeline.get_by_name("parse").get_static_pad("src")
        parse_src.add_probe(Gst.PadProbeType.BUFFER, self._on_buffer)
        self.loop = GLib.MainLoop()
        bus = self.pipeline.get_bus()
        bus.add_signal_watch()
        bus.connect("message", self._on_message)

    def _before_send(self, _src, message) -> bool:
        """``Require: onvif-replay`` on SETUP and PLAY (rtspsrc does not add it itself)."""
        ok, method, _uri, _version = message.parse_request()
        if ok == GstRtsp.RTSPResult.OK and method in (
            GstRtsp.RTSPMethod.SETUP,
            GstRtsp.RTSPMethod.PLAY,
        ):
            message.add_header(GstRtsp.RTSPHeaderField.REQUIRE, "onvif-replay")
            if method == GstRtsp.RTSPMethod.PLAY and not self.play_sent:
                self.play_sent = True
                GLib.timeout_add(int(self.args.io_timeout * 1000), self._check_started)
        return True

    def _check_started(self) -> bool:
        """No footage an I/O timeout after PLAY with Rate-Control: no: take it as refused.

        rtspsrc keeps quiet about a 551 answer to PLAY (it only stops asking), so the silence
        is the sign; the fill then asks again at real time, and a camera that stays silent then
        too is a stalled camera.
        """
        if self.first_pts is None and self.args.rate_control == "no":
            self.refused_rate_control = True
            self.loop.quit()
        return GLib.SOURCE_REMOVE

    def _select_stream(self, _src, _num, caps) -> bool:
        """Video only: the archive keeps the camera's H.264 as it came."""
        media = caps.get_structure(0).get_value("media")
        return media == "video"

    def _on_buffer(self, _pad, info):
        buffer = info.get_buffer()
        if buffer.pts != Gst.CLOCK_TIME_NONE:
            if self.first_pts is None:
                self.first_pts = buffer.pts
            emit(f"out_time_us={max(buffer.pts - self.first_pts, 0) // 1000}")
        self._cap(buffer.get_size())
        return Gst.PadProbeReturn.OK

    def _cap(self, size: int) -> None:
        """Hold the stream to ``--max-kbps`` (the camera's uplink is someone else's too)."""
        if self.args.max_kbps <= 0:
            return
        self.sent_bytes += size
        due = self.sent_bytes * 8 / 1000 / self.args.max_kbps
        ahead = due - (time.monotonic() - self.began)
        if ahead > 0:
            time.sleep(min(ahead, 1.0))

    def _on_message(self, _bus, message) -> None:
        kind = message.type
        if kind == Gst.MessageType.EOS:
            self.loop.quit()
        elif kind == Gst.MessageType.ERROR:
            error, debug = message.parse_error()
            text = f"{error.message} {debug or ''}"
            answered_play = self.play_sent and self.first_pts is None
            if self.args.rate_control == "no" and answered_play and "401" not in text:
                self.refused_rate_control = True
            sys.stderr.write(f"replay error: {error.message}\n")
            self.code = 1
            self.loop.quit()

    def stop(self) -> bool:
        """SIGTERM: send EOS so mp4mux closes the file, then leave."""
        self.pipeline.send_event(Gst.Event.new_eos())
        GLib.timeout_add_seconds(2, self._give_up)
        return GLib.SOURCE_REMOVE

    def _give_up(self) -> bool:
        self.loop.quit()
        return GLib.SOURCE_REMOVE

    def run(self) -> int:
        self.pipeline.set_state(Gst.State.PAUSED)
        self.pipeline.get_state(self.args.io_timeout * Gst.SECOND)
        seek = Gst.Event.new_seek(
            1.0,
            Gst.Format.TIME,
            Gst.SeekFlags.FLUSH,
            Gst.SeekType.SET,
            ntp_ns(self.start),
            Gst.SeekType.SET,
            ntp_ns(self.end),
        )
        self.pipeline.get_by_name("src").send_event(seek)
        self.pipeline.set_state(Gst.State.PLAYING)
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, self.stop)
        self.loop.run()
        self.pipeline.set_state(Gst.State.NULL)
        if self.refused_rate_control:
            emit("rate-control-refused")
            return EXIT_RATE_CONTROL
        return self.code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the replay URI, without credentials")
    parser.add_argument("--user", default="")
    parser.add_argument("--start", required=True, help="ISO 8601 UTC")
    parser.add_argument("--end", required=True, help="ISO 8601 UTC")
    parser.add_argument("--out", required=True, help="fragmented MP4 to write")
    parser.add_argument("--rate-control", choices=("yes", "no"), default="no")
    parser.add_argument("--io-timeout", type=float, default=15.0)
    parser.add_argument("--max-kbps", type=float, default=0.0)
    args = parser.parse_args(argv)
    password = sys.stdin.readline().rstrip("\n") if args.user else ""
    Gst.init(None)
    return Replay(args, password).run()


if __name__ == "__main__":
    sys.exit(main())
