"""``make run``: upgrade the database, seed the demo once, run every part of Replenish together.

The simulated camera, the ANR worker, the indexer and the web app run as child processes on
loopback; Ctrl-C (or SIGTERM) stops all of them cleanly.
"""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from flask_migrate import upgrade

from .. import create_app
from .demo import DEMO_CAMERA_PASSWORD
from .demo import DEMO_CAMERA_USER
from .demo import download_windows
from .demo import seed

HOST = "127.0.0.1"
DEMO_INTERVAL_S = "3"  # the demo's worker looks for work every 3 s, so Retry answers quickly
SIMCAM_SPEED = "4"  # replays run at 4x real time: long enough to watch the progress bar move
STOP_GRACE_S = 15


def _flask(*args: str) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "wsgi", *args]


def prepare(simcam_url: str) -> tuple[str, list[str]]:
    """Upgrade the schema and seed the demo on first run.

    Returns the logins text to show and the windows (``START/END``) the simulated camera
    renders ahead, so the download camera's hour comes back in seconds.
    """
    app = create_app()
    with app.app_context():
        upgrade()
        logins = seed(simcam_url)
        warm = [f"{start.isoformat()}/{end.isoformat()}" for start, end in download_windows()]
    saved = Path(app.instance_path) / "demo-logins.txt"
    if logins:
        text = "".join(f"  {user:8} {password}   ({role})\n" for user, password, role in logins)
    else:
        text = saved.read_text() if saved.exists() else "  (shown on the first run)\n"
    return f"{text}  (kept in {saved})\n", warm


def children(port: int, simcam_port: int, warm: Sequence[str] = ()) -> dict[str, list[str]]:
    """The processes ``make run`` starts, by name."""
    warm_args = [arg for window in warm for arg in ("--warm", window)]
    return {
        "simulated camera": _flask(
            "anr",
            "simcam",
            "--port",
            str(simcam_port),
            "--speed",
            SIMCAM_SPEED,
            "--user",
            DEMO_CAMERA_USER,
            *warm_args,
        ),  # fmt: skip
        # Live footage for the demo cameras, so they stay Recording (design.md).
        "demo recorder": _flask("demo", "record"),
        "ANR worker": _flask("anr", "worker"),
        "indexer": _flask("anr", "index"),
        "web app": [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            "2",
            "--bind",
            f"{HOST}:{port}",
            "--access-logfile",
            "-",
            # Sign-on tokens never reach the access log, nor do the pages' polls; gunicorn's own
            # start-up lines are left out too (the banner below gives the URL once).
            "--logger-class",
            "webapp.plumbing.quietlog.QuietPollLogger",
            "--log-level",
            "warning",
            "wsgi:app",
        ],
    }


def stop_all(procs: dict[str, subprocess.Popen]) -> None:
    """SIGTERM each child (the worker returns its claims), then SIGKILL what lingers."""
    for proc in procs.values():
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + STOP_GRACE_S
    for name, proc in procs.items():
        try:
            proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            print(f"{name} did not stop in {STOP_GRACE_S} s; killing it", flush=True)
            proc.kill()
            proc.wait()


def main() -> int:
    """Run the whole demo until Ctrl-C; exit status 0 on a clean stop."""
    port = int(os.environ.get("PORT", "8000"))
    simcam_url = os.environ.get("SIMCAM_URL", f"http://{HOST}:8001")
    simcam_port = int(simcam_url.rsplit(":", 1)[-1].strip("/"))
    logins, warm = prepare(simcam_url)
    env = {
        **os.environ,
        "ANR_INTERVAL_S": os.environ.get("ANR_INTERVAL_S", DEMO_INTERVAL_S),
        "SIMCAM_PASSWORD": DEMO_CAMERA_PASSWORD,  # the demo cameras' Digest password
    }
    stopping = False

    def on_signal(*_args):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    procs: dict[str, subprocess.Popen] = {}
    for name, cmd in children(port, simcam_port, warm).items():
        # Own sessions: Ctrl-C reaches only this process, which stops the children in order.
        procs[name] = subprocess.Popen(cmd, env=env, start_new_session=True)
    print(
        # The simulated camera prints its own URL; each URL is said once.
        f"\nReplenish is running on http://{HOST}:{port}\n"
        f"demo logins:\n{logins}"
        "Press Ctrl-C to stop.\n",
        flush=True,
    )
    code = 0
    while not stopping:
        ended = [name for name, proc in procs.items() if proc.poll() is not None]
        if ended:
            print(f"{', '.join(ended)} stopped unexpectedly; stopping everything", flush=True)
            code = 1
            break
        time.sleep(0.5)
    print("stopping ...", flush=True)
    stop_all(procs)
    print("stopped.", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
