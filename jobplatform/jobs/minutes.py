"""Jobs ended per minute, per scope and queue (the dashboard's charts): moved in the same
transaction as the rows, so a chart costs O(queues x minutes) to read, never a scan of jobs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from .counts import scopes_for
from .models import QueueMinute
from .status import ENDED

ENDED_STATUSES: tuple[str, ...] = ("complete", "error", "cancelled")
# How long the per-minute rows are kept (the prune job deletes older ones).
KEEP_MINUTES = 24 * 60

MinuteKey = tuple[str, str, int, str]  # (scope, queue, minute, ended status)


def minute_of(moment: datetime) -> int:
    """Whole minutes since the epoch."""
    return int(moment.timestamp() // 60)


def add_ended(deltas: Counter[MinuteKey], user_id: int | None, queue: str, status: str,
              finished_at: datetime | None) -> None:
    """Record in `deltas` that a job of this user and queue ended in `status`."""
    if status not in ENDED or finished_at is None:
        return
    minute = minute_of(finished_at)
    for scope in scopes_for(user_id):
        deltas[(scope, queue, minute, status)] += 1


def apply_minutes(connection: sa.Connection, deltas: Mapping[MinuteKey, int]) -> None:
    """Move the per-minute rows by `deltas` in one statement, keys in a fixed order."""
    from .rows import row_writer

    rows: dict[tuple[str, str, int], dict[str, int | str]] = {}
    for (scope, queue, minute, status), n in sorted(deltas.items()):
        row = rows.setdefault((scope, queue, minute), {
            "scope": scope, "queue": queue, "minute": minute,
            **dict.fromkeys(ENDED_STATUSES, 0)})
        row[status] = int(row[status]) + n
    row_writer(connection.dialect.name).move_minutes(connection, list(rows.values()))


def read_minutes(session: Session, scopes: Iterable[str], first: int,
                 last: int) -> dict[str, dict[int, dict[str, int]]]:
    """Per queue, the minutes from `first` to `last` that have ends: status → count, summed
    over `scopes`."""
    stmt = (
        sa.select(QueueMinute.queue, QueueMinute.minute, sa.func.sum(QueueMinute.complete),
                  sa.func.sum(QueueMinute.error), sa.func.sum(QueueMinute.cancelled))
        .where(QueueMinute.scope.in_(list(scopes)),
               QueueMinute.minute.between(first, last))
        .group_by(QueueMinute.queue, QueueMinute.minute)
    )
    out: dict[str, dict[int, dict[str, int]]] = {}
    for queue, minute, *counts in session.execute(stmt):
        out.setdefault(queue, {})[int(minute)] = {
            status: int(n or 0) for status, n in zip(ENDED_STATUSES, counts, strict=True)}
    return out


def prune_minutes(session: Session, before: int) -> int:
    """Delete the per-minute rows older than minute `before`; how many were deleted."""
    result = session.execute(sa.delete(QueueMinute).where(QueueMinute.minute < before))
    return int(result.rowcount or 0)
