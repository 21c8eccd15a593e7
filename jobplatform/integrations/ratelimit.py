"""A provider account's rate limit shared by every client of it: threads, processes and hosts.

One sorted set per account in Redis holds the requests of the current window. A request takes
a slot before it is sent, scored far in the future while it is in flight, and is rescored
with the time its answer came back. The provider counted it somewhere between the two, so a
window measured from our scores always holds at least what the provider's holds: with fewer
than `limit` slots taken when a request goes out, the provider never sees more than `limit`
in any window, however many clients share the account. A 429 (someone outside the platform
uses the key) blocks the account for every client until its Retry-After has passed.

Time is Redis's (`TIME`), so clients on hosts with different clocks agree. Keys are named by
a one-way fingerprint of the API key, never the key.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
import uuid
from collections.abc import Callable

import redis

log = logging.getLogger(__name__)

KEY_PREFIX = "jobplatform:ratelimit"
# A slot in flight counts as taken until its answer (or this long, should its process die
# before it could say): longer than any request's timeout.
IN_FLIGHT_MS = 120_000
# While every slot is in flight, ask again this often.
POLL_SECONDS = 0.1
LEARNED_TTL_SECONDS = 24 * 3600

# KEYS: window, block, learned limit. ARGV: limit, window ms, slot id, in-flight ms.
# Returns {1, 0} with the slot taken, or {0, ms to wait}; a limit the provider announced
# (stored by `learn`) wins over the caller's guess.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local blocked = redis.call('PTTL', KEYS[2])
if blocked > 0 then return {0, blocked} end
local limit = tonumber(ARGV[1])
local learned = redis.call('GET', KEYS[3])
if learned then limit = tonumber(learned) end
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window + tonumber(ARGV[4]))
  return {1, 0}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, math.max(1, tonumber(oldest[2]) + window - now)}
"""
# KEYS: window, learned limit. ARGV: slot id, the limit the answer announced (or ''), its
# TTL. The slot now counts from the moment its answer arrived.
_SETTLE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], 'XX', now, ARGV[1])
if ARGV[2] ~= '' and redis.call('GET', KEYS[2]) ~= ARGV[2] then
  redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
end
"""
# KEYS: block. ARGV: ms. Extends the block, never shortens it.
_BLOCK = """
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], 1, 'PX', ARGV[1])
end
"""


def fingerprint(provider: str, api_key: str) -> str:
    """A one-way name for the account a key belongs to (the key itself never reaches Redis)."""
    digest = hashlib.sha256(f"jobplatform rate limit\0{provider}\0{api_key}".encode())
    return digest.hexdigest()[:24]


class SharedRateLimit:
    """At most `limit` requests in any `window` seconds for one provider account, across
    every client of it (see the module). Thread-safe; Redis errors are raised to the caller,
    who decides whether to go on without the limit."""

    def __init__(
        self,
        client: redis.Redis,
        provider: str,
        api_key: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.client = client
        self.provider = provider
        base = f"{KEY_PREFIX}:{provider.lower()}:{fingerprint(provider, api_key)}"
        self.window_key, self.block_key, self.limit_key = (
            f"{base}:window",
            f"{base}:block",
            f"{base}:limit",
        )
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._acquire = client.register_script(_ACQUIRE)
        self._settle = client.register_script(_SETTLE)
        self._block = client.register_script(_BLOCK)

    def __repr__(self) -> str:
        return f"<SharedRateLimit {self.window_key}>"

    def acquire(self, limit: int, window: float) -> tuple[str, float]:
        """Wait for a slot; the slot's id (for `release`) and the seconds waited."""
        slot = uuid.uuid4().hex
        waited = 0.0
        keys = [self.window_key, self.block_key, self.limit_key]
        while True:
            taken, wait_ms = self._acquire(keys, [limit, int(window * 1000), slot, IN_FLIGHT_MS])
            if taken:
                return slot, waited
            delay = int(wait_ms) / 1000
            if delay > window:  # the window is all in flight: no telling when a slot frees
                delay = POLL_SECONDS
            # A little late spreads out the clients that wait for the same slot.
            delay += self._rng.uniform(0, 0.01)
            self._sleep(delay)
            waited += delay

    def release(self, slot: str, announced: int | None = None) -> None:
        """The slot's request was answered (or failed): it counts from now on. `announced`
        is the limit the answer gave (X-RateLimit-Limit), which every client then goes by."""
        self._settle(
            [self.window_key, self.limit_key], [slot, announced or "", LEARNED_TTL_SECONDS]
        )

    def block(self, seconds: float) -> None:
        """Send nothing on this account for `seconds` (a 429's Retry-After), from any client."""
        self._block([self.block_key], [max(1, int(seconds * 1000))])
