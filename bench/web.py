"""Web figures, each against a partner measured in the same run through the Flask test client.

- JSON list: ``GET /api/v1/cameras/<id>/recording-gaps?limit=500`` against its floor, the same
  rows and columns fetched with the bare DB driver and turned into JSON with ``json.dumps``.
- Gap page: ``GET /cameras/<id>/gaps`` (50 rows, state tabs with counts, the timeline) against
  the app's own JSON answer for the same 50 rows plus the camera's counts, so the ratio is the
  price of the markup, not of the data.
- Fleet page: ``GET /cameras`` against the gap page, and the same page at ten times the cameras.
- Bulk retry: ``POST .../recording-gaps/retry-failed`` on one camera whose gaps all failed,
  against a bare SQL UPDATE of the same rows.
"""

import json
import multiprocessing
import queue
import time

from bench import dataset
from bench.timing import paired
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


def json_partner(client, con, cam: str):
    """The app's JSON for the page's 50 rows, plus its counts (the camera's API answer if any).

    The API has no per-camera counts route yet; until it does, the counts are read from the
    statistics table with the driver, which is what the page's own count query reads.
    """
    rows_url = f"/api/v1/cameras/{cam}/recording-gaps?limit=50"
    get_ok(client, rows_url)
    if client.get(f"/api/v1/cameras/{cam}").status_code == 200:
        return lambda: (client.get(rows_url), client.get(f"/api/v1/cameras/{cam}"))
    sql = "SELECT fill_state, gap_count FROM camera_gap_stats WHERE camera_id = ?"
    return lambda: (client.get(rows_url), json.dumps(dict(con.execute(sql, (cam,)).fetchall())))


def gap_page(client, con, cam: str, runs: int) -> tuple[float, float]:
    """The camera gap page vs the app's JSON for the same rows and counts (ms, ms)."""
    url = f"/cameras/{cam}/gaps"
    get_ok(client, url)
    return paired(lambda: client.get(url), json_partner(client, con, cam), runs)


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


def retry_in_child(url: str, cam: str, result) -> None:
    """In a child process: sign in, POST retry-failed once, put (seconds, status, body).

    Above the sync limit the answer is 202 and a worker job does the batches: the figure is then
    the request plus one ``anr worker --once`` pass that finishes the job.
    """
    from bench.engine import app_for
    from webapp.anr.worker import Worker

    # No fill slots: the worker pass does the job's batches, not fills of the bench's gaps.
    app = app_for(url, WTF_CSRF_ENABLED=False, ANR_CONCURRENCY=0)
    client = dataset.signed_in_client(app)
    began = time.perf_counter()
    resp = client.post(f"/api/v1/cameras/{cam}/recording-gaps/retry-failed")
    body = resp.get_json(silent=True)
    if resp.status_code == 202:
        Worker(app).run(once=True)
        job = client.get(resp.headers["Location"]).get_json()
        body = {"retried": job["done"] if job["state"] == "done" else None}
    result.put((time.perf_counter() - began, resp.status_code, body))


def _api_retry(app, con, cam: str, expected: int, timeout: float) -> float:
    _fail_all(con, cam)
    with app.app_context():
        dataset.recount_stats([cam])
    # A child process, so a retry that overruns the bound is stopped, not left holding the lock.
    ctx = multiprocessing.get_context("spawn")
    result = ctx.Queue()
    child = ctx.Process(
        target=retry_in_child, args=(app.config["SQLALCHEMY_DATABASE_URI"], cam, result)
    )
    child.start()
    try:
        took, status, body = result.get(timeout=timeout + 30)  # + the child's start-up
    except queue.Empty:
        raise Unavailable(f"retry-failed did not finish within {timeout:.0f} s") from None
    finally:
        if child.is_alive():
            child.kill()
        child.join(10)
    if took > timeout:
        raise Unavailable(f"retry-failed took {took:.0f} s, over the {timeout:.0f} s bound")
    if status not in (200, 202) or (body or {}).get("retried") != expected:
        raise Unavailable(f"retry-failed answered {status} {str(body)[:80]}")
    return took


def bulk_retry(app, con, cam: str, gaps: int, runs: int, timeout: float):
    """Retry-failed of ``gaps`` failed gaps through the API vs a bare UPDATE (s, s), medians."""
    app_s, floor_s = [], []
    for _ in range(runs):
        floor_s.append(_bare_update(con, cam))
        try:
            app_s.append(_api_retry(app, con, cam, gaps, timeout))
        except Unavailable as exc:
            raise Unavailable(f"{exc} (bare UPDATE {floor_s[-1]:.2f} s)") from None
    return sorted(app_s)[runs // 2], sorted(floor_s)[runs // 2]


def add_fleet_cameras(app, count: int, first: int, gaps_each: int) -> None:
    """Grow the fleet to ``first + count`` cameras, each new one with a few gaps."""
    with app.app_context():
        cams = dataset.add_cameras(count, first=first)
        dataset.add_gaps(cams, gaps_each, seed=7)
        db.session.remove()


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
