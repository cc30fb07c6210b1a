"""The benchmark's own tools: the load generator counts what it sees; lines get verdicts."""

import threading
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer

from bench import load
from bench.timing import Table


class _Handler(BaseHTTPRequestHandler):
    """200 for /ok (checking the cookie arrived), 500 for anything else."""

    def do_GET(self):  # noqa: N802 (the http.server API)
        good = self.path == "/ok" and self.headers.get("Cookie") == "session=abc"
        body = b"fine" if good else b"broken"
        self.send_response(200 if good else 500)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _serve():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_load_generator_counts_successes_and_errors():
    server = _serve()
    try:
        port = server.server_address[1]
        ok = load.generate(port, "/ok", {"Cookie": "session=abc"}, connections=2, seconds=0.5)
        bad = load.generate(port, "/missing", {"Cookie": "session=abc"}, connections=2, seconds=0.3)
    finally:
        server.shutdown()
        server.server_close()
    assert ok.errors == 0 and len(ok.latencies) > 0 and ok.rps > 0
    assert ok.quantile(0.50) <= ok.quantile(0.99)
    assert bad.errors > 0 and bad.latencies == [] and bad.first_error == "HTTP 500"


def test_load_generator_reports_a_refused_connection():
    port = load.free_port()  # nothing listens there any more
    res = load.generate(port, "/", {}, connections=1, seconds=0.2)
    assert res.errors > 0 and "ConnectionRefused" in res.first_error


def test_every_target_line_ends_in_pass_or_miss(capsys):
    table = Table(loadavg=lambda: 0.5, ncores=2)
    table.target("a", "1 ms", "floor 1 ms", "1.00x", "<= 2.0x", ok=True)
    table.target("b", "9 ms", "floor 1 ms", "9.00x", "<= 2.0x", ok=False)
    table.info("c", "3 s")
    table.na("d", "<= 20x", "feature not in this build")
    table.close()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Load average before: 0.50 (2 cores)"
    assert lines[4].endswith("| PASS |") and lines[5].endswith("| MISS |")
    assert lines[6].endswith("| info |")
    assert "n/a — feature not in this build" in lines[7] and lines[7].endswith("| n/a |")
    assert lines[-1] == "Load average after: 0.50 (2 cores)"


def test_a_verdict_measured_on_a_busy_machine_says_so(capsys):
    loads = iter([1.0, 3.5, 1.0, 1.2, 1.0])  # before, start of "a", end of "a", "b", after
    table = Table(loadavg=lambda: next(loads), ncores=2)
    table.mark_start()
    table.target("a", "1 ms", "floor 1 ms", "1.00x", "<= 2.0x", ok=True)
    table.target("b", "1 ms", "floor 1 ms", "1.00x", "<= 2.0x", ok=False)
    table.close()
    lines = capsys.readouterr().out.splitlines()
    assert lines[4].endswith("| PASS (load 3.50 > 2 cores) |")
    assert lines[5].endswith("| MISS |")
    assert lines[-1] == "Load average after: 1.00 (2 cores); 1 verdict(s) measured while busy"


def test_the_fast_fleet_growth_writes_what_the_apps_recount_gives(db):
    """bench.dataset.grow_fleet works the statistics out itself: they must be the app's."""
    from sqlalchemy import select

    from bench import dataset
    from webapp.domain import gapstate
    from webapp.models import Camera
    from webapp.models import CameraGapStat

    def snapshot():
        stats = db.session.execute(
            select(CameraGapStat.camera_id, CameraGapStat.fill_state, CameraGapStat.gap_count,
                   CameraGapStat.gap_seconds, CameraGapStat.stopped_count)
        ).all()  # fmt: skip
        cams = db.session.execute(
            select(Camera.id, Camera.newest_gap_start, Camera.attention, Camera.enabled)
        ).all()
        return sorted(map(tuple, stats)), sorted(map(tuple, cams))

    dataset.grow_fleet(40, 0, 3)
    dataset.grow_fleet(20, 40, 1)
    grown = snapshot()
    assert len(grown[1]) == 60 and {a for *_, a, _ in grown[1]} >= {0, 4}
    gapstate.recount_stats()
    db.session.commit()
    assert snapshot() == grown


def test_settle_waits_for_a_busy_core_and_gives_up_at_its_limit():
    import time

    from bench.timing import cpu_busy
    from bench.timing import settle

    stop = threading.Event()

    def spin():
        while not stop.is_set():
            pass

    busy: dict[str, float] = {}
    spinner = threading.Thread(target=spin, daemon=True)
    spinner.start()
    try:
        with cpu_busy(busy, "spinning"):
            began = time.perf_counter()
            # One core of this machine spinning: never quiet enough, so it waits its limit out.
            waited = settle(busy_below=0.01, quiet_s=0.5, max_s=1.5)
            assert 1.4 <= waited <= 3 and time.perf_counter() - began >= 1.4
    finally:
        stop.set()
        spinner.join()
    assert 0 < busy["spinning"] <= 1


def test_each_outage_side_leaves_no_files_for_the_other(tmp_path, monkeypatch):
    """A side's output is removed after it (untimed), even when it fails: the side after it must
    not pay for reclaiming the first one's cached pages."""
    import pytest

    from bench import outage
    from bench import timing

    monkeypatch.setattr(timing, "settle", lambda *a, **k: None)
    out = tmp_path / "side"

    def write(n):
        out.mkdir()
        (out / "file.mp4").write_bytes(b"x" * n)
        return n

    busy: dict[str, float] = {}
    assert outage._timed_side(busy, "floor", out, write, 10) == 10
    assert not out.exists()

    def fail():
        write(1)
        raise RuntimeError("side failed")

    with pytest.raises(RuntimeError):
        outage._timed_side(busy, "worker", out, fail)
    assert not out.exists()
