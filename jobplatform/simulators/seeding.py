"""Deterministic randomness and the clock the simulators' data is stamped with."""

from __future__ import annotations

import hashlib
import random
import time
import uuid
from datetime import UTC, datetime

# Generated data is dated up to this moment, so the same seed and key give the same data on
# any day; changes made while a simulator runs are stamped with the real time.
AS_OF = datetime(2025, 1, 1, tzinfo=UTC).timestamp()
DAY = 86_400.0


def rng_for(seed: int, *parts: object) -> random.Random:
    """A generator fixed by the seed and the parts, identical in every process (unlike hash())."""
    digest = hashlib.sha256(repr((seed, *parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:16], "big"))


def uuid_from(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def fub_time(epoch_seconds: float) -> str:
    """FUB's timestamp form, `2012-04-23T02:23:11Z`."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(epoch_seconds)))


def fub_date(epoch_seconds: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(int(epoch_seconds)))


def normalise_fub_time(value: str) -> str:
    """A filter value such as `2021-07-01T04:00:00Z` in FUB's form; raises ValueError."""
    parsed = datetime.fromisoformat(value.strip().replace(" ", "+"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return fub_time(parsed.timestamp())
