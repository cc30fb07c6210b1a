"""The ANR worker: sweeps the queue, claims gaps, runs their fills and records how each ended.

One thread does all database work; ffmpeg children run beside it and are polled. Bulk jobs
(``domain/jobs.py``) are claimed here too and done one batch per loop turn between polls. A
shutdown request (SIGTERM/SIGINT) stops claiming, ends the children, removes their ``.part``
files, returns their gaps to the queue without counting the attempt and gives back its job.
"""

import logging
import os
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from dataclasses import replace
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from typing import TypedDict

from flask import Flask
from sqlalchemy import bindparam
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update

from ..crypto import decrypt_secret
from ..domain import alerts
from ..domain import fill_runs
from ..domain import gapstate
from ..domain import jobs as bulk_jobs
from ..domain import recording_health
from ..domain.segments import add_segment
from ..domain.states import GapState
from ..extensions import db
from ..masking import camera_text
from ..masking import secret_forms
from ..models import Camera
from ..models import RecordingGap
from ..models import Segment
from ..models import WorkerHeartbeat
from ..models import utcnow
from . import claims as queue
from .download import DownloadJob
from .edge import CardCache
from .edge import EdgeFill
from .fill import FillJob
from .fill import FillResult
from .fill import remove_stale_parts
from .indexer import segment_for
from .onvif_replay import SYSTEM_PYTHON
from .onvif_replay import OnvifReplayJob
from .onvif_replay import gstreamer_problem
from .onvif_replay import with_credentials
from .phases import Phases
from .replay import ReplayUrlError
from .replay import camera_replay_url
from .vendors import client_for
from .vendors.base import to_utc
from .vendors.onvif import OnvifClient
from .webhooks import Sender

log = logging.getLogger(__name__)

POLL_S = 0.5
# The camera page's "card holds footage from" is refreshed at most this often; in between, a
# window the card holds whole needs only the one search.
CARD_REFRESH_S = 300
# A camera's gaps this close to one another are one outage: its card is asked about all of them
# at once (at most OUTAGE_WINDOW long), and the answer serves each (``CardCache``).
OUTAGE_GAP = timedelta(hours=1)
OUTAGE_WINDOW = timedelta(hours=24)
HEARTBEAT_S = 5.0
JOB_CLAIM_S = 2.0  # how often an idle worker looks for a queued bulk job
# The recording-health check (every camera's newest footage against ANR_STALE_MINUTES) runs
# with the sweep, but at most this often: a short ANR_INTERVAL_S must not run it several times
# a second over the whole fleet. Its limit is minutes, so seconds of lag change nothing.
HEALTH_CHECK_S = 5.0
# Expiry and lost-lease recovery run with the sweep too, at most this often: a lease lasts tens of
# seconds and retention hours, so a second of lag changes nothing, while a sweep every
# ANR_INTERVAL_S (0.2 s in a busy outage) spent the worker thread's time between fills on them.
UPKEEP_S = 1.0
# While the worker runs, a thread doing Python work (claims, database) hands the GIL over after
# this long instead of CPython's 5 ms: a download thread whose bytes arrived (or whose pipe has
# room) waits at most this long, many times per download, instead of 5 ms each time.
SWITCH_INTERVAL_S = 0.0005

# The statements of every fill, built once (building one costs more than running it here).
_CARD_ANSWERED = (
    update(Camera.__table__)
    .where(Camera.__table__.c.id == bindparam("camera_id"))
    .values(card_holds_from=bindparam("oldest"), card_checked_at=bindparam("now"))
)
# The span and number of a camera's open gaps near one gap (``Worker.outage_window``).
_OUTAGE_AROUND = select(
    func.min(RecordingGap.gap_start), func.max(RecordingGap.gap_end), func.count()
).where(
    RecordingGap.camera_id == bindparam("camera_id"),
    RecordingGap.fill_state.in_((GapState.PENDING, GapState.FILLING)),
    RecordingGap.gap_end >= bindparam("ends_after"),
    RecordingGap.gap_start <= bindparam("starts_before"),
)
_SEGMENT_EXISTS = select(Segment.id).where(
    Segment.camera_id == bindparam("camera_id"), Segment.path == bindparam("path")
)


@dataclass
class Running:
    """A fill in progress and its FillRun row."""

    job: EdgeFill
    run_id: int
    camera_id: str
    began: float
    # Set when an operator's Stop reached this worker: the fill ends keeping what it copied.
    stop_by: str | None = None


class _JobSettings(TypedDict):
    """What the replay and the download job of one gap both take from the worker."""

    gap_id: str
    folder: Path
    secrets: tuple[str, ...]
    ffmpeg: str
    io_timeout_s: float
    max_fill_seconds: float


def new_worker_id() -> str:
    """Host, pid and a random tail: unique across machines and restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    """``run()`` works the queue until asked to stop (or once, with ``once=True``)."""

    def __init__(self, app: Flask, worker_id: str | None = None):
        self.app = app
        self.config = app.config
        self.worker_id = worker_id or new_worker_id()
        self.jobs: dict[str, Running] = {}
        self.stopping = threading.Event()
        self.sender = Sender(app)
        self._next_sweep = 0.0
        self._next_health = 0.0
        self._next_upkeep = 0.0
        self._next_heartbeat = 0.0
        self._renew_every = max(min(1.0, self.lease_seconds / 4), 0.1)
        self._next_renew = 0.0
        self._more_waiting = False
        self._claim_now = False  # a slot freed while more gaps wait: claim without a sweep
        self.bulk_job: str | None = None  # the id of the bulk job this worker holds
        self._next_job_claim = 0.0
        self._job_claims = 0
        # Set by fills running in threads (a card check or a download ended): poll now.
        self.wake = threading.Event()
        # Download fills beyond this wait for a slot (their claim and lease still hold).
        self.download_slots = threading.Semaphore(
            max(int(app.config.get("ANR_DOWNLOAD_CONCURRENCY") or 1), 1)
        )
        # Where the fills' time went, summed over every fill this worker finished (and its
        # sweeps and claims as ``claim``); the site-outage bench prints it.
        self.phase_totals = Phases()
        self.fills_timed = 0
        self.card_cache = CardCache()

    @property
    def lease_seconds(self) -> float:
        """How long a claim holds without renewal."""
        return float(self.config["ANR_LEASE_SECONDS"])

    def request_shutdown(self, *_signal_args) -> None:
        """Signal handler: finish the current step, then shut down cleanly."""
        self.stopping.set()
        self.wake.set()

    def run(self, once: bool = False) -> int:
        """Work the queue; with ``once``, one sweep and claim, then wait for those fills."""
        switch = sys.getswitchinterval()
        sys.setswitchinterval(min(switch, SWITCH_INTERVAL_S))
        try:
            with self.app.app_context():
                self.beat()
                self.sender.start()
                log.info("ANR worker %s started", self.worker_id)
                try:
                    self._loop(once)
                finally:
                    self.shutdown()
        finally:
            sys.setswitchinterval(switch)
        return 0

    def _loop(self, once: bool) -> None:
        swept = False
        while not self.stopping.is_set():
            self.wake.clear()  # before the step: a job ending during it wakes the next wait
            now = time.monotonic()
            try:
                if now >= self._next_sweep and not (once and swept):
                    swept = True
                    self._claim_now = False
                    self._next_sweep = now + float(self.config["ANR_INTERVAL_S"])
                    health = now >= self._next_health
                    if health:
                        self._next_health = now + HEALTH_CHECK_S
                    upkeep = now >= self._next_upkeep
                    if upkeep:
                        self._next_upkeep = now + UPKEEP_S
                    self.sweep_and_claim(health=health, upkeep=upkeep)
                elif self._claim_now and not once:
                    self._claim_now = False
                    self.claim_free_slots()
                self.poll()
                self.work_bulk_job(claim=not (once and self._job_claims))
                if now >= self._next_heartbeat:
                    self.beat()
            except Exception:
                # A busy or briefly unreachable database must not end the worker.
                db.session.rollback()
                log.exception("ANR worker step failed; trying again")
            if once and swept and not self.jobs and self.bulk_job is None:
                return
            if self.bulk_job is None:  # with a job, the next batch follows at once
                self.wake.wait(POLL_S)

    # --- bulk jobs ------------------------------------------------------------------------
    def work_bulk_job(self, claim: bool = True) -> None:
        """Claim a queued bulk job when idle (every ``JOB_CLAIM_S``), then do one batch of it."""
        if self.bulk_job is None and claim and not self.stopping.is_set():
            if time.monotonic() >= self._next_job_claim:
                self._next_job_claim = time.monotonic() + JOB_CLAIM_S
                self._job_claims += 1
                self.bulk_job = bulk_jobs.claim(self.worker_id, self.lease_seconds)
        if self.bulk_job is not None and not self.stopping.is_set():
            if not bulk_jobs.work_batch(self.bulk_job, self.worker_id, self.lease_seconds):
                self.bulk_job = None
                self._next_job_claim = 0.0  # another may be waiting

    # --- queue ----------------------------------------------------------------------------
    def sweep_and_claim(self, health: bool = True, upkeep: bool = True) -> list[str]:
        """Expire old gaps, take back lost leases, claim what the free slots allow and start;
        with ``health``, check every camera's recording status too (the loop does that at most
        every ``HEALTH_CHECK_S``); ``upkeep`` False skips expiry and lost leases (the loop runs
        them at most every ``UPKEEP_S``)."""
        with self.phase_totals.timed("sweep"):
            self._sweep(health, upkeep)
        with self.phase_totals.timed("claim"):
            return self._claim()

    def _sweep(self, health: bool = True, upkeep: bool = True) -> None:
        cfg = self.config
        changed: list[RecordingGap] = []
        reclaimed: list[RecordingGap] = []
        if upkeep:  # expiry and lost leases (at most every UPKEEP_S from the loop)
            changed = queue.expire_old(float(cfg["ANR_MAX_GAP_HOURS"]))
            reclaimed = queue.reclaim_lost_leases(int(cfg["ANR_MAX_ATTEMPTS"]))
        for gap in reclaimed:
            # The dead worker's ffmpeg died with it (parent-death signal); its .part is garbage.
            folder = Path(cfg["ANR_RECORDINGS_DIR"]) / gap.camera_id
            for path in remove_stale_parts(folder, gap.gap_start, gap.gap_end):
                log.info("gap %s: removed %s left by a lost worker", gap.id, path.name)
        changed += reclaimed
        alerts.gaps_changed(changed)
        if health:
            self.check_recording_health()
        db.session.commit()
        self.sender.poke()

    def claim_free_slots(self) -> list[str]:
        """Claim for the slots fills just freed, without the sweep's expiry, lease and health
        work (those follow at the next interval): the next gap starts in milliseconds."""
        with self.phase_totals.timed("claim"):
            return self._claim()

    def _claim(self) -> list[str]:
        cfg = self.config
        if self.stopping.is_set():
            return []
        free = int(cfg["ANR_CONCURRENCY"]) - len(self.jobs)
        cameras: dict[str, Camera] = {}  # the claim's camera rows, held for the jobs
        claimed = queue.claim(
            self.worker_id,
            free,
            per_camera=int(cfg["ANR_PER_CAMERA"]),
            lease_seconds=self.lease_seconds,
            fill_window=cfg.get("ANR_FILL_WINDOW", ""),
            cameras=cameras,
        )
        # Every free slot taken: more gaps likely wait, so a slot that frees claims at once
        # instead of idling until the next interval (download fills end in seconds). With no
        # slot free nothing was learnt: a sweep while every slot runs keeps what the last claim
        # found (clearing it there left most freed slots idle until the next sweep).
        if free > 0:
            self._more_waiting = len(claimed) == free
        runs = [fill_runs.open_run(gap, self.worker_id) for gap in claimed]
        db.session.flush()  # the runs' ids
        # Each job is built from its rows as the claim read them: after the commit they would
        # be read again, three queries a fill.
        planned = [
            (gap.id, run.id, gap.camera_id, self._plan(gap, cameras.get(gap.camera_id)))
            for gap, run in zip(claimed, runs, strict=True)
        ]
        db.session.commit()
        for gap_id, run_id, camera_id, job in planned:
            if job is None:
                self.start_fill(gap_id, run_id)
            else:
                self._start(job, run_id, camera_id)
        return [gap_id for gap_id, *_ in planned]

    def check_recording_health(self) -> None:
        """Store each camera's recording status; a change queues camera.stale / recovered."""
        limit = recording_health.stale_after(self.config)
        for change in recording_health.check_transitions(utcnow(), limit):
            log.info(
                "camera %s: recording status %s -> %s",
                change.camera.id,
                change.before or "unknown",
                change.after,
            )
            if change.event:
                alerts.camera_health_changed(
                    change.camera, change.event, change.after, limit.total_seconds() / 60
                )

    def start_fill(self, gap_id: str, run_id: int) -> None:
        """Start ffmpeg for a claimed gap, or finish at once when no run is needed or possible."""
        gap = db.session.get(RecordingGap, gap_id)
        camera = db.session.get(Camera, gap.camera_id) if gap is not None else None
        if gap is None or camera is None:  # the camera (and its gaps with it) was deleted
            self._close_run_row(run_id, time.monotonic(), "lost", 0.0)
            return
        self._start(self.edge_fill(gap, camera), run_id, camera.id)

    def _plan(self, gap: RecordingGap, camera: Camera | None = None) -> EdgeFill | None:
        """The job for a claimed gap, built inside the claim's transaction from its camera's row
        as the claim read it; None when it cannot be built (``start_fill`` then tries again
        after the commit, and reports why)."""
        camera = camera or db.session.get(Camera, gap.camera_id)
        if camera is None:
            return None
        try:
            return self.edge_fill(gap, camera)
        except Exception:
            return None

    def _start(self, job: EdgeFill, run_id: int, camera_id: str) -> None:
        """Start a built job (its card check, then ffmpeg), or record its early end."""
        running = Running(job, run_id, camera_id, time.monotonic())
        try:
            early = job.start()
        except ReplayUrlError as exc:
            early = FillResult(GapState.FAILED, 0.0, f"no replay URL can be built: {exc}")
        except OSError as exc:
            early = FillResult(
                GapState.FAILED, 0.0, job.masked(f"ffmpeg could not be started: {exc}")
            )
        except Exception as exc:  # anything else is this attempt's failure, not the worker's
            log.exception("gap %s: fill could not start", job.gap_id)
            early = FillResult(GapState.FAILED, 0.0, job.masked(f"fill could not start: {exc}"))
        if early is not None:
            self.finish(running, early)
        else:
            self.jobs[job.gap_id] = running

    def edge_fill(self, gap: RecordingGap, camera: Camera) -> EdgeFill:
        """The job for a gap: ask the card, then download or replay (the camera's fill method)."""
        password = decrypt_secret(camera.password_encrypted)
        common = _JobSettings(
            gap_id=gap.id,
            folder=Path(self.config["ANR_RECORDINGS_DIR"]) / camera.id,
            secrets=tuple(secret_forms(password, camera.username or "")),
            ffmpeg=self.config.get("ANR_FFMPEG_BIN", ""),
            io_timeout_s=float(self.config.get("ANR_IO_TIMEOUT_S", 15.0)),
            max_fill_seconds=float(self.config["ANR_MAX_FILL_SECONDS"]),
        )
        audio = str(self.config.get("ANR_AUDIO", "aac"))
        chunk_seconds = int(self.config.get("ANR_CHUNK_SECONDS", 1800))
        # A snapshot of the row: the replay starts later (after the card check), when the
        # session may have expired the row's attributes.
        settings = SimpleNamespace(**{c.key: getattr(camera, c.key) for c in Camera.__table__.c})
        phases = Phases()

        def replay_job(begin, seconds) -> FillJob:
            def url(start, end):
                return camera_replay_url(settings, start, end, password)

            if isinstance(client, OnvifClient) and not settings.anr_replay_url_template:
                return self.onvif_replay_job(client, settings, password, begin, seconds, common)
            return FillJob(
                start=begin, seconds=seconds, replay_url=url, audio=audio,
                chunk_seconds=chunk_seconds, **common,
            )  # fmt: skip

        def download_job(*, start, seconds, client, recordings) -> DownloadJob:
            return DownloadJob(
                start=start, seconds=seconds, client=client, recordings=recordings,
                slots=self.download_slots, on_done=self.wake.set, phases=phases,
                max_mbps=float(self.config.get("ANR_DOWNLOAD_MAX_MBPS", 64)),
                min_free_mb=float(self.config.get("ANR_MIN_FREE_MB", 1024)), **common,
            )  # fmt: skip

        client = client_for(
            camera,
            password,
            timeout_s=float(self.config.get("ANR_IO_TIMEOUT_S", 15.0)),
            max_kbps=float(self.config.get("ANR_MAX_KBPS") or 0),
            max_xml_bytes=int(self.config.get("ANR_CAMERA_MAX_XML_BYTES", 4 * 1024 * 1024)),
            max_items=int(self.config.get("ANR_CARD_MAX_ITEMS", 10_000)),
            secrets=common["secrets"],
        )
        return EdgeFill(
            gap_id=gap.id,
            start=gap.gap_start,
            seconds=gap.gap_seconds,
            method=getattr(camera, "fill_method", None) or "auto",
            client=client,
            replay_job=replay_job,
            download_job=download_job,
            secrets=common["secrets"],
            ffmpeg=common["ffmpeg"],
            wake=self.wake.set,
            refresh_card=camera.card_checked_at is None
            or (utcnow() - camera.card_checked_at).total_seconds() > CARD_REFRESH_S,
            phases=phases,
            camera_id=camera.id,
            card_cache=self.card_cache,
            card_window=self.outage_window(gap),
        )

    def outage_window(self, gap: RecordingGap) -> tuple[datetime, datetime] | None:
        """The span of the camera's open gaps around ``gap`` (the outage it belongs to), when
        there is more than this one; None when the card has answered for it already."""
        if self.card_cache.get(gap.camera_id, gap.gap_start, gap.gap_end) is not None:
            return None
        lo, hi, count = db.session.execute(
            _OUTAGE_AROUND,
            {
                "camera_id": gap.camera_id,
                "ends_after": gap.gap_start - OUTAGE_GAP,
                "starts_before": gap.gap_end + OUTAGE_GAP,
            },
        ).one()
        if count <= 1 or lo is None or hi is None:
            return None
        lo, hi = to_utc(lo), to_utc(hi)
        # Never more than a day around the gap itself (the answer's size is bounded anyway).
        lo = max(min(lo, gap.gap_start), gap.gap_start - OUTAGE_WINDOW / 2)
        hi = min(max(hi, gap.gap_end), gap.gap_end + OUTAGE_WINDOW / 2)
        return lo, hi

    def onvif_replay_job(self, client, settings, password, begin, seconds, common) -> FillJob:
        """ONVIF Profile G replay of [begin, begin+seconds): fast through GStreamer, else ffmpeg.

        The replay URI is the one the card check asked (GetReplayUri), so it exists by now.
        """

        def uri() -> str:
            found = client.replay_uri()
            if not found:
                why = client.last_error or "it named no replay URI for this window"
                raise ReplayUrlError(f"the ONVIF camera could not be asked: {why}")
            return found

        python = str(self.config.get("ANR_GST_PYTHON") or SYSTEM_PYTHON)
        chunk_seconds = int(self.config.get("ANR_CHUNK_SECONDS", 1800))
        if gstreamer_problem(python) is None:
            # The tighter of the camera's own cap and the worker's (ANR_MAX_KBPS); 0 = none.
            caps = [k for k in (settings.max_kbps, self.config.get("ANR_MAX_KBPS")) if k]
            return OnvifReplayJob(
                start=begin, seconds=seconds, replay_uri=uri, username=settings.username,
                password=password, max_kbps=float(min(caps)) if caps else 0.0, python=python,
                audio=str(self.config.get("ANR_AUDIO", "aac")), chunk_seconds=chunk_seconds,
                **common,
            )  # fmt: skip
        return FillJob(
            start=begin, seconds=seconds,
            replay_url=lambda _s, _e: with_credentials(uri(), settings.username, password),
            audio=str(self.config.get("ANR_AUDIO", "aac")), chunk_seconds=chunk_seconds,
            **common,
        )  # fmt: skip

    # --- running fills --------------------------------------------------------------------
    def poll(self) -> None:
        """Renew leases, pass on progress, honour Stop, and finish fills whose ffmpeg ended."""
        renew_now = time.monotonic() >= self._next_renew
        if renew_now:
            self._next_renew = time.monotonic() + self._renew_every
        renewals: list[tuple[str, Running]] = []
        for gap_id, running in list(self.jobs.items()):
            if not running.job.running():
                del self.jobs[gap_id]
                if self._more_waiting:
                    self._claim_now = True
                    self.wake.set()  # no pause before that claim
                try:
                    self.finish(running, None)
                except Exception:
                    # The lease runs out and the gap is taken back with the attempt counted.
                    db.session.rollback()
                    running.job.abort()
                    log.exception("gap %s: outcome could not be recorded", gap_id)
                continue
            if renew_now:
                renewals.append((gap_id, running))
        # Every lease renewed in one transaction: one commit per poll, not one per fill.
        answers = [
            (gap_id, running)
            + queue.renew(gap_id, self.worker_id, self.lease_seconds, running.job.progress)
            for gap_id, running in renewals
        ]
        if answers:
            db.session.commit()
        for gap_id, running, ours, stop_by in answers:
            if not ours:
                log.warning("gap %s: claim lost to another worker; dropping the fill", gap_id)
                running.job.abort()
                del self.jobs[gap_id]
                self._close_run(running, "lost", 0.0)
            elif stop_by and running.stop_by is None:
                # Ended like a time limit, so the footage copied so far is kept (finish() below).
                running.stop_by = stop_by
                running.job.stop_keeping(f"stopped by {stop_by}")
                log.info("gap %s: stop requested by %s", gap_id, stop_by)

    def finish(self, running: Running, result: FillResult | None) -> None:
        """Record a fill's outcome through the state machine, with its FillRun row."""
        phases = getattr(running.job, "phases", None)
        if not isinstance(phases, Phases):
            phases = Phases()
        timed = sum(phases.seconds.values())
        began = time.perf_counter()
        try:
            self._finish(running, result)
        finally:
            # The database's share: the whole finish but what the job and the indexing of the
            # new file counted meanwhile (the judging probe, the segment's probe and hash).
            nested = sum(phases.seconds.values()) - timed
            phases.add("database", time.perf_counter() - began - nested)
            self.phase_totals.merge(phases)
            self.fills_timed += 1
            log.debug("gap %s: phases %s", running.job.gap_id, phases.line())

    def _finish(self, running: Running, result: FillResult | None) -> None:
        job = running.job
        gap = queue.held_gap(job.gap_id, self.worker_id)
        if gap is None:
            job.abort()
            db.session.rollback()
            self._close_run(running, "lost", 0.0)
            return
        result = result or job.result()
        if result.error:  # camera text: masked and short (design.md, "Hostile cameras")
            result = replace(result, error=camera_text(result.error, job.secrets))
        self._remember_card(gap.camera_id, job)
        fields: dict[str, Any] = {
            "recovered_seconds": result.recovered_seconds,
            "last_error": result.error,
        }
        if running.stop_by and result.outcome not in (GapState.FILLED, GapState.EXPIRED):
            self.stopped(running, gap, result)
            return
        if result.outcome == GapState.EXPIRED:
            # The card said the window is gone: nothing was fetched, so no attempt is spent.
            fields["fill_attempts"] = max(gap.fill_attempts - 1, 0)
            gapstate.change_state(gap, GapState.EXPIRED, **fields)
        elif result.outcome in (GapState.FILLED, GapState.PARTIAL):
            if result.outcome == GapState.FILLED:
                fields["filled_at"] = utcnow()
            gapstate.change_state(gap, result.outcome, **fields)
            for path in result.paths or ([result.path] if result.path else []):
                self._index_new_file(gap.camera_id, path, job)
        else:
            at_limit = gap.fill_attempts >= int(self.config["ANR_MAX_ATTEMPTS"])
            gapstate.change_state(gap, GapState.FAILED if at_limit else GapState.PENDING, **fields)
        self._close_run(
            running,
            result.outcome,
            result.recovered_seconds,
            commit=False,
            error=result.error,
            paths=result.paths or ([result.path] if result.path else []),
        )
        alerts.gaps_changed([gap])
        # Read before the commit: after it, the row's attributes would be loaded again.
        said = (gap.id, gap.fill_state, result.recovered_seconds, gap.fill_attempts)
        db.session.commit()
        self.sender.poke()
        log.info(
            "gap %s: %s (%.1f s recovered, attempt %d)%s",
            *said,
            f": {result.error.splitlines()[-1]}" if result.error else "",
        )

    def _remember_card(self, camera_id: str, job) -> None:
        """Cache what the card said (the camera page shows it); a silent card changes nothing."""
        coverage = getattr(job, "coverage", None)
        if coverage is None or not coverage.asked_oldest:
            return
        db.session.execute(  # one UPDATE: the row itself is not needed here
            _CARD_ANSWERED,
            {"camera_id": camera_id, "oldest": coverage.oldest, "now": utcnow()},
        )

    def stopped(self, running: Running, gap: RecordingGap, result: FillResult) -> None:
        """An operator's Stop: ``partial`` keeping what was copied, else ``failed``.

        Either way the gap carries who stopped it: it is not "needs attention" and raises no
        alert (the operator chose this), and Retry queues it again.
        """
        who = running.stop_by
        state = GapState.PARTIAL if result.recovered_seconds > 0 else GapState.FAILED
        gapstate.change_state(
            gap,
            state,
            recovered_seconds=result.recovered_seconds,
            last_error=f"stopped by {who}",
            stopped_by=who,
        )
        for path in result.paths or ([result.path] if result.path else []):
            self._index_new_file(gap.camera_id, path, running.job)
        self._close_run(
            running,
            "stopped",
            result.recovered_seconds,
            commit=False,
            error=f"stopped by {who}",
            paths=result.paths or ([result.path] if result.path else []),
        )
        # No alert: stopped_by is set, and an operator's own Stop is not news to anyone.
        db.session.commit()
        self.sender.poke()
        log.info("gap %s: stopped by %s (%.1f s kept)", gap.id, who, result.recovered_seconds)

    def _index_new_file(self, camera_id: str, path: Path, job: EdgeFill) -> None:
        """Add the archive file as a segment now, so coverage shows it before the next index."""
        # The hash the fill took as it placed the file; else it is taken now, right after.
        hashes = getattr(job, "hashes", None) or {}
        # The length the fill measured as it wrote the file (a download's cut): no probe.
        durations = getattr(job, "durations", None) or {}
        vouched = path.name in hashes and path.name in durations
        # A file the indexer found first is not probed and hashed again; one the fill vouches
        # for costs nothing to describe, and the insert skips it if it is there already.
        if (
            not vouched
            and db.session.execute(
                _SEGMENT_EXISTS, {"camera_id": camera_id, "path": path.name}
            ).first()
        ):
            return
        phases = getattr(job, "phases", None)
        began = time.perf_counter()
        segment = segment_for(
            camera_id, path, job.ffmpeg, hashes.get(path.name), durations.get(path.name)
        )
        if isinstance(phases, Phases):
            phases.add("index", time.perf_counter() - began)
        if segment is not None:
            add_segment(segment)  # the indexer may have added it meanwhile: then this is skipped

    def _close_run(
        self,
        running: Running,
        outcome: str,
        recovered: float,
        commit=True,
        error: str | None = None,
        paths: list[Path] | None = None,
    ) -> None:
        """End the attempt's FillRun: outcome, the method that ran, footage, bytes written and
        the masked error."""
        self._close_run_row(
            running.run_id, running.began, outcome, recovered, False, error=error, paths=paths,
            method=running.job.method_ran, source=getattr(running.job, "source", None),
        )  # fmt: skip
        if commit:
            db.session.commit()

    def _close_run_row(
        self,
        run_id: int,
        began: float,
        outcome: str,
        recovered: float,
        commit=True,
        error: str | None = None,
        paths: list[Path] | None = None,
        method: str | None = None,
        source: str | None = None,
    ) -> None:
        """``_close_run`` by the run's id: a run whose job never existed closes here too."""
        try:  # every chunk the fill archived, not just the first
            written: int | None = sum(path.stat().st_size for path in paths or [])
        except OSError:
            written = None
        fill_runs.close_run_id(
            run_id, outcome, recovered, error, duration_s=round(time.monotonic() - began, 3),
            method=method, bytes_written=written, source=source,
        )  # fmt: skip
        if commit:
            db.session.commit()

    # --- liveness and shutdown ------------------------------------------------------------
    def beat(self) -> None:
        """Upsert this worker's heartbeat row (``/readyz`` reports its age)."""
        self._next_heartbeat = time.monotonic() + HEARTBEAT_S
        row = db.session.get(WorkerHeartbeat, self.worker_id)
        if row is None:
            row = WorkerHeartbeat(
                worker_id=self.worker_id, hostname=socket.gethostname(), pid=os.getpid()
            )
            db.session.add(row)
        row.seen_at = utcnow()
        row.stopped_at = None
        row.running = len(self.jobs)
        row.concurrency = int(self.config["ANR_CONCURRENCY"])
        db.session.commit()

    def shutdown(self) -> None:
        """End every running fill, remove its ``.part``, give its gap back uncounted."""
        db.session.rollback()
        # Every child first, so a database error below cannot leave ffmpeg or a .part behind.
        for running in self.jobs.values():
            running.job.abort()
        for gap_id, running in list(self.jobs.items()):
            try:
                gap = queue.held_gap(gap_id, self.worker_id)
                if gap is not None:
                    queue.give_back(gap)
                self._close_run(running, "returned", 0.0, commit=False)
                db.session.commit()
                log.info("gap %s: returned to the queue (worker shutting down)", gap_id)
            except Exception:
                db.session.rollback()
                log.exception("gap %s: could not be returned; its lease will run out", gap_id)
        self.jobs.clear()
        if self.bulk_job is not None:
            try:
                bulk_jobs.release(self.bulk_job, self.worker_id)
            except Exception:
                db.session.rollback()
                log.exception("job %s: not given back; its lease will run out", self.bulk_job)
            self.bulk_job = None
        row = db.session.get(WorkerHeartbeat, self.worker_id)
        if row is not None:
            row.running = 0
            row.seen_at = row.stopped_at = utcnow()
            db.session.commit()
        self.sender.drain(timeout=5)
        self.sender.stop()
        log.info("ANR worker %s stopped", self.worker_id)
