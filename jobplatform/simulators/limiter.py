"""A sliding-window rate limiter: at most `limit` admitted requests in any `window` seconds."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    retry_after: int
    """Whole seconds until a slot frees; 0 when the request was admitted."""


class SlidingWindowLimiter:
    """Counts admitted requests per bucket; refused requests do not take a slot."""

    def __init__(self, window_seconds: float, *, clock: Callable[[], float] = time.monotonic):
        self.window = window_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._admitted: dict[Hashable, deque[float]] = {}

    def acquire(self, bucket: Hashable, limit: int) -> Decision:
        now = self._clock()
        with self._lock:
            times = self._admitted.setdefault(bucket, deque())
            while times and times[0] <= now - self.window:
                times.popleft()
            if len(times) < limit:
                times.append(now)
                return Decision(True, limit, limit - len(times), 0)
            wait = times[0] + self.window - now
            return Decision(False, limit, 0, max(1, math.ceil(wait)))
