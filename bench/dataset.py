"""The benchmark dataset, generated on every run (never committed): cameras, gaps, one user.

Gaps go in straight through the DB driver (``executemany`` on SQLite, ``COPY`` on PostgreSQL)
with the secondary indexes dropped during the load and rebuilt once; the per-camera statistics
the pages read are then rebuilt by the app's own recount, so the app sees a consistent database.
"""

import random
import time
import uuid
from datetime import datetime
from datetime import timedelta
from datetime import timezone

from sqlalchemy import insert

from webapp.domain import gapstate
from webapp.domain.states import ATTENTION
from webapp.domain.states import FILL_STATES
from webapp.extensions import db
from webapp.models import Camera
from webapp.models import RecordingGap

PASSWORD = "bench password 1"
STATES = ("filled",) * 6 + ("pending", "failed", "partial", "expired")
GAP_COLUMNS = (
    "id, camera_id, gap_start, gap_end, gap_seconds, fill_state, fill_attempts, created_at,"
    " manual_retry, last_error, recovered_seconds, queue_at"
)
# The cameras keep the global retention: an automatic gap's claim key is its start plus that.
RETENTION = timedelta(hours=72)
# Gaps are laid out backwards from here, one per 10-minute slot, so the newest are recent.
T_END = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)


def recount_stats(camera_ids: list[str] | None = None) -> None:
    """Rebuild the per-camera statistics with the app's own recount, then commit."""
    gapstate.recount_stats(camera_ids)
    db.session.commit()


def add_cameras(count: int, first: int = 0) -> list[str]:
    """Insert cameras cam00000... (``count`` of them from number ``first``); returns their ids."""
    ids = [f"cam{i:05d}" for i in range(first, first + count)]
    now = datetime.now(timezone.utc)
    rows = [
        dict(
            **_camera_fields(c, i),
            created_at=now,
            updated_at=now,
        )
        for i, c in enumerate(ids)
    ]
    db.session.execute(insert(Camera), rows)
    db.session.commit()
    return ids


def _stamp(value: datetime, dialect: str):
    """A UTC time in the form the database stores it (bypasses per-row type processing)."""
    if dialect == "sqlite":
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    return value.replace(tzinfo=None)


def _gap_rows(camera_ids, per_camera, offset, state, seed, dialect):
    rng = random.Random(seed)
    now = _stamp(datetime.now(timezone.utc), dialect)
    for cam in camera_ids:
        for i in range(offset, offset + per_camera):
            start = T_END - timedelta(seconds=i * 600 + rng.randint(0, 300))
            seconds = rng.randint(5, 600)
            st = state or STATES[rng.randrange(len(STATES))]
            yield (
                str(uuid.uuid4()),
                cam,
                _stamp(start, dialect),
                _stamp(start + timedelta(seconds=seconds), dialect),
                seconds,
                st,
                0 if st == "pending" else 1,
                now,
                False,
                "camera refused" if st == "failed" else None,
                seconds * 0.5 if st == "partial" else None,
                _stamp(start + RETENTION, dialect),
            )


def add_gaps(
    camera_ids: list[str], per_camera: int, offset: int = 0, state: str | None = None, seed=1
) -> float:
    """Bulk-insert ``per_camera`` gaps per camera (random states unless ``state``); seconds."""
    began = time.perf_counter()
    dialect = db.engine.dialect.name
    rows = _gap_rows(camera_ids, per_camera, offset, state, seed, dialect)
    # Building the secondary indexes once after the load beats maintaining them row by row.
    indexes = list(RecordingGap.__table__.indexes)
    bind = db.session.connection()
    for index in indexes:
        index.drop(bind)
    cur = bind.connection.dbapi_connection.cursor()
    if dialect == "postgresql":
        with cur.copy(f"COPY recording_gaps ({GAP_COLUMNS}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        marks = ", ".join(["?"] * len(GAP_COLUMNS.split(",")))
        cur.executemany(f"INSERT INTO recording_gaps ({GAP_COLUMNS}) VALUES ({marks})", rows)
    for index in indexes:
        index.create(bind)
    db.session.commit()
    recount_stats(camera_ids)
    return time.perf_counter() - began


def signed_in_client(app, username: str = "bench"):
    """A test client signed in as an admin created through the ``users create`` command."""
    runner = app.test_cli_runner()
    out = runner.invoke(
        args=["users", "create", username, "--role", "admin", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    if out.exit_code != 0 and "exist" not in out.output:
        raise RuntimeError(f"could not create the bench user: {out.output}")
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = "replenish-bench"
    resp = client.post("/login", data={"username": username, "password": PASSWORD})
    if resp.status_code not in (302, 303):
        raise RuntimeError(f"bench sign-in answered {resp.status_code}")
    return client


def grow_fleet(count: int, first: int, gaps_each: int, seed: int = 7) -> float:
    """Add cameras ``first..first+count`` with ``gaps_each`` gaps each, fast; returns seconds.

    For the fleet figures at 100,000 cameras: cameras, gaps and statistics go in with the
    driver's ``executemany`` (no ORM objects, no per-camera UPDATE), the statistics and the
    fleet order (``newest_gap_start``, ``attention``) worked out from the rows written, the same
    figures ``gapstate.recount_stats`` gives (tests/test_bench_tools.py checks they agree). The
    cameras' secondary indexes are dropped during the load and built once after it; the gaps'
    are kept (a few rows per camera: maintaining them beats rebuilding them over 1M gaps).
    """
    began = time.perf_counter()
    dialect = db.engine.dialect.name
    ids = [f"cam{i:05d}" for i in range(first, first + count)]
    gap_rows = list(_gap_rows(ids, gaps_each, 0, None, seed, dialect))
    stats: dict[tuple[str, str], list[int]] = {}
    newest: dict[str, object] = {}
    for row in gap_rows:
        cam, start, seconds, state = row[1], row[2], row[4], row[5]
        cell = stats.setdefault((cam, state), [0, 0])
        cell[0] += 1
        cell[1] += seconds
        newest[cam] = max(newest.get(cam, start), start)  # stamps sort as times
    now = _stamp(datetime.now(timezone.utc), dialect)
    bind = db.session.connection()
    indexes = list(Camera.__table__.indexes)
    for index in indexes:
        index.drop(bind)
    cameras = [
        dict(
            **_camera_fields(c, i),
            newest_gap_start=newest.get(c),
            attention=_attention(c, stats),
            created_at=now,
            updated_at=now,
        )
        for i, c in enumerate(ids, start=first)
    ]
    cur = bind.connection.dbapi_connection.cursor()
    defaults = _camera_defaults()
    columns = list(defaults) + [k for k in cameras[0] if k not in defaults]
    mark = "%s" if dialect == "postgresql" else "?"
    cur.executemany(
        f"INSERT INTO cameras ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})",
        [tuple({**defaults, **c}[k] for k in columns) for c in cameras],
    )
    marks = ", ".join([mark] * len(GAP_COLUMNS.split(",")))
    cur.executemany(f"INSERT INTO recording_gaps ({GAP_COLUMNS}) VALUES ({marks})", gap_rows)
    cur.executemany(
        "INSERT INTO camera_gap_stats (camera_id, fill_state, gap_count, gap_seconds,"
        f" stopped_count) VALUES ({mark}, {mark}, {mark}, {mark}, 0)",
        [(c, str(s), *stats.get((c, s), (0, 0))) for c in ids for s in FILL_STATES],
    )
    for index in indexes:
        index.create(bind)
    db.session.commit()
    return time.perf_counter() - began


def _attention(camera_id: str, stats: dict) -> int:
    """The fleet attention ``gapstate`` keeps: the worst attention state with a gap (none stopped
    here, and the health check has not run, so no stale mark)."""
    for rank, state in enumerate(ATTENTION):
        if stats.get((camera_id, state), (0,))[0] > 0:
            return len(ATTENTION) + 1 - rank
    return 0


def _camera_defaults() -> dict:
    """The cameras' columns with a plain Python default, and that default (driver inserts)."""
    out = {}
    for column in Camera.__table__.columns:
        default = column.default
        if default is not None and default.is_scalar:
            out[column.name] = default.arg
    return out


def _camera_fields(camera_id: str, i: int) -> dict:
    """The settings every generated camera has (both loaders write the same cameras)."""
    return dict(
        id=camera_id,
        name=f"Camera {camera_id}",
        site=f"Site {i % 20}",
        timezone="Europe/Berlin",
        address="127.0.0.1",
        anr_enabled=True,
        anr_replay_url_template="http://127.0.0.1:9/replay?s={start_iso}",
    )
