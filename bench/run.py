"""Print the performance table of SPEC §11 (medians, each against a floor from the same run).

Usage: ``make bench`` (``BENCH_ARGS="--quick"`` for a smaller, faster run).
"""

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import dataset  # noqa: E402
from webapp import create_app  # noqa: E402
from webapp.extensions import db  # noqa: E402

PASSWORD = "bench password 1"
rows_out: list[tuple[str, str, str]] = []


def median_ms(fn, repeat: int) -> float:
    """Median wall time of ``fn()`` in milliseconds after two warm-up calls."""
    fn()
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def report(name: str, figure: str, ratio: str = "") -> None:
    rows_out.append((name, figure, ratio))
    print(f"  {name:<58} {figure:>14} {ratio}", flush=True)


def signed_in_client(app):
    from webapp.commands import create_user

    with app.app_context():
        from webapp.models import User

        if not db.session.scalars(db.select(User).where(User.username == "bench")).first():
            create_user("bench", "admin", PASSWORD)
            db.session.commit()
    client = app.test_client()
    client.post("/login", data={"username": "bench", "password": PASSWORD})
    return client


def csrf_for(client) -> str:
    import re

    html = client.get("/cameras?attention=1").get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


def sqlite_floor_list(path: str, camera: str, limit: int) -> None:
    con = sqlite3.connect(path)
    cols = (
        "id, camera_id, gap_start, gap_end, gap_seconds, fill_state, fill_attempts, "
        "last_attempt_at, filled_at, created_at, last_error, recovered_seconds, progress, "
        "manual_retry"
    )
    names = [c.strip() for c in cols.split(",")]
    cur = con.execute(
        f"SELECT {cols} FROM recording_gaps WHERE camera_id = ? "
        "ORDER BY gap_start DESC, id DESC LIMIT ?",
        (camera, limit),
    )
    json.dumps([dict(zip(names, r, strict=True)) for r in cur.fetchall()])
    con.close()


def sqlite_floor_counts(path: str, camera: str) -> None:
    con = sqlite3.connect(path)
    con.execute(
        "SELECT fill_state, gap_count FROM camera_gap_stats WHERE camera_id = ?", (camera,)
    ).fetchall()
    con.close()


def bench_web(args, workdir: Path) -> None:
    db_path = workdir / "bench.db"
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_path}",
            "SECRET_KEY": "bench",
            "WTF_CSRF_ENABLED": False,
        }
    )
    cams_n = args.cameras
    per_cam_small = args.gaps // cams_n // 10
    per_cam_full = args.gaps // cams_n
    with app.app_context():
        db.create_all()
        cams = dataset.add_cameras(cams_n)
        load_small = dataset.add_gaps(cams, per_cam_small)
    client = signed_in_client(app)
    fleet_small = median_ms(lambda: client.get("/cameras"), args.repeat)
    with app.app_context():
        load_rest = dataset.add_gaps(cams, per_cam_full - per_cam_small, offset=per_cam_small)
    total = per_cam_full * cams_n
    report(
        f"bulk load of {cams_n:,} cameras and {total:,} gaps",
        f"{load_small + load_rest:.1f} s",
        "(target < 60 s)",
    )
    fleet_full = median_ms(lambda: client.get("/cameras"), args.repeat)
    report(
        f"fleet overview, {cams_n:,} cameras, {per_cam_small * cams_n:,} gaps",
        f"{fleet_small:.1f} ms",
    )
    report(
        f"fleet overview, {cams_n:,} cameras, {total:,} gaps",
        f"{fleet_full:.1f} ms",
        f"ratio {fleet_full / fleet_small:.2f} (target <= 1.3; median target <= 25 ms)",
    )
    cam = cams[len(cams) // 2]
    floor_list = median_ms(lambda: sqlite_floor_list(str(db_path), cam, 500), args.repeat)
    api_list = median_ms(
        lambda: client.get(f"/api/v1/cameras/{cam}/recording-gaps?limit=500"), args.repeat
    )
    report(
        "JSON list of 500 gaps",
        f"{api_list:.2f} ms",
        f"ratio {api_list / floor_list:.2f} to floor {floor_list:.2f} ms (target <= 2.0)",
    )

    def floor_page():
        sqlite_floor_list(str(db_path), cam, 50)
        sqlite_floor_counts(str(db_path), cam)

    floor_p = median_ms(floor_page, args.repeat)
    page = median_ms(lambda: client.get(f"/cameras/{cam}/gaps?state=filled"), args.repeat)
    report(
        "camera gap page (50 rows, filter, counts, timeline)",
        f"{page:.2f} ms",
        f"ratio {page / floor_p:.2f} to floor {floor_p:.2f} ms (target <= 3.0)",
    )
    token = csrf_for(client)
    with app.app_context():
        from webapp.models import RecordingGap

        failed = list(
            db.session.scalars(
                db.select(RecordingGap.id).where(
                    RecordingGap.camera_id == cam, RecordingGap.fill_state == "failed"
                )
            )
        )
    app.config["WTF_CSRF_ENABLED"] = True
    it = iter(failed)

    def retry_once():
        gid = next(it)
        resp = client.post(
            f"/api/v1/cameras/{cam}/recording-gaps/{gid}/retry", headers={"X-CSRFToken": token}
        )
        assert resp.status_code == 200, resp.data

    n = min(args.repeat, len(failed) - 2)
    retry = median_ms(retry_once, n)
    report("retry round trip (POST, state change + audit row)", f"{retry:.2f} ms")
    app.config["WTF_CSRF_ENABLED"] = False
    if args.load_seconds:
        bench_load(db_path, cam, args)


def bench_load(db_path: Path, cam: str, args) -> None:
    """gunicorn with 2 workers against the gap page, driven by a load generator on loopback."""
    env = dict(
        os.environ,
        DATABASE_URL=f"sqlite:///{db_path}",
        SECRET_KEY="bench",
        REPLENISH_INSTANCE=str(db_path.parent / "instance"),
    )
    port = 8765
    gunicorn = [
        sys.executable,
        "-m",
        "gunicorn",
        "-w",
        "2",
        "-b",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        "wsgi:app",
    ]
    server = subprocess.Popen(gunicorn, cwd=ROOT, env=env)
    try:
        import http.client
        import urllib.parse

        for _ in range(100):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/healthz")
                conn.getresponse().read()
                break
            except OSError:
                time.sleep(0.1)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        body = urllib.parse.urlencode({"username": "bench", "password": PASSWORD})
        # CSRF is on in the served app: fetch the login form's token first.
        conn.request("GET", "/login")
        resp = conn.getresponse()
        html = resp.read().decode()
        cookie = resp.getheader("Set-Cookie").split(";")[0]
        import re

        token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
        body += "&csrf_token=" + urllib.parse.quote(token)
        conn.request(
            "POST",
            "/login",
            body=body,
            headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
        )
        resp = conn.getresponse()
        resp.read()
        cookie = resp.getheader("Set-Cookie").split(";")[0]
        url = f"http://127.0.0.1:{port}/cameras/{cam}/gaps"
        if shutil.which("wrk"):
            out = subprocess.run(
                [
                    "wrk",
                    "-t2",
                    "-c8",
                    f"-d{args.load_seconds}s",
                    "--latency",
                    "-H",
                    f"Cookie: {cookie}",
                    url,
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            rps = re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)
            p50 = re.search(r"50%\s+([\d.]+\w+)", out).group(1)
            p99 = re.search(r"99%\s+([\d.]+\w+)", out).group(1)
            errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
            sock = re.search(r"Socket errors: (.*)", out)
            err = int(errors.group(1)) if errors else 0
            report(
                f"load: gunicorn -w 2, wrk -c8 {args.load_seconds} s, gap page",
                f"{float(rps):.0f} req/s",
                f"p50 {p50}, p99 {p99}, errors {err}{' ' + sock.group(1) if sock else ''}",
            )
        else:
            report("load: wrk not installed", "skipped", "(apt-get install wrk)")
    finally:
        server.terminate()
        server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cameras", type=int, default=1000)
    parser.add_argument("--gaps", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=60)
    parser.add_argument("--load-seconds", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="100 cameras, 100k gaps, 10 s load")
    args = parser.parse_args()
    if args.quick:
        args.cameras, args.gaps, args.repeat, args.load_seconds = 100, 100_000, 30, 10
    workdir = Path(tempfile.mkdtemp(prefix="replenish-bench-"))
    os.environ["REPLENISH_INSTANCE"] = str(workdir / "instance")
    print(f"Replenish benchmark ({args.cameras:,} cameras, {args.gaps:,} gaps), data in {workdir}")
    try:
        bench_web(args, workdir)
        from bench import engine

        engine.run(args, workdir, report)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
