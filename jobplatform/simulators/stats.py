"""What a simulator counts per API key, for tests and the benchmark."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass


@dataclass
class KeyStats:
    """Counters for one API key.

    `requests` counts every request that reached the provider API (test hooks excluded);
    `ok` the 2xx answers; `client_errors` other 4xx (auth failures, bad parameters);
    `rate_limited` the 429s; `faults` the injected 5xx. `refused_twice` counts 429s that came
    before the Retry-After of the key's previous 429 had passed, i.e. a client that did not
    wait as told (per key: two clients sharing one key are not told apart). A 429 sent without
    Retry-After (reZEN sometimes) sets no such deadline.
    """

    requests: int = 0
    ok: int = 0
    client_errors: int = 0
    rate_limited: int = 0
    refused_twice: int = 0
    faults: int = 0


class StatsBook:
    """Thread-safe `KeyStats` per key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, KeyStats] = {}
        self._retry_not_before: dict[str, float] = {}

    def answered(self, key: str, status: int, *, fault: bool = False) -> None:
        with self._lock:
            stats = self._keys.setdefault(key, KeyStats())
            stats.requests += 1
            if fault:
                stats.faults += 1
            elif status < 300:
                stats.ok += 1
            elif 400 <= status < 500:
                stats.client_errors += 1

    def refused(self, key: str, now: float, retry_after: float | None) -> None:
        """Book a 429; `retry_after` is what the response told the client, if anything."""
        with self._lock:
            stats = self._keys.setdefault(key, KeyStats())
            stats.requests += 1
            stats.rate_limited += 1
            if now < self._retry_not_before.get(key, 0.0):
                stats.refused_twice += 1
            if retry_after is not None:
                self._retry_not_before[key] = now + retry_after

    def snapshot(self, key: str | None = None) -> dict[str, int]:
        """One key's counters, or the totals over all keys when `key` is None."""
        with self._lock:
            if key is not None:
                return asdict(self._keys.get(key, KeyStats()))
            total = KeyStats()
            for stats in self._keys.values():
                for name, value in asdict(stats).items():
                    setattr(total, name, getattr(total, name) + value)
            return {**asdict(total), "keys": len(self._keys)}
