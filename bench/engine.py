"""Engine figures: worker claims per second with a no-op fill, and the indexer's rescan."""

import multiprocessing
import os
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy import insert
from sqlalchemy import text

from bench import dataset
from webapp import create_app
from webapp import gapstate
from webapp.config import normalise_database_url
from webapp.extensions import db
from webapp.models import Segment
from webapp.models import utcnow

QUEUE_CAMERAS = 200
QUEUE_GAPS_PER_CAMERA = 40
CLAIM_SECONDS = 8.0
PG_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/replenish_bench"
)


def _app(url: str):
    return create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})


def _load_queue(url: str) -> None:
    app = _app(url)
    with app.app_context():
        db.drop_all()
        db.create_all()
        cams = dataset.add_cameras(QUEUE_CAMERAS)
        dataset.add_gaps(cams, QUEUE_GAPS_PER_CAMERA)
        # Everything pending and recent, so nothing expires and every gap is claimable.
        db.session.execute(text("UPDATE recording_gaps SET fill_state = 'pending'"))
        gapstate.recount_stats()
        db.session.commit()
        db.engine.dispose()


def claim_loop(url: str, worker_id: str, seconds: float, result) -> None:
    """Claim and finish gaps with a no-op fill for ``seconds``; put the claim count in result."""
    from webapp.anr import queue

    app = _app(url)
    claimed = 0
    with app.app_context():
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            gaps = queue.claim(worker_id, 4, per_camera=1, lease_seconds=60)
            db.session.commit()
            if not gaps:
                break
            now = utcnow()
            for gap in gaps:
                gapstate.change_state(
                    gap, "filled", filled_at=now, recovered_seconds=float(gap.gap_seconds)
                )
            db.session.commit()
            claimed += len(gaps)
        db.engine.dispose()
    result.put(claimed)


def _claims_per_second(url: str, workers: int) -> float:
    _load_queue(url)
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    procs = [
        ctx.Process(target=claim_loop, args=(url, f"bench-{i}", CLAIM_SECONDS, results))
        for i in range(workers)
    ]
    began = time.perf_counter()
    for p in procs:
        p.start()
    total = sum(results.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(30)
    return total / (time.perf_counter() - began)


def _postgres_ready() -> bool:
    base, _, name = PG_URL.rpartition("/")
    try:
        admin = create_engine(
            normalise_database_url(f"{base}/postgres"), isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
            ).scalar()
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        return True
    except Exception as exc:  # no server: the PostgreSQL figures are skipped, not faked
        print(f"  (PostgreSQL not reachable at {PG_URL}: {exc.__class__.__name__})")
        return False


def bench_indexer(workdir: Path, files: int, report) -> None:
    """Rescan of an unchanged folder of ``files`` segment files (stat only, no probing)."""
    from webapp.anr.indexer import index_camera

    root = workdir / "recordings"
    folder = root / "cam0000"
    folder.mkdir(parents=True)
    url = f"sqlite:///{workdir / 'indexer.db'}"
    app = _app(url)
    with app.app_context():
        db.create_all()
        dataset.add_cameras(1)
        t0 = dataset.T0
        rows = []
        for i in range(files):
            start = t0 + timedelta(seconds=60 * i)
            path = folder / start.strftime("%Y%m%d_%H%M%S.mp4")
            path.touch()
            st = path.stat()
            rows.append(
                dict(
                    camera_id="cam0000",
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

        camera = db.session.get(Camera, "cam0000")
        index_camera(camera, root, min_gap_s=3.0, now=time.time() + 3600)  # warm the cache
        times = []
        for _ in range(5):
            began = time.perf_counter()
            rep = index_camera(camera, root, min_gap_s=3.0, now=time.time() + 3600)
            times.append(time.perf_counter() - began)
            assert not rep.changed, "an unchanged folder must not change anything"
        times.sort()
        report(
            f"indexer: rescan of an unchanged folder of {files:,} files",
            f"{times[len(times) // 2] * 1000:.0f} ms",
            "(stat only, no probe)",
        )


def run(args, workdir: Path, report) -> None:
    """Measure the ANR queue on SQLite and PostgreSQL, and the indexer."""
    sqlite_rate = _claims_per_second(f"sqlite:///{workdir / 'queue.db'}", 1)
    report("worker queue, SQLite, 1 worker, no-op fill", f"{sqlite_rate:.0f} claims/s")
    if _postgres_ready():
        one = _claims_per_second(PG_URL, 1)
        four = _claims_per_second(PG_URL, 4)
        report("worker queue, PostgreSQL, 1 worker, no-op fill", f"{one:.0f} claims/s")
        report(
            "worker queue, PostgreSQL, 4 workers, no-op fill",
            f"{four:.0f} claims/s",
            f"speed-up {four / one:.2f}x",
        )
    bench_indexer(workdir, 10_000 if args.quick else 100_000, report)
