"""Load figure: ``gunicorn -w 2`` serving the gap page, driven by a loopback load generator.

The generator is plain Python (threads and ``http.client``, no system package): N connections
each send GET requests back to back for a fixed duration; every request's latency is kept, and
any non-200 answer or socket error counts as an error. The figure is requests per second with
p50 and p99; the target is 0 errors and p99 <= 3x p50 (a server that queues or stalls misses).
"""

import http.client
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
USER_AGENT = "replenish-bench"


@dataclass
class LoadResult:
    """What the generator saw: latencies of successful requests (s), errors, wall time."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""
    seconds: float = 0.0

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def quantile(self, q: float) -> float:
        """Latency quantile in milliseconds (0 with no samples)."""
        if len(self.latencies) < 2:
            return self.latencies[0] * 1000 if self.latencies else 0.0
        cuts = statistics.quantiles(self.latencies, n=100, method="inclusive")
        return cuts[round(q * 100) - 1] * 1000


def generate(port: int, path: str, headers: dict, connections: int, seconds: float) -> LoadResult:
    """Drive GET ``path`` on 127.0.0.1:``port`` from ``connections`` threads for ``seconds``."""
    result = LoadResult()
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def one_connection() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine: list[float] = []
        errors, first = 0, ""
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            try:
                # http.client reopens the socket by itself when the server closed it
                # (gunicorn's sync workers answer with Connection: close).
                conn.request("GET", path, headers=headers)
                resp = conn.getresponse()
                resp.read()
                if resp.status == 200:
                    mine.append(time.perf_counter() - began)
                else:
                    errors, first = errors + 1, first or f"HTTP {resp.status}"
            except (OSError, http.client.HTTPException) as exc:
                errors, first = errors + 1, first or f"{exc.__class__.__name__}: {exc}"
                conn.close()
        conn.close()
        with lock:
            result.latencies.extend(mine)
            result.errors += errors
            result.first_error = result.first_error or first

    threads = [threading.Thread(target=one_connection, daemon=True) for _ in range(connections)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 15)  # a request outlives the deadline by at most its 10 s timeout
    result.seconds = time.perf_counter() - began
    return result


def free_port() -> int:
    """A port the OS had free a moment ago on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(port: int, server: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not answer /healthz within {timeout:.0f} s")


def measure(
    database_url: str,
    secret_key: str,
    cookie: str,
    path: str,
    connections: int,
    seconds: float,
    instance: Path,
) -> LoadResult:
    """Start ``gunicorn -w 2`` on a free loopback port, warm it, then run the generator."""
    port = free_port()
    env = dict(
        os.environ,
        DATABASE_URL=database_url,
        SECRET_KEY=secret_key,
        REPLENISH_INSTANCE=str(instance),
    )
    cmd = [sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}"]
    cmd += ["--log-level", "warning", "wsgi:app"]
    server = subprocess.Popen(cmd, cwd=ROOT, env=env)
    try:
        _wait_ready(port, server)
        headers = {"Cookie": cookie, "User-Agent": USER_AGENT}
        generate(port, path, headers, connections, 2.0)  # both workers warm
        return generate(port, path, headers, connections, seconds)
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)
