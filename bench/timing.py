"""Timing and the printed table: paired medians, and one line per figure ending PASS or MISS."""

import contextlib
import os
import statistics
import sys
import time


def paired(figure, partner, runs: int) -> tuple[float, float]:
    """Median milliseconds of ``figure()`` and ``partner()``, run alternately after a warm-up.

    Alternating the two means a noisy neighbour on the shared machine slows both alike, so their
    ratio stays meaningful even when the absolute figures wander.
    """
    for _ in range(2):
        figure()
        partner()
    a, b = [], []
    for _ in range(runs):
        t = time.perf_counter()
        figure()
        a.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        partner()
        b.append((time.perf_counter() - t) * 1000)
    return statistics.median(a), statistics.median(b)


def median_ms(fn, runs: int) -> float:
    """Median milliseconds of ``fn()`` after two warm-up calls."""
    return paired(fn, lambda: None, runs)[0]


STARTED = time.perf_counter()


def note(text: str) -> None:
    """Progress for the person waiting; on stderr, so stdout is the table alone."""
    print(f"  .. {time.perf_counter() - STARTED:5.0f} s  {text}", file=sys.stderr, flush=True)


def load_average() -> float | None:
    """The machine's one-minute load average (None where the system does not tell)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def cores() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


BUSY_MARK = "(load {load:.2f} > {cores} cores)"


class Table:
    """A Markdown table printed line by line as figures arrive (paste it into the README).

    The machine's load average is printed before the first line and after the last
    (``close``); a verdict measured while the one-minute load average exceeded the core count
    (read when the line is printed, and at the last ``mark_start``) carries a mark saying so.
    """

    def __init__(self, loadavg=load_average, ncores: int | None = None) -> None:
        self.rows: list[tuple[str, ...]] = []
        self.loadavg = loadavg
        self.cores = ncores or cores()
        self.busy_lines = 0
        self.notes: list[str] = []
        self._start_load: float | None = None
        print(f"Load average before: {self._load_text()} ({self.cores} cores)\n")
        print("| figure | measured | floor or partner (same run) | ratio | target | verdict |")
        print("|---|---|---|---|---|---|", flush=True)

    def _load_text(self) -> str:
        load = self.loadavg()
        return "unknown" if load is None else f"{load:.2f}"

    def mark_start(self) -> None:
        """A figure's measurement begins: its verdict is marked if the load was high here."""
        self._start_load = self.loadavg()

    def _busy(self) -> str:
        seen = [x for x in (self._start_load, self.loadavg()) if x is not None]
        self._start_load = None
        worst = max(seen, default=0.0)
        if worst > self.cores:
            self.busy_lines += 1
            return " " + BUSY_MARK.format(load=worst, cores=self.cores)
        return ""

    def _line(self, *cells: str) -> None:
        self.rows.append(cells)
        print("| " + " | ".join(cells) + " |", flush=True)

    def target(
        self, figure: str, measured: str, partner: str, ratio: str, target: str, ok: bool
    ) -> None:
        """A line with a target: it ends in PASS or MISS (and the busy mark when loaded)."""
        verdict = ("PASS" if ok else "MISS") + self._busy()
        self._line(figure, measured, partner, ratio, target, verdict)

    def after(self, text: str) -> None:
        """Text printed below the table (a breakdown of one line), so the table stays whole."""
        self.notes.append(text)

    def close(self) -> None:
        """The load average after the last line, how many verdicts were measured busy, and the
        notes kept for below the table."""
        busy = f"; {self.busy_lines} verdict(s) measured while busy" if self.busy_lines else ""
        print(f"\nLoad average after: {self._load_text()} ({self.cores} cores){busy}", flush=True)
        for text in self.notes:
            print(f"\n{text}", flush=True)

    def info(self, figure: str, measured: str, note: str = "") -> None:
        """A figure kept for information, without a target."""
        self._line(figure, measured, note, "", "", "info")

    def na(self, figure: str, target: str, reason: str) -> None:
        """A target figure that cannot be measured in this build, and why."""
        self._line(figure, f"n/a — {reason}", "", "", target, "n/a")


def _cpu_ticks() -> tuple[int, int] | None:
    """(idle, total) jiffies of all cores from ``/proc/stat`` (None where there is none)."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(x) for x in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return fields[3] + fields[4], sum(fields)  # idle + iowait


def settle(busy_below: float = 0.25, quiet_s: float = 2.0, max_s: float = 90.0) -> float:
    """Wait until the machine's cores are less than ``busy_below`` busy for ``quiet_s`` on end
    (what an earlier figure left behind, a database's autovacuum, has ended), at most ``max_s``;
    the seconds waited. The load average trails by minutes, so this samples ``/proc/stat``."""
    began = time.perf_counter()
    quiet_since = None
    last = _cpu_ticks()
    if last is None:
        return 0.0
    while time.perf_counter() - began < max_s:
        time.sleep(0.5)
        now = _cpu_ticks()
        idle, total = now[0] - last[0], now[1] - last[1]
        last = now
        busy = 1 - idle / total if total else 0.0
        if busy >= busy_below:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.perf_counter()
        elif time.perf_counter() - quiet_since >= quiet_s:
            break
    return time.perf_counter() - began


@contextlib.contextmanager
def cpu_busy(into: dict[str, float], name: str):
    """Store in ``into[name]`` the share of the machine's cores that were busy during the block
    (any process's work: the figure's own and its neighbours')."""
    before = _cpu_ticks()
    try:
        yield
    finally:
        after = _cpu_ticks()
        if before is not None and after is not None and after[1] > before[1]:
            into[name] = 1 - (after[0] - before[0]) / (after[1] - before[1])
