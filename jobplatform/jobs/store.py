"""Writes journal entries into the SQL job store: one batch, one transaction."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from .counts import CountKey, add_transition, apply_deltas
from .journal import Entry
from .lifecycle import IDENTITY_FIELDS, fold
from .models import Job, JobEvent, JobLog

JOB_COLUMNS = tuple(c.name for c in Job.__table__.columns)
MUTABLE_COLUMNS = tuple(
    c for c in JOB_COLUMNS if c not in (*IDENTITY_FIELDS, "id", "created_at")
)
WRITE_OPTIONS = {"sqlite_write_lock": True}


@dataclass(frozen=True)
class AppliedBatch:
    jobs_created: int
    jobs_updated: int
    events: int
    logs: int


def begin_write(session: Session) -> None:
    """Start the session's transaction as a writer: on SQLite, take the write lock up front
    (BEGIN IMMEDIATE) so the read-then-write in `apply_entries` cannot race another writer.
    PostgreSQL needs nothing here; `apply_entries` locks the rows it reads."""
    session.connection(execution_options=WRITE_OPTIONS)


def apply_entries(session: Session, items: Sequence[Entry]) -> AppliedBatch:
    """Fold `items` (oldest first) into the jobs they name, within the caller's transaction."""
    by_job: dict[str, list[Entry]] = {}
    for item in items:
        by_job.setdefault(item["id"], []).append(item)
    ids = sorted(by_job)
    current: dict[str, dict] = {}
    for chunk_start in range(0, len(ids), 500):
        chunk = ids[chunk_start : chunk_start + 500]
        stmt = (
            sa.select(*(Job.__table__.c[name] for name in JOB_COLUMNS))
            .where(Job.id.in_(chunk))
            .order_by(Job.id)
            .with_for_update()
        )
        current.update((row.id, row._asdict()) for row in session.execute(stmt))

    inserts: list[dict] = []
    updates: list[dict] = []
    events: list[dict] = []
    logs: list[dict] = []
    deltas: Counter[CountKey] = Counter()
    for job_id in ids:
        folded = fold(current.get(job_id), by_job[job_id])
        job = folded.job
        if job is None:
            continue
        if folded.created:
            inserts.append(job)
        elif folded.changed:
            updates.append({name: job[name] for name in ("id", *MUTABLE_COLUMNS)})
        add_transition(deltas, job["user_id"], job["queue"], folded.old_status, job["status"])
        events.extend(folded.events)
        logs.extend(folded.logs)

    recorded_at = datetime.now(UTC)
    for event in events:
        event["recorded_at"] = recorded_at
    if inserts:
        session.execute(sa.insert(Job), inserts)
    if updates:
        session.execute(sa.update(Job), updates)
    if events:
        session.execute(sa.insert(JobEvent), events)
    if logs:
        session.execute(sa.insert(JobLog), logs)
    apply_deltas(session, deltas)
    return AppliedBatch(len(inserts), len(updates), len(events), len(logs))
