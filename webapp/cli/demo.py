"""Demo data for ``make run``: cameras on the simulated camera, gaps in every state, users."""

import logging
import random
import secrets
import time
from datetime import timedelta
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import func
from sqlalchemy import select

from ..anr.media import archive_name
from ..config import create_private
from ..devtools.footage import render_footage
from ..domain import cameras as camera_settings
from ..domain import fill_runs
from ..domain import gapstate
from ..domain.audit import SYSTEM
from ..domain.segments import add_segments
from ..domain.states import GapState
from ..domain.users import create_user
from ..extensions import db
from ..models import Camera
from ..models import RecordingGap
from ..models import Segment
from ..models import utcnow

DEMO_CAMERAS = (
    ("lobby", "Lobby entrance", "HQ Berlin", "Europe/Berlin", True),
    ("loading-dock", "Loading dock", "Warehouse Newark", "America/New_York", True),
    ("parking-north", "Parking north", "HQ Berlin", "UTC", True),
    ("server-room", "Server room", "Tokyo office", "Asia/Tokyo", True),
    ("garden", "Garden gate", "HQ Berlin", "Europe/Berlin", False),
)
# A camera whose card is fetched by download (ISAPI on the simulated camera): its one-hour gap
# comes back in seconds where a real-time replay would take the hour.
DOWNLOAD_CAMERA = ("vault", "Vault (download fills)", "HQ Berlin", "Europe/Berlin")
DOWNLOAD_GAP_HOURS_AGO = 3
DEMO_CAMERA_USER = "demo"
DEMO_CAMERA_PASSWORD = "demo-camera-pass"
DEMO_USERS = (("admin", "admin"), ("manager", "manager"), ("viewer", "viewer"))
# (state, hours ago the gap started, seconds long): what a healthy ANR camera shows, outages it
# brought back and a few still to fetch.
DEMO_GAPS = (
    (GapState.PENDING, 0.6, 40),
    (GapState.PENDING, 2.5, 75),
    (GapState.FILLING, 1.2, 90),
    (GapState.FILLED, 3.0, 120),
    (GapState.FILLED, 7.5, 60),
    (GapState.FILLED, 20.0, 300),
)
# The one camera with trouble, so the fleet reads as a healthy site with a few problems: a replay
# that ended early, a camera that was offline for three tries, two outages older than its card.
TROUBLED_CAMERA = "lobby"
TROUBLE_GAPS = (
    (GapState.PARTIAL, 5.0, 180),
    (GapState.FAILED, 9.0, 45),
    (GapState.EXPIRED, 30.0, 900),
    (GapState.EXPIRED, 40.0, 240),
)
# The seeded footage starts this long before the oldest gap, so a gap brought back by Retry has
# footage on both sides and the indexer sees no hole next to it.
FOOTAGE_BEFORE_OLDEST = timedelta(hours=1)


def demo_template(base_url: str, camera_id: str) -> str:
    """The replay URL template of a demo camera on the simulated camera."""
    return f"{base_url.rstrip('/')}/replay/{camera_id}?start={{start_iso}}&end={{end_iso}}"


def seed(base_url: str) -> list[tuple[str, str, str]]:
    """Create the demo once; returns (username, password, role) of new users, [] if present."""
    if db.session.execute(select(func.count()).select_from(Camera)).scalar():
        return []
    rng = random.Random(7)
    now = utcnow().replace(microsecond=0)
    for cam_id, name, site, tz, anr in DEMO_CAMERAS:
        clean, errors = camera_settings.validate(
            dict(
                id=cam_id,
                name=name,
                site=site,
                timezone=tz,
                vendor="generic" if anr else "axis",
                address="127.0.0.1",
                username=DEMO_CAMERA_USER,
                password=DEMO_CAMERA_PASSWORD,
                anr_enabled=anr,
                # ANR-off cameras can still serve an operator's Retry (manual requests run
                # whatever the automatic setting), so every demo camera has its replay source.
                anr_replay_url_template=demo_template(base_url, cam_id),
                segment_seconds=60,
            ),
            creating=True,
        )
        assert not errors, errors
        camera = camera_settings.create(clean, actor=SYSTEM)
        _seed_gaps_and_segments(camera, now, rng, anr)
    _seed_download_camera(base_url, now)
    logins = []
    for username, role in DEMO_USERS:
        password = secrets.token_urlsafe(9)
        create_user(username, role, password, display_name=username.title(), actor=SYSTEM)
        logins.append((username, password, role))
    db.session.commit()
    _remember_logins(logins)
    return logins


def _seed_gaps_and_segments(camera, now, rng, anr: bool) -> None:
    windows = []
    gaps = DEMO_GAPS + (TROUBLE_GAPS if camera.id == TROUBLED_CAMERA else ())
    for state, hours_ago, seconds in gaps if anr else DEMO_GAPS[:4]:
        start = now - timedelta(hours=hours_ago, seconds=rng.randint(0, 600))
        start = start.replace(second=0)
        end = start + timedelta(seconds=seconds)
        gap, _ = gapstate.record_gap(camera.id, start, end)
        _put_in_state(gap, state if anr else GapState.PENDING, now, rng)
        windows.append((start, end, state))
    since = min(start for start, _, _ in windows) - FOOTAGE_BEFORE_OLDEST
    _seed_segments(
        camera, now, sorted((s, e) for s, e, st in windows if st != GapState.FILLED), since
    )


def _seed_download_camera(base_url: str, now) -> None:
    """The Hikvision-style camera on the simulated camera's ISAPI, with a one-hour gap."""
    cam_id, name, site, tz = DOWNLOAD_CAMERA
    clean, errors = camera_settings.validate(
        dict(
            id=cam_id, name=name, site=site, timezone=tz, vendor="hikvision",
            address="127.0.0.1", http_port=int(base_url.rstrip("/").rsplit(":", 1)[1]),
            channel=1, username=DEMO_CAMERA_USER, password=DEMO_CAMERA_PASSWORD,
            anr_enabled=True, anr_replay_url_template=demo_template(base_url, cam_id),
            fill_method="download", segment_seconds=60,
        ),
        creating=True,
    )  # fmt: skip
    assert not errors, errors
    camera = camera_settings.create(clean, actor=SYSTEM)
    start = (now - timedelta(hours=DOWNLOAD_GAP_HOURS_AGO)).replace(second=0)
    start -= timedelta(minutes=start.minute % 10)  # on the card's ten-minute files
    end = start + timedelta(hours=1)
    gap, _ = gapstate.record_gap(camera.id, start, end)
    gapstate.change_state(
        gap, GapState.FILLING, claimed_by="demo", lease_until=now, last_attempt_at=now
    )
    error = "the site was offline; Retry fetches this hour from the card by download"
    gapstate.change_state(gap, GapState.FAILED, fill_attempts=1, last_error=error)
    _seed_runs(gap, now, "failed", attempts=1, error=error, method="download")
    _seed_segments(camera, now, [(start, end)], start - FOOTAGE_BEFORE_OLDEST)


def download_windows() -> list[tuple]:
    """(start, end) of the download camera's gaps: the simulated camera renders them ahead."""
    rows = db.session.execute(
        select(RecordingGap.gap_start, RecordingGap.gap_end).where(
            RecordingGap.camera_id == DOWNLOAD_CAMERA[0]
        )
    )
    return [tuple(row) for row in rows]


def _seed_segments(camera, now, holes, since) -> None:
    """Recorded segments from ``since`` until now, leaving ``holes`` (gaps not filled yet)."""
    t = since.replace(second=0)
    rows = []
    step = timedelta(seconds=60)
    while t + step <= now - timedelta(seconds=90):
        clash = next((h for h in holes if h[0] < t + step and h[1] > t), None)
        # Footage runs right up to each hole and on from its end: nothing between a seeded gap
        # and its neighbours is left unrecorded (the indexer would call that a gap of its own).
        seg_end = min(t + step, clash[0]) if clash else t + step
        if seg_end > t:
            rows.append(
                Segment(
                    camera_id=camera.id,
                    path=f"demo/{t.strftime('%Y%m%d_%H%M%S')}.mp4",
                    start_time=t,
                    end_time=seg_end,
                    duration_s=(seg_end - t).total_seconds(),
                    size_bytes=1_500_000,
                )
            )
        t = max(seg_end, clash[1]) if clash else seg_end
    add_segments(rows)  # the one segment writer: the camera's newest footage follows


def _put_in_state(gap: RecordingGap, state: str, now, rng) -> None:
    """Walk a fresh gap through the state machine to ``state``, as the engine would have."""
    attempted = now - timedelta(minutes=rng.randint(5, 300))
    if state == GapState.PENDING:
        return
    if state == GapState.EXPIRED:
        gapstate.change_state(gap, GapState.EXPIRED)
        return
    gapstate.change_state(
        gap,
        GapState.FILLING,
        claimed_by="demo",
        lease_until=now,
        progress=0.4,
        last_attempt_at=attempted,
    )
    if state == GapState.FILLING:
        gap.fill_attempts = 1
        _seed_runs(gap, attempted, None, attempts=1)
        return
    if state == GapState.FILLED:
        gapstate.change_state(
            gap,
            GapState.FILLED,
            fill_attempts=1,
            filled_at=attempted,
            recovered_seconds=gap.gap_seconds,
        )
        _seed_runs(gap, attempted, "filled", attempts=1, recovered=gap.gap_seconds)
    elif state == GapState.PARTIAL:
        recovered = round(gap.gap_seconds * 0.55, 1)
        error = "replay ended after 55% of the window"
        gapstate.change_state(
            gap, GapState.PARTIAL, fill_attempts=1, recovered_seconds=recovered, last_error=error
        )
        _seed_runs(gap, attempted, "partial", attempts=1, error=error, recovered=recovered)
    elif state == GapState.FAILED:
        error = "Connection refused by rtsp://***@10.20.0.14:554 (camera offline)"
        gapstate.change_state(gap, GapState.FAILED, fill_attempts=3, last_error=error)
        _seed_runs(gap, attempted, "failed", attempts=3, error=error)


def _seed_runs(gap, last, outcome, attempts, error=None, recovered=None, method="replay") -> None:
    """One FillRun per attempt the gap counts, as the worker writes them (History matches).

    The attempts before the last failed with the same error, ten minutes apart; the last one
    ended at ``last`` with ``outcome`` (still running when ``outcome`` is None).
    """
    for n in range(attempts):
        final = n == attempts - 1
        started = last - timedelta(minutes=10 * (attempts - 1 - n), seconds=30)
        run = fill_runs.open_run(gap, "demo", method, started_at=started)
        if final and outcome is None:
            continue  # still running
        fill_runs.close_run(
            run,
            outcome if final else "failed",
            recovered if final else 0.0,
            error if final or outcome == "failed" else None,
            ended_at=started + timedelta(seconds=30),
        )


def _remember_logins(logins) -> None:
    """Keep the demo logins under instance/ (0600) so ``make run`` can show them again."""
    path = Path(current_app.instance_path) / "demo-logins.txt"
    text = "".join(f"  {u:8} {p}   ({r})\n" for u, p, r in logins)
    create_private(path)  # 0600 from the start: the passwords are never readable by others
    path.write_text(text)


# A recorder that was off for longer than this starts again at now: the time it missed is a
# real hole the indexer reports, not hours of footage rendered in one go.
RECORDER_CATCH_UP = timedelta(minutes=10)
log = logging.getLogger(__name__)


def record_once(root: Path, newest: dict, ffmpeg: str = "") -> int:
    """Write each enabled camera's due segments (``segment_seconds`` long) as archive files.

    ``newest`` holds, per camera, the end of the last file written, so the files follow each
    other without holes; it starts from the indexed ``last_segment_end`` (the seeded footage).
    Returns how many files were written.
    """
    now = utcnow().replace(microsecond=0)
    written = 0
    cameras = db.session.execute(select(Camera).where(Camera.enabled)).scalars().all()
    for camera in cameras:
        step = timedelta(seconds=camera.segment_seconds)
        start = newest.get(camera.id) or camera.last_segment_end or now - step
        if now - start > RECORDER_CATCH_UP:
            start = now - step
        folder = root / camera.id
        folder.mkdir(parents=True, exist_ok=True)
        while start + step <= now:
            render_footage(start, step.total_seconds(), folder / archive_name(start), ffmpeg)
            start += step
            written += 1
        newest[camera.id] = start
    db.session.rollback()  # a read only: end the snapshot so the next pass sees new cameras
    return written


def record_forever(app, interval_s: float = 5.0, stop=None) -> None:
    """The demo recorder: keep writing segments for the demo cameras until ``stop`` is set."""
    root = Path(app.config["ANR_RECORDINGS_DIR"])
    newest: dict = {}
    while stop is None or not stop.is_set():
        with app.app_context():
            try:
                record_once(root, newest, app.config.get("ANR_FFMPEG_BIN", ""))
            except OSError as exc:  # a full disk or missing ffmpeg: say so, try again
                log.error("demo recorder: %s", exc)
        if stop is not None:
            stop.wait(interval_s)
        else:
            time.sleep(interval_s)


def reset(base_url: str) -> list[tuple[str, str, str]]:
    """Start the demo over: every row and the recorded demo files go, then ``seed`` again."""
    for table in reversed(db.metadata.sorted_tables):
        db.session.execute(table.delete())
    db.session.commit()
    root = Path(current_app.config["ANR_RECORDINGS_DIR"])
    ids = [c[0] for c in DEMO_CAMERAS] + [DOWNLOAD_CAMERA[0]]
    for cam_id in ids:
        folder = root / cam_id
        if folder.is_dir():
            for path in folder.iterdir():
                if path.is_file():
                    path.unlink()
    return seed(base_url)


demo_commands = AppGroup("demo", help="Demo data.")


@demo_commands.command("seed")
@click.option("--simcam-url", default=None, help="Base URL of the simulated camera.")
def demo_seed(simcam_url):
    """Create demo cameras, gaps in every state, segments, audit rows and users (idempotent)."""
    base = simcam_url or current_app.config.get("SIMCAM_URL") or "http://127.0.0.1:8001"
    logins = seed(base)
    if logins:
        click.echo("demo logins (shown once):")
        for username, password, role in logins:
            click.echo(f"  {username:8} {password}   ({role})")
    else:
        click.echo("demo data already present; nothing changed")


@demo_commands.command("reset")
@click.option("--simcam-url", default=None, help="Base URL of the simulated camera.")
def demo_reset(simcam_url):
    """Start the demo over: delete every row and recorded demo file, then seed it again."""
    base = simcam_url or current_app.config.get("SIMCAM_URL") or "http://127.0.0.1:8001"
    logins = reset(base)
    click.echo("demo reset; new logins (shown once):")
    for username, password, role in logins:
        click.echo(f"  {username:8} {password}   ({role})")


@demo_commands.command("record")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between passes.")
def demo_record(interval):
    """Keep recording the demo cameras: a real segment every segment_seconds each (make run)."""
    record_forever(current_app._get_current_object(), interval)
