"""Web figures, each against a partner measured in the same run through the Flask test client.

- JSON list: ``GET /api/v1/cameras/<id>/recording-gaps?limit=500`` against its floor, the same
  rows and columns fetched with the bare DB driver and turned into JSON with ``json.dumps``.
- Gap page: ``GET /cameras/<id>/gaps`` (50 rows, state tabs with counts, the timeline) against
  the app's own JSON answer for the same 50 rows plus the camera's counts, so the ratio is the
  price of the markup, not of the data.
- Fleet page: ``GET /cameras`` against the gap page, and the same page at ten times the cameras
  (10,000 -> 100,000, the gaps about the same).
- Queue page: ``GET /queue`` (running fills, the first 100 queued gaps in claim order with the
  queue's counts, outcomes, workers) against the camera gap page.
- Bulk retry: ``POST .../recording-gaps/retry-failed`` on one camera whose gaps all failed,
  followed to the end of the 202's job (run in-process as the worker runs it), against a bare
  SQL UPDATE of the same rows.
"""

import json
import time

from bench import dataset
from bench.timing import paired
from webapp.domain import jobs
from webapp.extensions import db

JSON_COLUMNS = (
    "id, camera_id, gap_start, gap_end, gap_seconds, fill_state, fill_attempts, last_attempt_at,"
    " filled_at, created_at, last_error, recovered_seconds, progress, manual_retry"
)
RETRY_STATES = "('failed', 'partial', 'expired')"


class Unavailable(Exception):
    """The figure cannot be measured in this build; the message says why."""


def get_ok(client, url: str):
    """GET ``url`` once and insist on a 200, so a broken route is reported, not timed."""
    resp = client.get(url)
    if resp.status_code != 200:
        raise Unavailable(f"GET {url} answered {resp.status_code}")
    return resp


def driver_rows_json(con, camera_id: str, limit: int) -> str:
    """The floor: rows fetched with the bare driver, as JSON objects with ``json.dumps``."""
    cur = con.execute(
        f"SELECT {JSON_COLUMNS} FROM recording_gaps WHERE camera_id = ? "
        "ORDER BY gap_start DESC, id DESC LIMIT ?",
        (camera_id, limit),
    )
    names = [d[0] for d in cur.description]
    return json.dumps([dict(zip(names, r, strict=True)) for r in cur.fetchall()])


def json_list(client, con, cam: str, runs: int) -> tuple[float, float]:
    """JSON list of 500 gaps through the app vs the driver floor (ms, ms)."""
    url = f"/api/v1/cameras/{cam}/recording-gaps?limit=500"
    if len(get_ok(client, url).get_json()) != 500:
        raise Unavailable("the camera has fewer than 500 gaps")
    return paired(lambda: client.get(url), lambda: driver_rows_json(con, cam, 500), runs)


def json_partner(client, cam: str):
    """The app's JSON for the page's 50 rows plus its counts: the camera's gap list and the
    camera's own answer (its per-state counts, missing time and recording status)."""
    rows_url = f"/api/v1/cameras/{cam}/recording-gaps?limit=50"
    camera_url = f"/api/v1/cameras/{cam}"
    get_ok(client, rows_url)
    get_ok(client, camera_url)
    return lambda: (client.get(rows_url), client.get(camera_url))


def gap_page(client, cam: str, runs: int) -> tuple[float, float]:
    """The camera gap page vs the app's JSON for the same rows and counts (ms, ms)."""
    url = f"/cameras/{cam}/gaps"
    get_ok(client, url)
    return paired(lambda: client.get(url), json_partner(client, cam), runs)


def fleet_page(client, cam: str, runs: int) -> tuple[float, float]:
    """The fleet page as it is first requested vs the camera gap page (ms, ms)."""
    get_ok(client, "/cameras")
    return paired(lambda: client.get("/cameras"), lambda: client.get(f"/cameras/{cam}/gaps"), runs)


def _fail_all(con, cam: str) -> None:
    con.execute("UPDATE recording_gaps SET fill_state = 'failed' WHERE camera_id = ?", (cam,))
    con.commit()


def _bare_update(con, cam: str) -> float:
    _fail_all(con, cam)
    began = time.perf_counter()
    con.execute(
        "UPDATE recording_gaps SET fill_state = 'pending' "
        f"WHERE camera_id = ? AND fill_state IN {RETRY_STATES}",
        (cam,),
    )
    con.commit()
    return time.perf_counter() - began


def follow_retry(app, client, cam: str, expected: int, timeout: float) -> float:
    """POST retry-failed once and follow it to its end; seconds from the POST to the end.

    Up to the sync limit the 200 answer is the end. Above it the answer is 202 and a job: it is
    then run here, in-process, the way the ANR worker runs it (``jobs.claim``, then
    ``jobs.work_batch`` until no batch is left, each batch committed), and the job endpoint the
    202 named must read ``done`` with every gap moved before the clock stops. A job that
    overruns ``timeout`` is given back to the queue and reported, never left running.
    """
    began = time.perf_counter()
    resp = client.post(f"/api/v1/cameras/{cam}/recording-gaps/retry-failed")
    body = resp.get_json(silent=True) or {}
    if resp.status_code == 200:
        if body.get("retried") != expected:
            raise Unavailable(f"retry-failed answered 200 {str(body)[:80]}")
        return time.perf_counter() - began
    if resp.status_code != 202:
        raise Unavailable(f"retry-failed answered {resp.status_code} {str(body)[:80]}")
    worker, lease = "bench-worker", float(app.config["ANR_LEASE_SECONDS"])
    with app.app_context():
        job_id = jobs.claim(worker, lease)
        if job_id != body["job"]["id"]:
            raise Unavailable(f"the worker claimed job {job_id}, not the 202's")
        while jobs.work_batch(job_id, worker, lease):
            if time.perf_counter() - began > timeout:
                jobs.release(job_id, worker)
                raise Unavailable(f"retry-failed job not done within {timeout:.0f} s")
        db.session.remove()
    job = client.get(resp.headers["Location"]).get_json()
    took = time.perf_counter() - began
    if job["state"] != "done" or job["done"] != expected:
        raise Unavailable(f"retry-failed job ended {job['state']}, {job['done']} of {expected}")
    return took


def bulk_retry(app, client, con, cam: str, gaps: int, runs: int, timeout: float):
    """Retry-failed of ``gaps`` failed gaps to the job's end vs a bare UPDATE (s, s), medians."""
    app_s, floor_s = [], []
    for _ in range(runs):
        floor_s.append(_bare_update(con, cam))
        _fail_all(con, cam)
        with app.app_context():
            dataset.recount_stats([cam])
            db.session.remove()
        try:
            app_s.append(follow_retry(app, client, cam, gaps, timeout))
        except Unavailable as exc:
            raise Unavailable(f"{exc} (bare UPDATE {floor_s[-1]:.2f} s)") from None
    return sorted(app_s)[runs // 2], sorted(floor_s)[runs // 2]


def queue_page(client, cam: str, runs: int) -> tuple[float, float, int]:
    """``/queue`` (first page of the queue, its counts) vs the camera gap page (ms, ms, queued)."""
    get_ok(client, "/queue")
    total = get_ok(client, "/api/v1/queue?limit=1").get_json()["queued_total"]
    a, b = paired(lambda: client.get("/queue"), lambda: client.get(f"/cameras/{cam}/gaps"), runs)
    return a, b, int(total)


def json_check_seconds(size: int) -> tuple[float, str]:
    """CPU seconds of the JSON provider's parse-and-check on the worst ``size``-byte bodies.

    Returns the slowest shape's time and its name (every shape is refused, as a request would be).
    """
    from flask import Flask

    from webapp.errors import Problem
    from webapp.plumbing.limits import DepthLimitedJSONProvider

    app = Flask("bench-json")
    app.config["MAX_JSON_DEPTH"] = 32
    provider = DepthLimitedJSONProvider(app)
    head = b'{"gap_start":[["'
    shapes = {
        "escaped quotes": head + b'\\"' * ((size - len(head)) // 2),
        "open brackets": b"[" * size,
        "closed brackets": b"[" * (size // 2) + b"]" * (size // 2),
        "many strings": b"[" + b'"a",' * (size // 4 - 1) + b'"a"]',
    }
    worst = (0.0, "")
    for name, body in shapes.items():
        began = time.process_time()
        try:
            provider.loads(body)
        except (Problem, ValueError):
            pass
        worst = max(worst, (time.process_time() - began, name))
    return worst
