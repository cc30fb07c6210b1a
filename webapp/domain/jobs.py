"""Background jobs: work too long for a request (a bulk retry of many gaps), with visible progress.

A job is a ``jobs`` row (kind, camera, who asked, total, done, state) and a thread of the web
process with its own app context. A thread rather than the ANR worker loop: the request must
answer at once, and the worker may run on another machine, or not at all in a small set-up. Each
batch commits with the job's ``done`` count, so ``GET /api/v1/jobs/{id}`` shows progress. A job
cut off by a restart stays ``running`` with an old ``updated_at``; its work is idempotent, so the
same request again (which starts a new job when none has moved for ``STALE_AFTER``) finishes it.
"""

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from flask import current_app
from flask import has_request_context
from flask_login import current_user
from sqlalchemy import select

from ..extensions import db
from ..masking import mask_credentials
from ..models import Job
from ..models import utcnow

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(minutes=2)
_RUNNERS: dict[str, Callable[[Job], None]] = {}


def register(kind: str, runner: Callable[[Job], None]) -> None:
    """Name the function that does a kind of job's work (it calls ``progress`` per batch)."""
    _RUNNERS[kind] = runner


def running(kind: str, camera_id: str | None) -> Job | None:
    """A queued or running job of this kind and camera that is still moving, if any."""
    return db.session.execute(
        select(Job)
        .where(
            Job.kind == kind,
            Job.camera_id == camera_id,
            Job.state.in_(("queued", "running")),
            Job.updated_at > utcnow() - STALE_AFTER,
        )
        .limit(1)
    ).scalar_one_or_none()


def create(kind: str, camera_id: str | None, total: int) -> Job:
    """Add a queued job (the caller commits, then calls ``start``)."""
    signed_in = has_request_context() and current_user.is_authenticated
    who = current_user.actor_name if signed_in else "system"
    job = Job(kind=kind, camera_id=camera_id, requested_by=who, total=total, state="queued")
    db.session.add(job)
    db.session.flush()
    return job


def start(job_id: str) -> threading.Thread:
    """Run a committed job in a background thread with its own app context."""
    app = current_app._get_current_object()
    thread = threading.Thread(target=_run, args=(app, job_id), name=f"job-{job_id}", daemon=True)
    thread.start()
    return thread


def progress(job: Job, moved: int) -> None:
    """Count a finished batch and commit it together with the batch's changes."""
    job.done += moved
    job.updated_at = utcnow()
    db.session.commit()


def _run(app, job_id: str) -> None:
    with app.app_context():
        job = db.session.get(Job, job_id)
        if job is None:
            return
        try:
            job.state = "running"
            job.updated_at = utcnow()
            db.session.commit()
            _RUNNERS[job.kind](job)
            job.state = "done"
        except Exception as exc:  # the job records why it stopped; nothing may kill the process
            log.exception("job %s (%s) failed", job_id, job.kind)
            db.session.rollback()
            job = db.session.get(Job, job_id)
            job.state = "failed"
            job.error = mask_credentials(str(exc))[:1000]
        job.finished_at = job.updated_at = utcnow()
        db.session.commit()
        db.session.remove()


def visible_job(job_id: str, principal) -> Job | None:
    """The job if the principal may see it (its camera in scope); None otherwise."""
    job = db.session.get(Job, job_id[:64])
    if job is None or (job.camera_id is not None and not principal.in_scope(job.camera_id)):
        return None
    return job
