"""Bulk jobs: work too long for a request (a bulk retry of many gaps), run by the ANR worker.

A job is a ``jobs`` row (kind, filter, who asked, total, done, state). The request only adds the
row and answers 202; the worker claims it like a gap (a compare-and-set on its state and lease,
so two workers never run one job) and does one batch per loop turn, each batch committed with the
job's ``done`` count and a renewed lease, so ``GET /api/v1/jobs/{id}`` shows progress and a job
cut off by a restart (of the web app or the worker) is picked up where it stopped when its lease
runs out. At most one job per kind, camera and filter is queued or running: the unique
``active_key`` refuses a second row, and the second request gets the running job back.
See docs/design.md, "Bulk jobs".
"""

import hashlib
import json
import logging
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..extensions import rows_matched
from ..masking import mask_credentials
from ..models import Job
from ..models import utcnow

log = logging.getLogger(__name__)

ACTIVE = ("queued", "running")
# A batch does this much work and returns how much (0: nothing left); see ``register``.
Runner = Callable[[Job], int]
_RUNNERS: dict[str, Runner] = {}


def register(kind: str, runner: Runner) -> None:
    """Name the function that does ONE batch of a kind of job and returns how much it moved."""
    _RUNNERS[kind] = runner


def active_key(kind: str, camera_id: str | None, params: dict) -> str:
    """The name of a job's kind, camera and filter: equal for identical requests."""
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:32]
    return f"{kind}:{camera_id or '*'}:{digest}"


def running(kind: str, camera_id: str | None, params: dict) -> Job | None:
    """The queued or running job of this kind, camera and filter, if any."""
    key = active_key(kind, camera_id, params)
    return db.session.execute(select(Job).where(Job.active_key == key)).scalar_one_or_none()


def start_once(
    kind: str, camera_id: str | None, params: dict, total: int, actor
) -> tuple[Job, bool]:
    """Add a queued job for the worker, or find the identical one already queued or running.

    Returns (job, created). The insert runs in a savepoint: when a concurrent identical request
    wins the unique ``active_key``, this one gets that job back and starts nothing. The actor's
    name goes on the row, so every gap the job moves keeps who asked. The caller commits.
    """
    key = active_key(kind, camera_id, params)
    for _ in range(3):  # the winner may finish between our insert and our look: bounded
        existing = db.session.execute(select(Job).where(Job.active_key == key)).scalar_one_or_none()
        if existing is not None:
            return existing, False
        job = Job(
            kind=kind,
            camera_id=camera_id,
            params=params,
            active_key=key,
            requested_by=(actor.actor_name or "system")[:200],
            total=total,
            state="queued",
        )
        try:
            with db.session.begin_nested():
                db.session.add(job)
        except IntegrityError:
            continue  # an identical request won the race: return its job
        return job, True
    raise RuntimeError(f"job {key}: could neither add nor find it")


def claim(worker_id: str, lease_seconds: float) -> str | None:
    """Claim the oldest queued job, or a running one whose worker's lease ran out; its id."""
    now = utcnow()
    claimable = or_(Job.state == "queued", (Job.state == "running") & (Job.lease_until < now))
    candidates = db.session.execute(
        select(Job.id).where(claimable).order_by(Job.created_at).limit(5)
    ).scalars()
    for job_id in list(candidates):
        result = db.session.execute(
            update(Job)
            .where(Job.id == job_id, claimable)
            .values(
                state="running",
                claimed_by=worker_id,
                lease_until=now + timedelta(seconds=lease_seconds),
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        won = rows_matched(result) == 1
        db.session.commit()
        if won:
            log.info("job %s claimed by %s", job_id, worker_id)
            return job_id
    return None


def work_batch(job_id: str, worker_id: str, lease_seconds: float) -> bool:
    """Do one batch of a claimed job and commit it with its progress; True while more is left.

    The lease is renewed first with a compare-and-set on ``claimed_by``: a worker that lost the
    job (its lease ran out and another claimed it) stops without touching it.
    """
    now = utcnow()
    renewed = db.session.execute(
        update(Job)
        .where(Job.id == job_id, Job.claimed_by == worker_id, Job.state == "running")
        .values(lease_until=now + timedelta(seconds=lease_seconds), updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if rows_matched(renewed) != 1:
        db.session.rollback()
        return False
    job = db.session.get(Job, job_id, populate_existing=True)
    if job is None:  # deleted with its camera
        db.session.rollback()
        return False
    try:
        moved = _RUNNERS[job.kind](job) if job.done < job.total else 0
        job.done += moved
        job.updated_at = utcnow()
        if not moved:
            _end(job, "done")
        db.session.commit()
        return bool(moved)
    except Exception as exc:  # the job records why it stopped; nothing may kill the worker
        log.exception("job %s (%s) failed", job_id, job.kind)
        db.session.rollback()
        job = db.session.get(Job, job_id)
        if job is not None and job.claimed_by == worker_id:
            _end(job, "failed", mask_credentials(str(exc))[:1000])
            db.session.commit()
        return False


def _end(job: Job, state: str, error: str | None = None) -> None:
    job.state = state
    job.error = error
    job.active_key = None  # an identical request may start a new job from now on
    job.claimed_by = job.lease_until = None
    job.finished_at = job.updated_at = utcnow()


def release(job_id: str, worker_id: str) -> None:
    """Give a claimed job back to the queue (worker shutdown); its batches so far stay done."""
    db.session.execute(
        update(Job)
        .where(Job.id == job_id, Job.claimed_by == worker_id, Job.state == "running")
        .values(state="queued", claimed_by=None, lease_until=None, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def visible_job(job_id: str, principal) -> Job | None:
    """The job if the principal may see it (every camera it names in scope); None otherwise."""
    job = db.session.get(Job, job_id[:64])
    if job is None:
        return None
    cameras = [job.camera_id] if job.camera_id else list((job.params or {}).get("camera_ids", []))
    if not all(principal.in_scope(c) for c in cameras):
        return None
    return job
