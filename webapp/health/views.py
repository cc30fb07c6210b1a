"""Liveness, readiness and Prometheus metrics.

``/metrics`` is written by ``prometheus_client``: the numbers come from the database at scrape
time (one collector, ``FleetCollector``), so every web process answers the same. Under gunicorn
with ``PROMETHEUS_MULTIPROC_DIR`` set, the registry also gathers what each worker process
recorded there (the library's multiprocess mode); without it, a plain registry.
"""

import math
import os

from flask import Blueprint
from flask import current_app
from flask import jsonify
from flask_login import current_user
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client import CollectorRegistry
from prometheus_client import generate_latest
from prometheus_client import multiprocess
from prometheus_client.core import CounterMetricFamily
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import case
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import text

from ..domain.principal import can
from ..domain.states import FILL_STATES
from ..errors import Problem
from ..extensions import db
from ..models import CameraGapStat
from ..models import FillRun
from ..models import WorkerHeartbeat
from ..models import utcnow

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """Liveness: the process answers. No auth, no details."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    """Readiness: the database answers; reports the age of the newest worker heartbeat."""
    try:
        db.session.execute(text("SELECT 1"))
        seen = db.session.execute(select(func.max(WorkerHeartbeat.seen_at))).scalar()
    except Exception:  # any database failure means not ready
        db.session.rollback()
        return jsonify({"status": "unavailable", "database": "unreachable"}), 503
    age = round((utcnow() - seen).total_seconds(), 1) if seen else None
    return jsonify({"status": "ok", "database": "ok", "worker_heartbeat_age_s": age})


FILL_BUCKETS = (5, 15, 30, 60, 120, 300, 600, 1800, 3600)


class FleetCollector(Collector):
    """Gaps by state, fills by outcome, fill durations, the worker heartbeat: from the database."""

    def collect(self):
        gaps = GaugeMetricFamily(
            "replenish_gaps", "Recording gaps by fill state.", labels=["state"]
        )
        counts = dict.fromkeys(FILL_STATES, 0)
        for state, n in db.session.execute(
            select(CameraGapStat.fill_state, func.sum(CameraGapStat.gap_count)).group_by(
                CameraGapStat.fill_state
            )
        ):
            counts[state] = int(n or 0)
        for state, n in counts.items():
            gaps.add_metric([state], n)
        yield gaps
        fills = CounterMetricFamily(
            "replenish_fills", "Fill attempts by outcome.", labels=["outcome"]
        )
        for outcome, n in db.session.execute(
            select(FillRun.outcome, func.count())
            .where(FillRun.outcome.is_not(None))
            .group_by(FillRun.outcome)
        ):
            fills.add_metric([outcome], n)
        yield fills
        # The histogram is counted by the database: fill_runs only grows.
        buckets = db.session.execute(
            select(
                *(func.sum(case((FillRun.duration_s <= b, 1), else_=0)) for b in FILL_BUCKETS),
                func.count(),
                func.coalesce(func.sum(FillRun.duration_s), 0.0),
            ).where(FillRun.duration_s.is_not(None))
        ).one()
        *below, total, seconds = buckets
        yield HistogramMetricFamily(
            "replenish_fill_duration_seconds",
            "Wall time of finished fills.",
            buckets=[(str(b), int(n or 0)) for b, n in zip(FILL_BUCKETS, below, strict=True)]
            + [("+Inf", int(total))],
            sum_value=round(float(seconds), 3),
        )
        seen = db.session.execute(select(func.max(WorkerHeartbeat.seen_at))).scalar()
        age = round((utcnow() - seen).total_seconds(), 1) if seen else math.nan
        yield GaugeMetricFamily(
            "replenish_worker_heartbeat_age_seconds",
            "Seconds since the newest worker heartbeat.",
            value=age,
        )


def registry() -> CollectorRegistry:
    """This scrape's registry: the fleet collector, plus gunicorn workers' files if configured."""
    reg = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(reg)
    reg.register(FleetCollector())
    return reg


@bp.get("/metrics")
def metrics():
    """Prometheus text: gaps by state, fills by outcome, fill durations, worker heartbeat."""
    if not current_app.config.get("METRICS_PUBLIC"):
        if not current_user.is_authenticated:
            raise Problem(401, "metrics need an admin or integration API key")
        # The acting role (an embed session of an admin acts at most as its key's ceiling) must
        # carry the capability; fleet-wide totals are refused to a principal limited to cameras.
        if not can(current_user, "read_metrics") or current_user.scope is not None:
            raise Problem(403, "metrics need an unscoped admin or integration key")
    return generate_latest(registry()), 200, {"Content-Type": CONTENT_TYPE_PLAIN_0_0_4}
