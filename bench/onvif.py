"""ONVIF Profile G replay fill against the Profile G test camera, against real time (SPEC §23).

The camera is the test one: the SOAP double (device, search, replay services) plus GStreamer's
RTSPOnvifServer on loopback. The real worker fills one pending gap (card check, GetReplayUri,
the GStreamer helper with ``Rate-Control: no``, finalise, index). The partner is real time: the
window's own length, which no real-time replay (ffmpeg's, or a camera refusing
``Rate-Control: no``) can beat, so it is not re-measured. Run alone:
``python -m bench.onvif --minutes 2``.
"""

import argparse
import sys
import tempfile
import time
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
USER, PASSWORD = "bench", "bench camera pass"


def onvif_fill(window_s: int, audio: str = "none") -> float:
    """Seconds for ``anr worker --once`` to fill a ``window_s`` gap by ONVIF replay (``audio``:
    ``none`` or ``mulaw``, the camera's G.711 kept as AAC)."""
    # Imported here: ``python bench/onvif.py`` puts the project root on the path first.
    from tests import factories
    from tests.rtsp.server import OnvifRtspCamera
    from tests.rtsp.server import gstreamer_missing
    from webapp import create_app
    from webapp.anr.worker import Worker
    from webapp.devtools.onvif_double import OnvifDouble
    from webapp.extensions import db
    from webapp.models import RecordingGap

    missing = gstreamer_missing()
    if missing:
        raise RuntimeError(f"the Profile G test camera cannot run: {missing}")
    work = Path(tempfile.mkdtemp(prefix="bench-onvif-"))
    rtsp = OnvifRtspCamera(work, USER, PASSWORD, audio=audio)
    device = OnvifDouble(USER, PASSWORD).start()
    try:
        device.data_from = datetime.now(UTC) - timedelta(hours=6)
        device.replay_uri = rtsp.replay_uri
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{work / 'onvif.db'}",
                "SECRET_KEY": "bench",
                "ANR_RECORDINGS_DIR": str(work / "recordings"),
                "ANR_MAX_FILL_SECONDS": window_s + 600,
                "ANR_INTERVAL_S": 0.2,
            }
        )
        with app.app_context():
            db.create_all()
            factories.make_camera(
                "door", vendor="onvif", address="127.0.0.1", http_port=device.port,
                username=USER, password=PASSWORD, anr_enabled=True,
            )  # fmt: skip
            start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=window_s + 600)
            gap = factories.make_gap("door", start, seconds=window_s)
            began = time.perf_counter()
            Worker(app).run(once=True)
            took = time.perf_counter() - began
            db.session.expire_all()
            row = db.session.get(RecordingGap, gap.id)
            if row.fill_state != "filled":
                raise RuntimeError(f"the ONVIF fill ended {row.fill_state}: {row.last_error}")
        return took
    finally:
        device.stop()
        rtsp.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--audio", choices=("none", "mulaw"), default="none")
    args = parser.parse_args()
    window = int(args.minutes * 60)
    took = onvif_fill(window, args.audio)
    speed = f"{took:.1f} s, {window / took:.1f}x real time"
    print(f"ONVIF replay fill of {window} s (audio {args.audio}): {speed}")
    return 0


if __name__ == "__main__":
    # The project root, not bench/, first: bench/onvif.py would shadow the onvif library.
    sys.path[0] = str(ROOT)
    sys.exit(main())
