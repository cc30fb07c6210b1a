"""A Profile G test camera: GStreamer's own RTSPOnvifServer with replay support, on loopback.

Run by Debian's /usr/bin/python3 (the GStreamer bindings are Debian packages). The "recording"
is a test pattern seekable to any clock time (videotestsrc timestamps its frames from the seek
position), so a ``Range: clock=`` request gets exactly that range back. ``--strict`` refuses a
PLAY without ``Require: onvif-replay`` (551, as Profile G cameras do); ``--no-rate-control``
refuses ``Rate-Control: no``; ``--audio mulaw`` adds a G.711 stream. Prints ``READY <port>``;
each request line is appended as JSON to
``--log``.
"""

import argparse
import json
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib  # noqa: E402
from gi.repository import Gst  # noqa: E402
from gi.repository import GstRtsp  # noqa: E402
from gi.repository import GstRtspServer  # noqa: E402

PIPELINE = (
    "( videotestsrc is-live=false pattern=ball "
    "! video/x-raw,width=320,height=240,framerate=10/1 "
    "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10 bframes=0 "
    "! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 "
)
# ``--audio mulaw``: G.711 beside the video, as Hikvision and many Dahua cameras send by default.
AUDIO = (
    "audiotestsrc is-live=false wave=sine samplesperbuffer=800 "
    "! audio/x-raw,rate=8000,channels=1 ! mulawenc ! rtppcmupay name=pay1 pt=0 "
)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--log", required=True)
    parser.add_argument("--strict", action="store_true")
    parser.add_argument("--no-rate-control", action="store_true")
    parser.add_argument("--user", default="")
    parser.add_argument("--password", default="")
    parser.add_argument("--audio", choices=("none", "mulaw"), default="none")
    args = parser.parse_args()
    Gst.init(None)
    server = GstRtspServer.RTSPOnvifServer.new()
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPOnvifMediaFactory.new()
    factory.set_launch(PIPELINE + (AUDIO if args.audio == "mulaw" else "") + ")")
    factory.set_replay_support(True)
    factory.set_media_gtype(GstRtspServer.RTSPOnvifMedia)
    factory.set_shared(False)
    if args.user:
        auth = GstRtspServer.RTSPAuth.new()
        token = GstRtspServer.RTSPToken.new()
        token.set_string("media.factory.role", "user")
        auth.add_digest(args.user, args.password, token)
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions.new()
        permissions.add_role("user")
        permissions.add_permission_for_role("user", "media.factory.access", True)
        permissions.add_permission_for_role("user", "media.factory.construct", True)
        factory.set_permissions(permissions)
    server.get_mount_points().add_factory("/replay", factory)

    def log(method: str, message) -> None:
        headers = {}
        for field, name in (
            (GstRtsp.RTSPHeaderField.REQUIRE, "require"),
            (GstRtsp.RTSPHeaderField.RANGE, "range"),
        ):
            ok, value = message.get_header(field, 0)
            if ok == GstRtsp.RTSPResult.OK:
                headers[name] = value
        ok, value = message.get_header_by_name("Rate-Control", 0)
        if ok == GstRtsp.RTSPResult.OK:
            headers["rate_control"] = value
        with open(args.log, "a") as out:
            out.write(json.dumps({"method": method, **headers}) + "\n")

    def on_play(_client, context):
        log("PLAY", context.request)
        ok, require = context.request.get_header(GstRtsp.RTSPHeaderField.REQUIRE, 0)
        if args.strict and (ok != GstRtsp.RTSPResult.OK or "onvif-replay" not in require):
            return GstRtsp.RTSPStatusCode.OPTION_NOT_SUPPORTED
        ok, rate = context.request.get_header_by_name("Rate-Control", 0)
        if args.no_rate_control and ok == GstRtsp.RTSPResult.OK and rate.strip() == "no":
            return GstRtsp.RTSPStatusCode.OPTION_NOT_SUPPORTED
        return GstRtsp.RTSPStatusCode.OK

    def on_setup(_client, context):
        log("SETUP", context.request)
        return GstRtsp.RTSPStatusCode.OK

    def on_client(_server, client):
        client.connect("pre-play-request", on_play)
        client.connect("pre-setup-request", on_setup)

    server.connect("client-connected", on_client)
    server.attach(None)
    print(f"READY {server.get_bound_port()}", flush=True)
    GLib.MainLoop().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
