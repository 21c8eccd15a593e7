"""A histogram of how long jobs ran, per queue, moved by every batch that ends jobs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import datetime

import sqlalchemy as sa

# Upper bounds of the buckets, in seconds; the last bucket is everything longer.
BUCKET_BOUNDS: tuple[float, ...] = (0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600)

DurationKey = tuple[str, int]  # (queue, bucket)


def bucket_for(seconds: float) -> int:
    for index, bound in enumerate(BUCKET_BOUNDS):
        if seconds <= bound:
            return index
    return len(BUCKET_BOUNDS)


def add_duration(counts: Counter[DurationKey], totals: Counter[DurationKey], queue: str,
                 started: datetime | None, finished: datetime | None) -> None:
    """Record a job of `queue` that ran from `started` to `finished`, if it ran at all."""
    if started is None or finished is None:
        return
    seconds = max(0.0, (finished - started).total_seconds())
    key = (queue, bucket_for(seconds))
    counts[key] += 1
    totals[key] += round(seconds * 1000)


def apply_durations(connection: sa.Connection, counts: Mapping[DurationKey, int],
                    totals: Mapping[DurationKey, int]) -> None:
    from .rows import row_writer

    rows = [{"queue": q, "bucket": b, "delta": n, "ms": totals[(q, b)]}
            for (q, b), n in sorted(counts.items())]
    row_writer(connection.dialect.name).move_durations(connection, rows)
