"""Timing and the printed table: paired medians, and one line per figure ending PASS or MISS."""

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


class Table:
    """A Markdown table printed line by line as figures arrive (paste it into the README)."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, ...]] = []
        print("| figure | measured | floor or partner (same run) | ratio | target | verdict |")
        print("|---|---|---|---|---|---|", flush=True)

    def _line(self, *cells: str) -> None:
        self.rows.append(cells)
        print("| " + " | ".join(cells) + " |", flush=True)

    def target(
        self, figure: str, measured: str, partner: str, ratio: str, target: str, ok: bool
    ) -> None:
        """A line with a target: it ends in PASS or MISS."""
        self._line(figure, measured, partner, ratio, target, "PASS" if ok else "MISS")

    def info(self, figure: str, measured: str, note: str = "") -> None:
        """A figure kept for information, without a target."""
        self._line(figure, measured, note, "", "", "info")

    def na(self, figure: str, target: str, reason: str) -> None:
        """A target figure that cannot be measured in this build, and why."""
        self._line(figure, f"n/a — {reason}", "", "", target, "n/a")
