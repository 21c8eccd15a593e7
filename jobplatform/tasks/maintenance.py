"""System jobs on the `general` queue that keep the platform tidy; beat starts them."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from ..celery_app import celery
from ..config import Settings
from ..database import begin_write
from ..extensions import db
from ..jobs.counts import CountKey, add_transition, apply_deltas
from ..jobs.models import Job
from ..jobs.status import ENDED
from ..jobs.task import JobTask, Outcome

PRUNE_CHUNK = 2000


@celery.task(bind=True, name="jobplatform.general.prune_jobs")
def prune_jobs(self: JobTask, retention_days: int | None = None) -> Outcome:
    """Delete ended jobs older than the retention period, with their history and log."""
    days = Settings.from_env().job_retention_days if retention_days is None else retention_days
    cutoff = datetime.now(UTC) - timedelta(days=days)
    old = sa.and_(Job.status.in_([s.value for s in ENDED]), Job.finished_at < cutoff)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(Job).where(old)) or 0
    db.session.rollback()
    deleted = 0
    self.progress(0, total, unit="jobs", message=f"Pruning jobs ended before {cutoff:%Y-%m-%d}")
    while True:
        connection = begin_write(db.session)
        chunk = db.session.execute(
            sa.select(Job.id, Job.user_id, Job.queue, Job.status)
            .where(old).order_by(Job.id).limit(PRUNE_CHUNK).with_for_update()
        ).all()
        if not chunk:
            db.session.rollback()
            break
        deltas: Counter[CountKey] = Counter()
        for _, user_id, queue, status in chunk:
            add_transition(deltas, user_id, queue, status, None)
        db.session.execute(sa.delete(Job).where(Job.id.in_([row.id for row in chunk])))
        apply_deltas(connection, deltas)
        db.session.commit()
        deleted += len(chunk)
        self.progress(deleted, max(total, deleted), unit="jobs")
    return Outcome({"deleted": deleted, "retention_days": days},
                   f"Pruned {deleted:,} jobs older than {days} days")
