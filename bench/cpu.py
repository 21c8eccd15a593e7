"""CPU time by role (worker main process, pool processes, applier, Redis, database server),
read from /proc with psutil, summed over the moments a benchmark chooses (a side's slices)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable

import psutil

#: A role's processes, found anew at every reading (pool processes and database backends
#: come and go).
Finder = Callable[[], Iterable[psutil.Process]]


def main_process(pid: int) -> Finder:
    return lambda: [psutil.Process(pid)]


def children_of(pid: int) -> Finder:
    """A prefork worker's pool processes (and anything else its main process started)."""
    return lambda: psutil.Process(pid).children(recursive=True)


def named(name: str) -> Finder:
    """Every process of this machine called `name` (the PostgreSQL server's processes)."""

    def find() -> list[psutil.Process]:
        return [p for p in psutil.process_iter(["name"]) if p.info["name"] == name]

    return find


def _cpu_by_pid(finders: dict[str, Finder]) -> dict[int, tuple[str, float]]:
    readings: dict[int, tuple[str, float]] = {}
    for role, find in finders.items():
        for proc in find():
            try:
                times = proc.cpu_times()
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                continue
            readings.setdefault(proc.pid, (role, times.user + times.system))
    return readings


class CpuMeter:
    """Adds up, per role, the CPU seconds used between each `start()` and `stop()`."""

    def __init__(self, finders: dict[str, Finder]) -> None:
        self.finders = finders
        self.seconds: Counter[str] = Counter({role: 0.0 for role in finders})
        self._started: dict[int, tuple[str, float]] | None = None

    def start(self) -> None:
        self._started = _cpu_by_pid(self.finders)

    def stop(self) -> None:
        if self._started is None:
            return
        for pid, (role, now) in _cpu_by_pid(self.finders).items():
            # A process that appeared within the interval used all its CPU within it.
            before = self._started.get(pid, (role, 0.0))[1]
            self.seconds[role] += max(0.0, now - before)
        self._started = None

    @property
    def total(self) -> float:
        return sum(self.seconds.values())
