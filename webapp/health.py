"""Liveness, readiness and Prometheus metrics."""

from flask import Blueprint
from flask import current_app
from flask import jsonify
from flask_login import current_user
from sqlalchemy import case
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import text

from .domain.states import FILL_STATES
from .errors import Problem
from .extensions import db
from .models import CameraGapStat
from .models import FillRun
from .models import WorkerHeartbeat
from .models import utcnow

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


@bp.get("/metrics")
def metrics():
    """Prometheus text: gaps by state, fills by outcome, fill durations, worker heartbeat."""
    if not current_app.config.get("METRICS_PUBLIC"):
        if not current_user.is_authenticated:
            raise Problem(401, "metrics need an admin or integration API key")
        # The acting role: an embed session of an admin acts at most as its key's ceiling.
        role = getattr(current_user, "acting_role", current_user.role)
        if role not in ("admin", "integration") or current_user.scope is not None:
            # Fleet-wide totals: a principal limited to some cameras may not read them.
            raise Problem(403, "metrics need an unscoped admin or integration key")
    lines = [
        "# HELP replenish_gaps Recording gaps by fill state.",
        "# TYPE replenish_gaps gauge",
    ]
    counts = dict.fromkeys(FILL_STATES, 0)
    for state, n in db.session.execute(
        select(CameraGapStat.fill_state, func.sum(CameraGapStat.gap_count)).group_by(
            CameraGapStat.fill_state
        )
    ):
        counts[state] = int(n or 0)
    lines += [f'replenish_gaps{{state="{s}"}} {n}' for s, n in counts.items()]
    lines += [
        "# HELP replenish_fills_total Fill attempts by outcome.",
        "# TYPE replenish_fills_total counter",
    ]
    for outcome, n in db.session.execute(
        select(FillRun.outcome, func.count())
        .where(FillRun.outcome.is_not(None))
        .group_by(FillRun.outcome)
    ):
        lines.append(f'replenish_fills_total{{outcome="{outcome}"}} {n}')
    # The histogram is counted by the database: fill_runs only grows.
    done = FillRun.duration_s.is_not(None)
    buckets = db.session.execute(
        select(
            *(func.sum(case((FillRun.duration_s <= b, 1), else_=0)) for b in FILL_BUCKETS),
            func.count(),
            func.coalesce(func.sum(FillRun.duration_s), 0.0),
        ).where(done)
    ).one()
    *below, total, seconds = buckets
    lines += [
        "# HELP replenish_fill_duration_seconds Wall time of finished fills.",
        "# TYPE replenish_fill_duration_seconds histogram",
    ]
    for bound, n in zip(FILL_BUCKETS, below, strict=True):
        lines.append(f'replenish_fill_duration_seconds_bucket{{le="{bound}"}} {int(n or 0)}')
    lines.append(f'replenish_fill_duration_seconds_bucket{{le="+Inf"}} {total}')
    lines.append(f"replenish_fill_duration_seconds_sum {float(seconds):.3f}")
    lines.append(f"replenish_fill_duration_seconds_count {total}")
    seen = db.session.execute(select(func.max(WorkerHeartbeat.seen_at))).scalar()
    lines += [
        "# HELP replenish_worker_heartbeat_age_seconds Seconds since the newest worker heartbeat.",
        "# TYPE replenish_worker_heartbeat_age_seconds gauge",
        f"replenish_worker_heartbeat_age_seconds {(utcnow() - seen).total_seconds():.1f}"
        if seen
        else "replenish_worker_heartbeat_age_seconds NaN",
    ]
    return "\n".join(lines) + "\n", 200, {"Content-Type": "text/plain; version=0.0.4"}
