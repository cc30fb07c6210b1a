"""Engine figures: PostgreSQL worker claims (1 vs 4 workers), the indexer rescan, one real fill.

- Claims: worker processes claim pending gaps with the app's queue (4 slots each) and finish
  them after a fill that sleeps 200 ms (no CPU, no database), so the figure measures the queue,
  not the 2 cores: claims per second with 4 workers over 1 worker is near 4 when nothing
  serialises the claims. While they run, ``pg_stat_activity`` is sampled every 20 ms and the
  lock waits seen (``wait_event_type`` Lock/LWLock, by ``wait_event``) are printed.
- Indexer: a rescan of an unchanged folder of segment files (stat only, no probing).
- Fill: a pending 60 s gap filled by ``flask anr worker --once`` from the simulated camera.
"""

import multiprocessing
import os
import statistics
import tempfile
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy import insert
from sqlalchemy import text

from bench import dataset
from webapp import create_app
from webapp.config import normalise_database_url
from webapp.domain import gapstate
from webapp.extensions import db
from webapp.models import RecordingGap
from webapp.models import Segment
from webapp.models import utcnow

QUEUE_CAMERAS = 200
QUEUE_GAPS_PER_CAMERA = 40


def app_for(url: str, **config):
    """An app on ``url`` with a fixed secret key."""
    return create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", **config})


def postgres_url() -> tuple[str | None, str]:
    """The PostgreSQL URL to use and, when there is none usable, why."""
    url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    if not url:
        return None, "no PostgreSQL: set BENCH_DATABASE_URL or TEST_DATABASE_URL"
    try:
        probe = create_engine(normalise_database_url(url))
        with probe.connect() as conn:
            conn.execute(text("SELECT 1"))
        probe.dispose()
    except Exception as exc:  # no server: the figure is skipped with the reason, never faked
        return None, f"PostgreSQL not reachable ({exc.__class__.__name__})"
    return url, ""


def _load_queue(url: str) -> None:
    app = app_for(url)
    with app.app_context():
        db.drop_all()
        db.create_all()
        cams = dataset.add_cameras(QUEUE_CAMERAS)
        dataset.add_gaps(cams, QUEUE_GAPS_PER_CAMERA, state="pending")
        db.engine.dispose()


FILL_SLEEP_S = 0.2  # each claimed batch "fills" for this long, holding no database lock


def claim_loop(
    url: str, worker_id: str, seconds: float, ready, go, result, fill_s: float = FILL_SLEEP_S
) -> None:
    """Once ``go`` is set, claim gaps, "fill" them for ``fill_s`` and finish them, for
    ``seconds``; report how many."""
    from webapp.anr import claims

    change_state = gapstate.change_state
    app = app_for(url)

    def claim_and_fill() -> int:
        gaps = claims.claim(worker_id, 4, per_camera=1, lease_seconds=60)
        db.session.commit()
        if gaps and fill_s:
            time.sleep(fill_s)
        now = utcnow()
        for gap in gaps:
            change_state(gap, "filled", filled_at=now, recovered_seconds=float(gap.gap_seconds))
        db.session.commit()
        return len(gaps)

    claimed = 0
    with app.app_context():
        claim_and_fill()  # connected and every statement compiled before the clock starts
        ready.put(worker_id)
        go.wait(120)
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            done = claim_and_fill()
            if not done:
                break
            claimed += done
        db.engine.dispose()
    result.put(claimed)


LOCK_WAITS = text(
    "SELECT wait_event_type || ':' || wait_event, count(*) FROM pg_stat_activity"
    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    " AND wait_event_type IN ('Lock', 'LWLock') GROUP BY 1"
)


def _sample_lock_waits(url: str, stop, waits: Counter, every_s: float = 0.02) -> None:
    """Count the lock waits of other sessions in ``pg_stat_activity`` until ``stop`` is set."""
    engine = create_engine(normalise_database_url(url))
    with engine.connect() as conn:
        while not stop.is_set():
            for event, count in conn.execute(LOCK_WAITS):
                waits[event] += count
            conn.rollback()
            stop.wait(every_s)
    engine.dispose()


def claims_per_second(
    url: str,
    workers: int,
    seconds: float,
    waits: Counter | None = None,
    fill_s: float = FILL_SLEEP_S,
) -> float:
    """Claims per second of ``workers`` processes on a freshly loaded queue.

    The processes start, import and connect first; the clock runs only from the common start
    signal, so process start-up (seconds on a busy 2-core machine) is not counted. ``waits``
    collects the lock waits sampled meanwhile; ``fill_s`` 0 makes every fill a no-op.
    """
    _load_queue(url)
    ctx = multiprocessing.get_context("spawn")
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [
        ctx.Process(
            target=claim_loop, args=(url, f"bench-{i}", seconds, ready, go, results, fill_s)
        )
        for i in range(workers)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=120)
    stop = threading.Event()
    sampler = threading.Thread(
        target=_sample_lock_waits, args=(url, stop, waits if waits is not None else Counter())
    )
    sampler.start()
    go.set()
    try:
        total = sum(results.get(timeout=seconds + 120) for _ in procs)
    finally:
        stop.set()
        sampler.join(10)
    for p in procs:
        p.join(30)
    return total / seconds


def claims_speedup(url: str, runs: int, seconds: float) -> tuple[float, float, Counter]:
    """Median claims/s of 1 worker and of 4 workers, measured alternately, and the lock waits
    sampled during the 4-worker runs."""
    one, four = [], []
    waits: Counter = Counter()
    for _ in range(runs):
        one.append(claims_per_second(url, 1, seconds))
        four.append(claims_per_second(url, 4, seconds, waits))
    return statistics.median(one), statistics.median(four), waits


def indexer_rescan(workdir: Path, files: int) -> float:
    """Median seconds of a rescan of an unchanged folder of ``files`` segment files."""
    from webapp.anr.indexer import index_camera

    root = workdir / "recordings"
    folder = root / "cam00000"
    folder.mkdir(parents=True)
    app = app_for(f"sqlite:///{workdir / 'indexer.db'}")
    with app.app_context():
        db.create_all()
        camera_id = dataset.add_cameras(1)[0]
        rows = []
        for i in range(files):
            start = dataset.T_END - timedelta(seconds=60 * (files - i))
            path = folder / start.strftime("%Y%m%d_%H%M%S.mp4")
            path.touch()
            st = path.stat()
            rows.append(
                dict(
                    camera_id=camera_id,
                    path=path.name,
                    start_time=start,
                    end_time=start + timedelta(seconds=60),
                    duration_s=60.0,
                    size_bytes=st.st_size,
                    mtime=st.st_mtime,
                )
            )
        db.session.execute(insert(Segment), rows)
        db.session.commit()
        from webapp.models import Camera

        camera = db.session.get(Camera, camera_id)
        times = []
        for _ in range(6):  # the first run warms the cache and is dropped
            began = time.perf_counter()
            rep = index_camera(camera, root, min_gap_s=3.0, now=time.time() + 3600)
            times.append(time.perf_counter() - began)
            assert not rep.changed, "an unchanged folder must not change anything"
        return statistics.median(times[1:])


def fill_60s(workdir: Path, runs: int) -> float:
    """Median seconds of ``anr worker --once`` filling one pending 60 s gap from the simcam."""
    from webapp.cli.demo import demo_template
    from webapp.devtools.simcam import SimCam

    recordings = Path(tempfile.mkdtemp(dir=workdir, prefix="fill-"))
    app = app_for(f"sqlite:///{workdir / 'fill.db'}", ANR_RECORDINGS_DIR=str(recordings))
    sim = SimCam("127.0.0.1", 0).start()
    times = []
    try:
        with app.app_context():
            db.create_all()
            cam = dataset.add_cameras(1)[0]
            db.session.execute(
                text("UPDATE cameras SET anr_replay_url_template = :t"),
                {"t": demo_template(sim.url, cam)},
            )
            db.session.commit()
            for i in range(runs):
                start = utcnow().replace(microsecond=0) - timedelta(minutes=30 + 2 * i)
                gap = RecordingGap(
                    camera_id=cam,
                    gap_start=start,
                    gap_seconds=60,
                    gap_end=start + timedelta(seconds=60),
                    fill_state="pending",
                )
                db.session.add(gap)
                db.session.commit()
                dataset.recount_stats([cam])
                began = time.perf_counter()
                out = app.test_cli_runner().invoke(args=["anr", "worker", "--once"])
                times.append(time.perf_counter() - began)
                db.session.expire_all()
                state = db.session.get(RecordingGap, gap.id).fill_state
                if state != "filled":
                    raise RuntimeError(f"the fill ended {state}: {out.output[-200:]}")
    finally:
        sim.stop()
    return statistics.median(times)
