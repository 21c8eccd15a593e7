"""System jobs on the `general` queue that beat starts: the sync fan-out, pruning ended jobs,
and reaping jobs whose worker vanished or whose message was lost."""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import redis
import sqlalchemy as sa
from flask import current_app

from ..celery_app import celery
from ..config import Settings
from ..database import begin_write
from ..extensions import db
from ..jobs import versions
from ..jobs.applier import journal_tail
from ..jobs.counts import CountKey, add_transition, apply_deltas, scopes_for
from ..jobs.enqueue import EnqueueFailed, publish
from ..jobs.files import job_file
from ..jobs.journal import EntryKind, entry
from ..jobs.lost_messages import (
    CONFIRM_AFTER_SECONDS,
    INSPECT_TIMEOUT,
    LOST_AFTER,
    MissingJob,
    confirm_missing,
    lost_pending_jobs,
    restore_orphaned_deliveries,
    wait_applied,
)
from ..jobs.minutes import KEEP_MINUTES, minute_of, prune_minutes
from ..jobs.models import Job, JobEvent
from ..jobs.redelivery import next_generation
from ..jobs.status import ENDED, JobStatus
from ..jobs.store import apply_entries
from ..jobs.task import JobTask, Outcome
from ..sync import scheduling
from ..sync.providers import LABELS

log = logging.getLogger(__name__)

PRUNE_CHUNK = 2000
# Job id -> when it was first seen processing on no live worker.
ORPHANED_KEY = "jobplatform:reaper:orphaned"
REAP_LIMIT = 1000
REAPER_LOCK = "jobplatform:reaper:lock"
REAPER_LOCK_SECONDS = 300
MAX_REPUBLISH = 3
LOST_REASON = "its message was lost"
PURGED_REASON = "purged"


@celery.task(bind=True, name="jobplatform.general.prune_jobs")
def prune_jobs(self: JobTask, retention_days: int | None = None) -> Outcome:
    """Delete ended jobs older than the retention period, with their history and log."""
    days = Settings.from_env().job_retention_days if retention_days is None else retention_days
    cutoff = datetime.now(UTC) - timedelta(days=days)
    old = sa.and_(Job.status.in_([s.value for s in ENDED]), Job.finished_at < cutoff)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(Job).where(old)) or 0
    db.session.rollback()
    deleted = 0
    instance = Path(current_app.instance_path)
    self.progress(0, total, unit="jobs", message=f"Pruning jobs ended before {cutoff:%Y-%m-%d}")
    while True:
        connection = begin_write(db.session)
        chunk = db.session.execute(
            sa.select(Job.id, Job.user_id, Job.queue, Job.status, Job.result)
            .where(old).order_by(Job.id).limit(PRUNE_CHUNK).with_for_update()
        ).all()
        if not chunk:
            db.session.rollback()
            break
        deltas: Counter[CountKey] = Counter()
        for row in chunk:
            add_transition(deltas, row.user_id, row.queue, row.status, None)
        db.session.execute(sa.delete(Job).where(Job.id.in_([row.id for row in chunk])))
        apply_deltas(connection, deltas)
        versions.touch(connection, {scope for row in chunk for scope in scopes_for(row.user_id)})
        db.session.commit()
        # After the commit: a file outliving its job is harmless, a job outliving its file
        # would offer a download that is gone.
        for row in chunk:
            if (path := job_file(instance, row.result)) is not None:
                path.unlink(missing_ok=True)
        deleted += len(chunk)
        self.progress(deleted, max(total, deleted), unit="jobs")
    begin_write(db.session)
    minutes = prune_minutes(db.session, minute_of(datetime.now(UTC)) - KEEP_MINUTES)
    db.session.commit()
    return Outcome({"deleted": deleted, "retention_days": days, "minutes_deleted": minutes},
                   f"Pruned {deleted:,} jobs older than {days} days")


@celery.task(bind=True, name="jobplatform.general.schedule_syncs")
def schedule_syncs(self: JobTask, provider: str) -> Outcome:
    """Start a sync for every enabled integration of `provider` that is due (beat's fan-out)."""
    settings = Settings.from_env()
    interval = settings.fub_sync_interval if provider == "fub" else settings.rezen_sync_interval
    # A little slack: a sync that ended just after the last tick is due at this one.
    due = scheduling.due_integrations(db.session, provider, int(interval * 0.9))
    db.session.rollback()
    started = 0
    for done, integration_id in enumerate(due, start=1):
        _, new = scheduling.ensure_sync(db.session, integration_id,
                                        actor=f"scheduler (job {self.request.id})")
        started += new
        self.progress(done, len(due), unit="integrations")
    label = LABELS[provider]
    return Outcome({"due": len(due), "started": started, "already_running": len(due) - started},
                   f"Started {started:,} {label} syncs ({len(due) - started:,} already running)")


@celery.task(bind=True, name="jobplatform.general.reap_jobs")
def reap_jobs(self: JobTask, confirm_lost_after: float = CONFIRM_AFTER_SECONDS) -> Outcome:
    """Find jobs that would otherwise never end: processing on a worker that vanished, or
    pending with no message left in the broker, lost or purged (see jobs/lost_messages.py)."""
    reaped, rerun = _reap_vanished(confirm_lost_after)
    restored = restore_orphaned_deliveries(celery, celery.journal.client,
                                           confirm_after=confirm_lost_after) or 0
    republished, given_up, purged = _republish_lost(confirm_lost_after)
    reaped += given_up
    result = {"reaped": reaped, "rerun": rerun, "restored": restored,
              "republished": republished, "purged": purged}
    if not reaped + rerun + restored + republished + purged:
        return Outcome(result, "No lost jobs")
    return Outcome(result, f"Ended {reaped:,} lost jobs, ran {rerun:,} again, "
                           f"put back {restored:,} messages a dead worker held, "
                           f"published {republished:,} lost messages again, "
                           f"cancelled {purged:,} purged jobs")


def _reap_vanished(confirm_after: float) -> tuple[int, int]:
    """End the jobs processing on no live worker: not in any worker's active list at two
    looks (two reaper runs) `confirm_after` seconds apart or more, and still processing once
    the journal is applied. Idempotent jobs (syncs) run again, others end in error
    (WorkerLost). Returns (ended, run again)."""
    client = celery.journal.client
    processing = db.session.execute(
        sa.select(Job.id, Job.task, Job.user_id, Job.params, Job.worker)
        .where(Job.status == JobStatus.PROCESSING).order_by(Job.started_at).limit(REAP_LIMIT)
    ).all()
    db.session.rollback()
    if not processing:
        client.delete(ORPHANED_KEY)
        return 0, 0
    replies = celery.control.inspect(timeout=INSPECT_TIMEOUT).active() or {}
    if not replies:
        # No worker answered: they are all down (then nothing could run a job put back, and
        # the jobs are judged once one is up) or the broker lost the question. Judge nothing.
        return 0, 0
    tail = journal_tail(client)  # after the look: what the store must be applied up to
    running = {task["id"] for tasks in replies.values() for task in tasks}
    nowhere = {row.id for row in processing} - running
    confirmed = confirm_missing(client, ORPHANED_KEY, nowhere, confirm_after)
    if not confirmed or not wait_applied(client, tail):
        return 0, 0
    reaped = rerun = 0
    for job_id, task_name, user_id, params, worker in processing:
        if job_id not in confirmed:
            continue
        connection = begin_write(db.session)
        status = db.session.scalar(sa.select(Job.status).where(Job.id == job_id)
                                   .with_for_update())
        if status != JobStatus.PROCESSING:  # it ended, or went back to its queue, meanwhile
            db.session.rollback()
            continue
        gone = (f"its worker {worker or '(unknown)'} is gone: running on no live worker at "
                f"two looks {confirm_after:.0f}s apart")
        task = celery.tasks.get(task_name)
        if isinstance(task, JobTask) and task.idempotent:
            rerun += _publish_again(connection, job_id, task_name, user_id, params or {},
                                    reason=f"{gone}; run again")
        else:
            apply_entries(connection, [entry(
                job_id, EntryKind.ERROR, actor="reaper", error_type="WorkerLost",
                error_message=f"The worker running this job vanished: {gone}. It may have "
                              "done part of its work; retry it to run it again.",
            )])
            db.session.commit()
            reaped += 1
    return reaped, rerun


def _republish_lost(confirm_after: float) -> tuple[int, int, int]:
    """Publish again the pending jobs whose message the broker lost, or end in error those
    whose message was lost `MAX_REPUBLISH` times already (no worker takes it: a task no
    worker knows, say); cancel those whose message was purged. Returns (published again,
    ended, cancelled)."""
    client = celery.journal.client
    # One reaper at a time here: two would both find a job missing and both publish it.
    lock = client.lock(REAPER_LOCK, timeout=REAPER_LOCK_SECONDS)
    if not lock.acquire(blocking=False):
        return 0, 0, 0
    try:
        lost = lost_pending_jobs(db.session, celery, client, confirm_after=confirm_after,
                                 limit=REAP_LIMIT)
        if lost is None:
            log.info("the broker could not be looked through (too many messages, a worker "
                     "that did not answer, or not Redis or RabbitMQ); pending jobs were not "
                     "checked for lost messages")
            return 0, 0, 0
        published = ended = cancelled = 0
        for job in lost:
            if job.purged:
                cancelled += _cancel_purged(job)
                continue
            outcome = _republish(job.id, job.task, job.user_id, job.params or {})
            published += outcome == "published"
            ended += outcome == "ended"
        return published, ended, cancelled
    finally:
        with contextlib.suppress(redis.exceptions.LockError):
            lock.release()


def _cancel_purged(job: MissingJob) -> bool:
    """End a job whose message was deleted from its queue undelivered (`celery purge`):
    someone meant it not to run, so it is cancelled, never published again."""
    connection = begin_write(db.session)
    status = db.session.scalar(sa.select(Job.status).where(Job.id == job.id).with_for_update())
    if status != JobStatus.PENDING:
        db.session.rollback()
        return False
    # Should a copy of the message turn up after all, its task stops at its first check.
    celery.journal.request_cancel(job.id)
    apply_entries(connection, [entry(job.id, EntryKind.CANCELLED, actor="reaper",
                                     reason=PURGED_REASON)])
    db.session.commit()
    return True


def _republish(job_id: str, task_name: str, user_id: int | None,
               params: dict[str, Any]) -> Literal["published", "ended"] | None:
    """Publish one lost job again, unless it moved on meanwhile or has been lost too often."""
    connection = begin_write(db.session)
    status = db.session.scalar(sa.select(Job.status).where(Job.id == job_id).with_for_update())
    if status != JobStatus.PENDING:
        db.session.rollback()
        return None
    times_lost = db.session.scalar(sa.select(sa.func.count()).select_from(JobEvent).where(
        JobEvent.job_id == job_id, JobEvent.actor == "reaper",
        JobEvent.reason.startswith(LOST_REASON))) or 0
    if times_lost >= MAX_REPUBLISH:
        apply_entries(connection, [entry(
            job_id, EntryKind.ERROR, actor="reaper", error_type="MessageLost",
            error_message=f"Its message was lost {times_lost + 1} times: published again "
                          f"{times_lost} times, no worker took it. Is its task "
                          f"({task_name}) known to the workers?",
        )])
        db.session.commit()
        return "ended"
    published = _publish_again(
        connection, job_id, task_name, user_id, params,
        reason=f"{LOST_REASON}: waiting over {LOST_AFTER.seconds // 60} minutes in no queue; "
               "published again")
    return "published" if published else "ended"


def _publish_again(connection: sa.Connection, job_id: str, task_name: str,
                   user_id: int | None, params: dict[str, Any], *, reason: str) -> bool:
    """Put a job back to pending (in the caller's write transaction, committed here) and
    publish it; False if the broker refused it, which ends the job in error."""
    retries, due_at = db.session.execute(
        sa.select(Job.retries, Job.due_at).where(Job.id == job_id)).one()
    apply_entries(connection, [entry(job_id, EntryKind.REQUEUED, actor="reaper", reason=reason)])
    db.session.commit()
    # A newer copy: should the old message still turn up (a dead worker's, redelivered at
    # the broker's visibility timeout), it is acknowledged unrun (jobs/redelivery.py).
    generation = next_generation(celery.journal.client, job_id)
    try:
        # What only the lost message carried: a retry's count (its budget of retries) and
        # its back-off (a retry due in ten minutes does not run now).
        publish(db.session, job_id, task_name, user_id=user_id, params=params, actor="reaper",
                generation=generation, retries=retries,
                eta=due_at if due_at and due_at > datetime.now(UTC) else None)
    except EnqueueFailed:
        return False
    return True
