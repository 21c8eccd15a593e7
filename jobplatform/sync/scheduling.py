"""Starting syncs: one per user and type at a time, FUB syncs only after onboarding, and the
periodic fan-out over every integration that is due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..database import begin_write
from ..jobs.enqueue import publish, record_pending
from ..jobs.models import Job
from ..jobs.status import ACTIVE
from .models import Integration

# Each job type a provider's integration runs, and its task.
SYNC_TASKS = {
    "fub_onboarding": "jobplatform.fub.onboard",
    "fub_sync": "jobplatform.fub.sync",
    "rezen_sync": "jobplatform.rezen.sync",
}


def sync_type_for(integration: Integration) -> str:
    """The job a sync of this integration is now: FUB's first is its onboarding."""
    if integration.provider == "rezen":
        return "rezen_sync"
    return "fub_sync" if integration.onboarded_at else "fub_onboarding"


def ensure_sync(session: Session, integration_id: int, *, actor: str,
                job_type: str | None = None) -> tuple[str, bool]:
    """The user's pending or running job of this type, or a new one; and whether it is new.

    The check and the new row are one transaction holding the integration's row, so two
    schedulers (beat and a user's "sync now") can never start two.
    """
    connection = begin_write(session)
    integration = session.execute(
        sa.select(Integration).where(Integration.id == integration_id).with_for_update()
    ).scalar_one()
    job_type = job_type or sync_type_for(integration)
    running = session.scalar(
        sa.select(Job.id).where(Job.user_id == integration.user_id, Job.type == job_type,
                                Job.status.in_([s.value for s in ACTIVE]))
        .order_by(Job.created_at).limit(1)
    )
    if running is not None:
        session.commit()
        return running, False
    task = SYNC_TASKS[job_type]
    job_id = record_pending(connection, task, user_id=integration.user_id, params={},
                            actor=actor)
    user_id = integration.user_id
    session.commit()
    publish(session, job_id, task, user_id=user_id, params={})
    return job_id, True


def due_integrations(session: Session, provider: str, interval_seconds: int,
                     now: datetime | None = None) -> list[int]:
    """Enabled integrations of `provider` whose last success is older than the interval;
    for FUB, only those whose onboarding completed (until then onboarding is the sync)."""
    now = now or datetime.now(UTC)
    stale = now - timedelta(seconds=interval_seconds)
    conditions = [Integration.provider == provider, Integration.enabled.is_(True),
                  sa.or_(Integration.last_success_at.is_(None),
                         Integration.last_success_at <= stale)]
    if provider == "fub":
        conditions.append(Integration.onboarded_at.is_not(None))
    return list(session.scalars(sa.select(Integration.id).where(*conditions)
                                .order_by(Integration.id)))
