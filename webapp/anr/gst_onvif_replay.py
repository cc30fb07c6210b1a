"""ONVIF Profile G replay of one clock range into fragmented MP4, with GStreamer's rtspsrc.

Run by Debian's ``/usr/bin/python3`` (the GStreamer bindings exist only there), as ffmpeg runs
for an ordinary replay: stdlib and ``gi`` only, never the webapp package. The password comes on
stdin, never in argv. Progress goes to stdout as ``out_time_us=<n>`` lines (ffmpeg's
``-progress`` form, so the fill's watchdog reads both alike). SIGTERM ends the copy cleanly (the
MP4 is closed); SIGKILL keeps every fragment already written. Exit 3 with
``rate-control-refused`` on stdout: the camera refused ``Rate-Control: no``.

Audio (``--audio aac``, the default) is decoded and encoded to AAC beside the copied video, as the
ffmpeg replay does; ``--audio drop`` takes video only. An audio stream that cannot be kept ends
the run with an error that says "audio", and the fill asks again for video only: audio never
makes a fill fail.
See docs/design.md, "ONVIF replay".
"""

import argparse
import os
import signal
import sys
import threading
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
# Each stream is queued before the MP4 (up to a minute): the streams share one TCP connection,
# and mp4mux waiting on one of them must not stop rtspsrc from reading the other.
QUEUE = "queue max-size-buffers=0 max-size-bytes=0 max-size-time=60000000000"
TEARDOWN_S = 5.0
AUDIO_GRACE_MS = 2000  # how long the audio may trail the video's end before it is ended
AAC_ENCODERS = ("avenc_aac", "voaacenc", "fdkaacenc")
# How each RTP audio encoding becomes AAC ({encode}: raw audio to AAC).
AUDIO_DECODERS = {
    "PCMU": "rtppcmudepay ! mulawdec ! {encode}",
    "PCMA": "rtppcmadepay ! alawdec ! {encode}",
    "MPEG4-GENERIC": "rtpmp4gdepay",  # AAC already: copied
}


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
            f"{QUEUE} ! "
            "mp4mux name=mux fragment-duration=500 streamable=true ! "
            "filesink name=sink sync=false buffer-mode=unbuffered"
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
        src.connect("pad-added", self._on_pad)
        self.audio_pad = None  # the MP4's audio track, asked for when DESCRIBE names audio
        self.audio_linked = False
        self.audio_selected = False  # the camera's description has an audio stream (DESCRIBE)

        self.pipeline.get_by_name("sink").set_property("location", args.out)
        parse_src = self.pipeline.get_by_name("parse").get_static_pad("src")
        parse_src.add_probe(Gst.PadProbeType.BUFFER, self._on_buffer)
        parse_src.add_probe(Gst.PadProbeType.EVENT_DOWNSTREAM, self._on_video_event)
        self.audio_chain = None  # the audio branch, once the camera's audio pad is linked
        self.audio_ended = False
        self.hung = False
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
        """The video (H.264 as it came) and, unless dropped, the audio (to be made AAC)."""
        media = caps.get_structure(0).get_value("media")
        if media == "audio" and self.args.audio == "aac" and self.audio_pad is None:
            # Asked for now, at DESCRIBE, before any stream starts: mp4mux gives no pad after.
            self.audio_pad = self.pipeline.get_by_name("mux").request_pad_simple("audio_%u")
            self.audio_selected = self.audio_pad is not None
            return self.audio_selected
        return media == "video"

    def _on_pad(self, _src, pad) -> None:
        """An audio stream: decode G.711 (or take AAC as it is), encode AAC, into the MP4."""
        caps = pad.get_current_caps() or pad.query_caps(None)
        info = caps.get_structure(0)
        if info.get_value("media") != "audio" or not self.audio_selected:
            return  # the video pad is linked by the pipeline description
        encoding = (info.get_value("encoding-name") or "").upper()
        encoder = next((e for e in AAC_ENCODERS if Gst.ElementFactory.find(e)), None)
        decode = AUDIO_DECODERS.get(encoding)
        if decode is None:
            self._audio_failed(f"the camera's {encoding or 'unknown'} audio is not supported")
            return
        if encoder is None and encoding != "MPEG4-GENERIC":
            self._audio_failed("no AAC encoder (gstreamer1.0-libav) to keep the audio")
            return
        described = decode.format(encode=f"audioconvert ! audioresample ! {encoder}")
        chain = Gst.parse_bin_from_description(f"{described} ! aacparse ! {QUEUE}", True)
        self.pipeline.add(chain)
        chain.sync_state_with_parent()
        try:
            pad.link(chain.get_static_pad("sink"))
            chain.get_static_pad("src").link(self.audio_pad)
        except Gst.LinkError as exc:
            self._audio_failed(f"the camera's audio could not be linked into the MP4 ({exc})")
            return
        self.audio_linked = True
        self.audio_chain = chain
        audio_sink = chain.get_static_pad("sink")
        audio_sink.add_probe(Gst.PadProbeType.EVENT_DOWNSTREAM, self._on_audio_event)

    def _on_video_event(self, _pad, info):
        """The video reached the window's end: give the audio a moment, then end it too.

        mp4mux closes the file only when every stream has ended; a camera whose audio stops
        short (seen with Rate-Control: no) must not hold the footage back: audio never makes a
        fill fail.
        """
        if info.get_event().type == Gst.EventType.EOS and self.audio_chain is not None:
            GLib.timeout_add(AUDIO_GRACE_MS, self._end_audio)
        return Gst.PadProbeReturn.OK

    def _on_audio_event(self, _pad, info):
        if info.get_event().type == Gst.EventType.EOS:
            self.audio_ended = True
        return Gst.PadProbeReturn.OK

    def _end_audio(self) -> bool:
        if not self.audio_ended and self.audio_chain is not None:
            sys.stderr.write("replay note: the camera's audio ended before its video\n")
            self.audio_chain.get_static_pad("sink").send_event(Gst.Event.new_eos())
            # rtspsrc keeps the silent stream's session open: the fragments are on disk by now.
            GLib.timeout_add(AUDIO_GRACE_MS, self._give_up)
        return GLib.SOURCE_REMOVE

    def _audio_failed(self, why: str) -> None:
        sys.stderr.write(f"replay error: audio: {why}\n")
        self.code = 1
        GLib.idle_add(self._give_up)

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
            source = message.src.get_path_string() if message.src else ""
            audio = any(n in source for n in ("decodebin", "audioconvert", "aac", "bin"))
            where = "audio: " if audio else ""
            sys.stderr.write(f"replay error: {where}{error.message}\n")
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
        # Teardown can hang on a session whose stream went silent (rtspsrc waits on it); every
        # fragment is already on disk (unbuffered filesink), so leave after a bounded wait.
        teardown = threading.Thread(target=self.pipeline.set_state, args=(Gst.State.NULL,))
        teardown.daemon = True
        teardown.start()
        teardown.join(TEARDOWN_S)
        self.hung = teardown.is_alive()
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
    parser.add_argument("--audio", choices=("aac", "drop"), default="aac")
    args = parser.parse_args(argv)
    password = sys.stdin.readline().rstrip("\n") if args.user else ""
    Gst.init(None)
    replay = Replay(args, password)
    code = replay.run()
    if replay.hung:  # a thread stuck in GStreamer would hold the interpreter's exit
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
