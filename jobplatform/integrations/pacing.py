"""Pacing a client under a provider's sliding-window rate limit (no I/O; the clock and sleep
are injected)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping

# Our request times are taken when the answer arrives, after the server counted the request,
# so our window ends a little after the server's; the margin covers clock granularity.
MARGIN_SECONDS = 0.05


class RateLimitPacer:
    """Waits before a request so this client stays under the limit the server announces.

    Learns the limit and window from `X-RateLimit-Limit` / `X-RateLimit-Window`, keeps the
    times of its own admitted requests in the window and, once at the limit, waits until the
    oldest leaves it. When `X-RateLimit-Remaining` says fewer slots are left than its own count
    implies (another client uses the same key), it goes by that instead. After a 429,
    `block()` holds every request until Retry-After has passed. With `pace=False` only the
    blocks are honoured. Not thread-safe: one pacer per client.
    """

    def __init__(self, *, pace: bool = True, window: float = 10.0,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.pace = pace
        self.window = window
        self.limit: int | None = None
        self._clock = clock
        self._sleep = sleep
        self._admitted: deque[float] = deque()
        self._remaining: int | None = None
        self._freed = 0  # own requests that left the window since `_remaining` was read
        self._not_before = 0.0

    def wait(self) -> float:
        """Sleep until a request may go out; returns the seconds slept."""
        slept = 0.0
        while (delay := self._delay()) > 0:
            self._sleep(delay)
            slept += delay
        return slept

    def observe(self, headers: Mapping[str, str], *, admitted: bool) -> None:
        """Learn from an answer; `admitted` is False for a 429 (it took no slot)."""
        now = self._clock()
        if (window := _number(headers.get("X-RateLimit-Window"))) and window > 0:
            self.window = window
        if (limit := _number(headers.get("X-RateLimit-Limit"))) and limit > 0:
            self.limit = int(limit)
        if admitted:
            self._admitted.append(now)
        self._expire(now)
        remaining = _number(headers.get("X-RateLimit-Remaining"))
        self._remaining = None if remaining is None else int(remaining)
        self._freed = 0

    def unanswered(self) -> None:
        """A request got no answer (timeout, dropped connection): assume it took a slot."""
        self._admitted.append(self._clock())
        if self._remaining is not None:
            self._remaining -= 1

    def block(self, seconds: float) -> None:
        """Send nothing for `seconds` (a 429's Retry-After or a backoff)."""
        self._not_before = max(self._not_before, self._clock() + seconds)
        self._remaining = None  # once the wait is over the server has room again

    def _delay(self) -> float:
        now = self._clock()
        self._expire(now)
        if now < self._not_before:
            return self._not_before - now
        if not self.pace or self.limit is None:
            return 0.0
        budget = self.limit - len(self._admitted)
        if self._remaining is not None:
            budget = min(budget, self._remaining + self._freed)
        if budget > 0:
            return 0.0
        if self._admitted:
            return self._admitted[0] + self.window + MARGIN_SECONDS - now
        # The window is full of other clients' requests and nothing says when they leave it:
        # send, and let the 429's Retry-After tell.
        self._remaining = None
        return 0.0

    def _expire(self, now: float) -> None:
        while self._admitted and self._admitted[0] <= now - self.window:
            self._admitted.popleft()
            self._freed += 1


def _number(value: str | None) -> float | None:
    try:
        return None if value is None else float(value)
    except ValueError:
        return None
