"""Where a fill's time goes: seconds per phase, kept by the jobs and summed by the worker.

One ``Phases`` per fill; the card check, the download job and the worker add to it in turn
(never at the same time), so it needs no lock. A few clock reads per fill: no cost to speak of.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager

# In the order a download fill meets them; anything else is listed after these.
ORDER = (
    "search",
    "wait",
    "download",
    "cut",
    "probe",
    "hash",
    "index",
    "database",
    "claim",
    "sweep",
)


class Phases:
    """Seconds spent per phase (``search``, ``download``, ``cut``, ``probe``, ``database``...)."""

    __slots__ = ("seconds",)

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def add(self, name: str, seconds: float) -> None:
        """Count ``seconds`` more against ``name``."""
        self.seconds[name] = self.seconds.get(name, 0.0) + max(seconds, 0.0)

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        """Count the time the ``with`` block takes against ``name`` (even when it raises)."""
        began = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - began)

    def merge(self, other: "Phases") -> None:
        """Add every phase of ``other`` to this one."""
        for name, seconds in other.seconds.items():
            self.add(name, seconds)

    def names(self) -> list[str]:
        """The phases seen, in fill order."""
        known = [name for name in ORDER if name in self.seconds]
        return known + sorted(name for name in self.seconds if name not in ORDER)

    def line(self) -> str:
        """``search 0.012 s, download 0.104 s, ...``: one fill's timing for a log line."""
        return ", ".join(f"{name} {self.seconds[name]:.3f} s" for name in self.names())
