"""``flask anr ...``: the engine's commands (worker, indexer, simulated camera)."""

import logging
import os
import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from ..anr.indexer import index_all
from ..anr.worker import Worker
from ..devtools.simcam import SimCam
from ..domain import evidence
from ..domain.times import parse_time
from ..extensions import db

anr = AppGroup("anr", help="The ANR engine: worker, indexer, simulated camera.")
log = logging.getLogger(__name__)


@contextmanager
def shutdown_signals(handler):
    """Route SIGTERM and SIGINT (Ctrl-C) to ``handler`` while the command runs, then restore."""
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@anr.command("worker")
@click.option("--once", is_flag=True, help="One sweep and claim, wait for those fills, exit.")
def worker_command(once):
    """Fill recording gaps from the cameras' SD cards until stopped (SIGTERM/SIGINT)."""
    worker = Worker(current_app._get_current_object())
    with shutdown_signals(worker.request_shutdown):
        code = worker.run(once=once)
    raise SystemExit(code)


@anr.command("index")
@click.option("--once", is_flag=True, help="Scan every camera folder once and exit.")
def index_command(once):
    """Index archive files into segments and gaps; rescans every ANR_INTERVAL_S."""
    stop = threading.Event()
    with shutdown_signals(lambda *_: stop.set()):
        while not stop.is_set():
            try:
                reports = index_all()
            except Exception:  # an unreachable database: try again next cycle, keep running
                db.session.rollback()
                log.exception("index pass failed; trying again")
                reports = []
            for report in reports:
                if report.changed or report.gaps_created or report.gaps_filled:
                    click.echo(
                        f"{report.camera_id}: +{report.added} ~{report.updated} "
                        f"-{report.removed} segments, {report.gaps_created} new gaps, "
                        f"{report.gaps_filled} now filled"
                    )
            if once:
                break
            stop.wait(float(current_app.config["ANR_INTERVAL_S"]))


@anr.command("verify")
@click.option("--camera", "camera_id", metavar="ID", help="Only this camera's archive.")
def verify_command(camera_id):
    """Re-hash the archive: list files changed, missing or unhashed (exit 1: changed/missing)."""
    root = Path(current_app.config["ANR_RECORDINGS_DIR"])
    segments = evidence.archive_segments(camera_id)
    check = evidence.ArchiveCheck()
    # The bar shows in a terminal only (click hides it when output is piped).
    with click.progressbar(
        segments, label="Hashing archive files", file=sys.stderr, show_pos=True
    ) as bar:
        for segment in bar:
            evidence.check_segment(root, segment, check)
    for word, names in (("CHANGED", check.changed), ("MISSING", check.missing),
                        ("UNHASHED", check.unhashed)):  # fmt: skip
        for name in names:
            click.echo(f"{word} {name}")
    click.echo(
        f"{check.checked} files checked: {len(check.changed)} changed, "
        f"{len(check.missing)} missing, {len(check.unhashed)} unhashed"
    )
    raise SystemExit(1 if check.failed else 0)


@anr.command("simcam")
@click.option("--host", default="127.0.0.1", show_default=True, help="Loopback only.")
@click.option("--port", default=8001, show_default=True, type=int)
@click.option(
    "--speed",
    default=0.0,
    show_default=True,
    type=float,
    help="Replay pace in times real time (0: as fast as possible).",
)
@click.option("--user", default="", help="Digest user of the ISAPI and Dahua APIs (empty: open).")
@click.option("--password-env", default="SIMCAM_PASSWORD", show_default=True,
              help="Environment variable holding the Digest password.")  # fmt: skip
@click.option(
    "--warm",
    multiple=True,
    metavar="START/END",
    help="Render the card's recordings of this UTC window (ISO times) ahead, for fast downloads.",
)
def simcam_command(host, port, speed, user, password_env, warm):
    """Run the simulated camera that serves generated footage for any window."""
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise click.UsageError("the simulated camera listens on loopback only")
    windows = []
    for raw in warm:
        times = [parse_time(t) for t in raw.split("/", 1)]  # without an offset: UTC
        if len(times) != 2 or None in times:
            raise click.BadParameter(f"{raw!r}: give START/END as ISO times", param_hint="--warm")
        windows.append(tuple(times))
    credentials = (user, os.environ.get(password_env, "")) if user else None
    cam = SimCam(
        host, port, ffmpeg=current_app.config.get("ANR_FFMPEG_BIN", ""), speed=speed,
        credentials=credentials,
    )  # fmt: skip
    click.echo(
        f"simulated camera on {cam.url} (GET /replay/<camera>?start=&end=; "
        "ISAPI ContentMgmt and Dahua mediaFileFind/RPC_Loadfile by channel)"
    )
    for start, end in windows:  # in the background: the server answers meanwhile
        threading.Thread(target=cam.vendor.prerender, args=(start, end), daemon=True).start()
    # shutdown() waits for serve_forever, so it must be called from another thread.
    with shutdown_signals(lambda *_: threading.Thread(target=cam.server.shutdown).start()):
        cam.serve_forever()
