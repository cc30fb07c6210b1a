"""Bulk-load the benchmark dataset: cameras and gaps straight through the DB driver."""

import random
import time
import uuid
from datetime import datetime
from datetime import timedelta
from datetime import timezone

from sqlalchemy import insert

from webapp import gapstate
from webapp.extensions import db
from webapp.models import Camera
from webapp.models import RecordingGap

STATES = ("filled",) * 6 + ("pending", "failed", "partial", "expired")
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def add_cameras(count: int) -> list[str]:
    """Insert ``count`` cameras (ids cam0000...) with their statistic rows."""
    ids = [f"cam{i:04d}" for i in range(count)]
    now = datetime.now(timezone.utc)
    db.session.execute(
        insert(Camera),
        [
            dict(
                id=c,
                name=f"Camera {c}",
                site=f"Site {i % 20}",
                timezone="Europe/Berlin",
                vendor="generic",
                address="127.0.0.1",
                rtsp_port=554,
                http_port=80,
                username="",
                password_encrypted="",
                channel=1,
                anr_enabled=True,
                anr_replay_url_template="http://127.0.0.1:9/replay?s={start_iso}",
                segment_seconds=60,
                enabled=True,
                created_at=now,
                updated_at=now,
            )
            for i, c in enumerate(ids)
        ],
    )
    db.session.commit()
    return ids


def _stamp(value: datetime, dialect: str):
    """A UTC time in the form the database stores it (bypasses per-row type processing)."""
    if dialect == "sqlite":
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    return value.replace(tzinfo=None)


def add_gaps(camera_ids: list[str], per_camera: int, offset: int = 0, seed: int = 1) -> float:
    """Insert ``per_camera`` gaps for each camera through the raw driver; returns seconds."""
    rng = random.Random(seed)
    began = time.perf_counter()
    dialect = db.engine.dialect.name
    now = _stamp(datetime.now(timezone.utc), dialect)
    marks = ", ".join(["?" if dialect == "sqlite" else "%s"] * 12)
    sql = (
        "INSERT INTO recording_gaps (id, camera_id, gap_start, gap_end, gap_seconds, fill_state,"
        " fill_attempts, created_at, manual_retry, last_error, recovered_seconds, queue_at)"
        f" VALUES ({marks})"
    )
    retention = timedelta(hours=72)  # the cameras keep the global retention: the claim key
    # Building the secondary indexes once after the load beats maintaining them row by row.
    indexes = list(RecordingGap.__table__.indexes)
    bind = db.session.connection()
    for index in indexes:
        index.drop(bind)
    conn = db.session.connection().connection.dbapi_connection
    cur = conn.cursor()
    batch = []
    for cam in camera_ids:
        for i in range(offset, offset + per_camera):
            start = T0 + timedelta(seconds=i * 600 + rng.randint(0, 300))
            seconds = rng.randint(5, 600)
            state = STATES[rng.randrange(len(STATES))]
            batch.append(
                (
                    str(uuid.uuid4()),
                    cam,
                    _stamp(start, dialect),
                    _stamp(start + timedelta(seconds=seconds), dialect),
                    seconds,
                    state,
                    0 if state == "pending" else 1,
                    now,
                    False,
                    "camera refused" if state == "failed" else None,
                    seconds * 0.5 if state == "partial" else None,
                    _stamp(start + retention, dialect),
                )
            )
            if len(batch) >= 50000:
                cur.executemany(sql, batch)
                batch.clear()
    if batch:
        cur.executemany(sql, batch)
    for index in indexes:
        index.create(bind)
    db.session.commit()
    gapstate.recount_stats()
    db.session.commit()
    return time.perf_counter() - began
