"""Per-queue, per-status job counters: moved by deltas on every transition, read without a scan."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..queues import QUEUE_NAMES, QUEUES
from .models import Job, QueueCount
from .status import STATUS_ORDER

ALL_USERS = "all"
SYSTEM = "system"

CountKey = tuple[str, str, str]  # (scope, queue, status)


def user_scope(user_id: int) -> str:
    return f"user:{user_id}"


def owner_scope(user_id: int | None) -> str:
    """The narrowest scope a job of this user belongs to."""
    return SYSTEM if user_id is None else user_scope(user_id)


def scopes_for(user_id: int | None) -> tuple[str, ...]:
    """The counter scopes a job of this user moves: a user job counts for them and for all."""
    return (SYSTEM,) if user_id is None else (ALL_USERS, user_scope(user_id))


def add_transition(
    deltas: Counter[CountKey], user_id: int | None, queue: str, old: str | None, new: str | None
) -> None:
    """Record in `deltas` that a job moved from status `old` to `new` (None: absent)."""
    if old == new:
        return
    for scope in scopes_for(user_id):
        if old is not None:
            deltas[(scope, queue, old)] -= 1
        if new is not None:
            deltas[(scope, queue, new)] += 1


def apply_deltas(connection: sa.Connection, deltas: Mapping[CountKey, int]) -> None:
    """Move the counters by `deltas` in one statement, keys in a fixed order so that writers
    never deadlock on each other's counter rows."""
    from .rows import row_writer

    rows = [
        {"scope": s, "queue": q, "status": st, "delta": n}
        for (s, q, st), n in sorted(deltas.items())
        if n
    ]
    row_writer(connection.dialect.name).move_counts(connection, rows)


def read_counts(session: Session, scopes: Iterable[str]) -> dict[str, dict[str, int]]:
    """Counts per queue and status summed over `scopes`, every queue and status present."""
    counts = {q: dict.fromkeys(STATUS_ORDER, 0) for q in QUEUE_NAMES}
    stmt = (
        sa.select(QueueCount.queue, QueueCount.status, sa.func.sum(QueueCount.count))
        .where(QueueCount.scope.in_(list(scopes)))
        .group_by(QueueCount.queue, QueueCount.status)
    )
    for queue, status, n in session.execute(stmt):
        if queue in counts and status in counts[queue]:
            counts[queue][status] = int(n)
    return counts


def queue_summary(session: Session, scopes: Iterable[str]) -> tuple[list[dict], dict[str, int]]:
    """Each queue with its label and counts (the four in fixed order), and the totals."""
    counts = read_counts(session, scopes)
    queues = [{"queue": q.name, "label": q.label, **counts[q.name]} for q in QUEUES]
    totals = {s.value: sum(queue[s.value] for queue in queues) for s in STATUS_ORDER}
    return queues, totals


def jobs_by_user(session: Session, user_ids: list[int]) -> dict[int, dict[str, int]]:
    """Each user's jobs by status over every queue, from the counters."""
    counts = {uid: dict.fromkeys(STATUS_ORDER, 0) for uid in user_ids}
    scopes = {user_scope(uid): uid for uid in user_ids}
    for scope, status, n in session.execute(
        sa.select(QueueCount.scope, QueueCount.status, sa.func.sum(QueueCount.count))
        .where(QueueCount.scope.in_(list(scopes))).group_by(QueueCount.scope, QueueCount.status)
    ):
        if status in counts[scopes[scope]]:
            counts[scopes[scope]][status] = int(n)
    return counts


def recount(session: Session) -> dict[CountKey, int]:
    """The counters as a scan of the jobs table gives them: for checks and repair, not views."""
    totals: Counter[CountKey] = Counter()
    stmt = sa.select(Job.user_id, Job.queue, Job.status, sa.func.count()).group_by(
        Job.user_id, Job.queue, Job.status
    )
    for user_id, queue, status, n in session.execute(stmt):
        for scope in scopes_for(user_id):
            totals[(scope, queue, status)] += n
    return dict(totals)


def stored_counts(session: Session) -> dict[CountKey, int]:
    """Every non-zero counter as stored."""
    stmt = sa.select(QueueCount.scope, QueueCount.queue, QueueCount.status, QueueCount.count)
    return {(s, q, st): n for s, q, st, n in session.execute(stmt) if n}
