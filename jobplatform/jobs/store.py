"""Writes journal entries into the SQL job store: one batch, one transaction."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from . import versions
from .counts import CountKey, add_transition, apply_deltas, scopes_for
from .durations import DurationKey, add_duration, apply_durations
from .journal import Entry
from .lifecycle import fold
from .minutes import MinuteKey, add_ended, apply_minutes
from .rows import JOB_COLUMNS, row_writer
from .status import ENDED


@dataclass(frozen=True)
class AppliedBatch:
    jobs_created: int
    jobs_updated: int
    events: int
    logs: int


def _changed_columns(before: dict[str, Any], after: dict[str, Any]) -> tuple[str, ...]:
    return tuple(
        c for c in JOB_COLUMNS
        if c != "id" and c in after and (c not in before or after[c] != before[c])
    )


def apply_entries(connection: sa.Connection, items: Sequence[Entry]) -> AppliedBatch:
    """Fold `items` (oldest first) into the jobs they name, within the caller's transaction."""
    writer = row_writer(connection.dialect.name)
    writer.steer_planner(connection)
    by_job: dict[str, list[Entry]] = {}
    for item in items:
        by_job.setdefault(item["id"], []).append(item)
    ids = sorted(by_job)  # a fixed lock order, so concurrent writers cannot deadlock
    current = writer.load(connection, ids)

    inserts: list[dict[str, Any]] = []
    updates: list[tuple[tuple[str, ...], dict[str, Any]]] = []
    events: list[dict[str, Any]] = []
    logs: list[dict[str, Any]] = []
    deltas: Counter[CountKey] = Counter()
    durations: Counter[DurationKey] = Counter()
    duration_ms: Counter[DurationKey] = Counter()
    ended: Counter[MinuteKey] = Counter()
    touched: set[str] = set()
    for job_id in ids:
        before = current.get(job_id)
        folded = fold(before, by_job[job_id])
        job = folded.job
        if job is None:
            continue
        if folded.created:
            inserts.append(job)
        elif folded.changed and (columns := _changed_columns(before, job)):
            updates.append((columns, job))
        add_transition(deltas, job["user_id"], job["queue"], folded.old_status, job["status"])
        if job["status"] in ENDED and folded.old_status not in ENDED:
            add_duration(durations, duration_ms, job["queue"], job.get("started_at"),
                         job.get("finished_at"))
            add_ended(ended, job["user_id"], job["queue"], job["status"], job.get("finished_at"))
        if folded.created or folded.changed or folded.events or folded.logs:
            touched.update(scopes_for(job["user_id"]))
        events.extend(folded.events)
        logs.extend(folded.logs)

    recorded_at = datetime.now(UTC)
    for event in events:
        event["recorded_at"] = recorded_at
    writer.insert_jobs(connection, inserts)
    writer.update_jobs(connection, updates)
    writer.insert_events(connection, events)
    writer.insert_logs(connection, logs)
    apply_deltas(connection, deltas)
    apply_durations(connection, durations, duration_ms)
    apply_minutes(connection, ended)
    versions.touch(connection, touched)
    return AppliedBatch(len(inserts), len(updates), len(events), len(logs))
