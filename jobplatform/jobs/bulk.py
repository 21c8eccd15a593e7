"""Cancelling or retrying every job a filter matches, at most `BULK_LIMIT` at a time: one
transaction records what is done to all of them (each job's history naming the actor), then
the broker hears about it. The API and the CLI both come here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..celery_app import celery
from ..database import begin_write
from ..errors import JobPlatformError
from .enqueue import EnqueueFailed, pending_entry, publish
from .ids import new_job_id
from .journal import EntryKind, entry
from .models import Job
from .queries import JobFilter
from .status import JobStatus
from .store import apply_entries

BULK_LIMIT = 10_000
CANCELLABLE: tuple[str, ...] = (JobStatus.PENDING.value, JobStatus.PROCESSING.value)
RETRYABLE: tuple[str, ...] = (JobStatus.ERROR.value, JobStatus.CANCELLED.value)


class TooManyJobs(JobPlatformError):
    """The filter matches more jobs than one bulk action may touch."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit:,} jobs match")
        self.limit = limit


class StatusNotActionable(JobPlatformError):
    """The filter's status is one the action never applies to (retry a complete job, say)."""


@dataclass(frozen=True)
class BulkOutcome:
    """How many jobs matched, and how many were acted on (0 on a dry run)."""

    matched: int
    acted: int
    job_ids: list[str]
    new_job_ids: list[str]
    failed_to_queue: int = 0


def _statuses(where: JobFilter, allowed: tuple[str, ...], action: str) -> list[str]:
    if where.status is None:
        return list(allowed)
    if where.status not in allowed:
        raise StatusNotActionable(
            f"{action} applies only to {' or '.join(allowed)} jobs, not {where.status}")
    return [where.status]


def _matching(session: Session, where: JobFilter, statuses: list[str], limit: int, *,
              lock: bool) -> list[Any]:
    """The jobs `where` matches among `statuses`, oldest id first (the lock order)."""
    stmt = (sa.select(Job.id, Job.task, Job.user_id, Job.params, Job.status)
            .where(*where.conditions(), Job.status.in_(statuses))
            .order_by(Job.id).limit(limit + 1))
    rows = session.execute(stmt.with_for_update() if lock else stmt).all()
    if len(rows) > limit:
        raise TooManyJobs(limit)
    return rows


def _not_yet_retried(session: Session, rows: list[Any]) -> list[Any]:
    """Rows whose job no other job retries yet: "retry all failed" twice makes no doubles.
    A statement of its own, so on PostgreSQL it sees retries committed while it waited."""
    retried: set[str] = set()
    ids = [row.id for row in rows]
    for start in range(0, len(ids), 500):
        retried.update(session.scalars(
            sa.select(Job.retry_of).where(Job.retry_of.in_(ids[start:start + 500]))))
    return [row for row in rows if row.id not in retried]


def bulk_retry(session: Session, where: JobFilter, *, actor: str, dry_run: bool = False,
               limit: int = BULK_LIMIT) -> BulkOutcome:
    """Retry every ended-in-error or cancelled job `where` matches that was not retried yet,
    each as a new job linked to it."""
    statuses = _statuses(where, RETRYABLE, "retry")
    if dry_run:
        rows = _not_yet_retried(session, _matching(session, where, statuses, limit, lock=False))
        session.rollback()
        return BulkOutcome(len(rows), 0, [row.id for row in rows], [])
    connection = begin_write(session)
    rows = _not_yet_retried(session, _matching(session, where, statuses, limit, lock=True))
    items, queued = [], []
    for row in rows:
        new_id = new_job_id()
        items.append(pending_entry(new_id, row.task, user_id=row.user_id,
                                   params=row.params or {}, actor=actor, retry_of=row.id))
        items.append(entry(row.id, EntryKind.NOTE, actor=actor,
                           reason=f"retried as {new_id} by {actor} (bulk retry)"))
        queued.append((new_id, row))
    apply_entries(connection, items)
    session.commit()
    failed = 0
    with celery.producer_or_acquire() as producer:
        for new_id, row in queued:
            try:
                publish(session, new_id, row.task, user_id=row.user_id, params=row.params or {},
                        actor=actor, producer=producer)
            except EnqueueFailed:
                failed += 1  # that job ended in error saying so
    return BulkOutcome(len(rows), len(rows), [row.id for row in rows],
                       [new_id for new_id, _ in queued], failed)


def bulk_cancel(session: Session, where: JobFilter, *, actor: str, dry_run: bool = False,
                limit: int = BULK_LIMIT) -> BulkOutcome:
    """Cancel every pending job `where` matches at once, and ask every running one to stop."""
    statuses = _statuses(where, CANCELLABLE, "cancel")
    if dry_run:
        rows = _matching(session, where, statuses, limit, lock=False)
        session.rollback()
        return BulkOutcome(len(rows), 0, [row.id for row in rows], [])
    connection = begin_write(session)
    rows = _matching(session, where, statuses, limit, lock=True)
    # The flags first: a worker that picks one of these up from now on stops at its first check.
    celery.journal.request_cancel_many([row.id for row in rows])
    pending = [row.id for row in rows if row.status == JobStatus.PENDING]
    items = [
        entry(row.id, EntryKind.CANCELLED, actor=actor, reason=f"cancelled by {actor} (bulk)")
        if row.status == JobStatus.PENDING else
        entry(row.id, EntryKind.CANCEL_REQUESTED, actor=actor,
              reason=f"cancel requested by {actor} (bulk); stops at its next check")
        for row in rows
    ]
    apply_entries(connection, items)
    session.commit()
    if pending:
        celery.control.revoke(pending)
    return BulkOutcome(len(rows), len(rows), [row.id for row in rows], [])
