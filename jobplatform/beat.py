"""What beat runs, when each entry last ran (its newest job) and about when it runs next;
and when each of a user's integrations syncs next."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from celery import Celery
from sqlalchemy.orm import Session

from .config import Settings
from .jobs.models import Job
from .sync.models import Integration
from .sync.providers import LABELS
from .sync.scheduling import sync_type_for

TASK_LABELS = {
    "jobplatform.general.reap_jobs": "Reaper: lost and vanished jobs",
    "jobplatform.general.prune_jobs": "Prune ended jobs",
}
# How far back to look among a task's newest jobs for the one an entry ran (entries of one
# task with other arguments, the two providers' fan-outs, take turns).
LAST_RUN_LOOKBACK = 50


@dataclass(frozen=True)
class BeatEntry:
    name: str
    label: str
    task: str
    interval_seconds: float
    last_run: Job | None
    next_run_at: datetime | None


def _label(task: str, kwargs: dict[str, Any]) -> str:
    if task == "jobplatform.general.schedule_syncs":
        return f"{LABELS.get(kwargs.get('provider'), '?')} sync fan-out"
    return TASK_LABELS.get(task, task.rsplit(".", 1)[-1].replace("_", " ").capitalize())


def _interval(schedule: Any) -> float:
    if isinstance(schedule, int | float):
        return float(schedule)
    if isinstance(schedule, timedelta):
        return schedule.total_seconds()
    run_every = getattr(schedule, "run_every", None)  # celery.schedules.schedule
    return run_every.total_seconds() if isinstance(run_every, timedelta) else 0.0


def _last_run(session: Session, task: str, kwargs: dict[str, Any]) -> Job | None:
    type_name = task.rsplit(".", 1)[-1]
    for job in session.scalars(
        sa.select(Job).where(Job.type == type_name)
        .order_by(Job.created_at.desc(), Job.id.desc()).limit(LAST_RUN_LOOKBACK)
    ):
        params = job.params or {}
        if job.task == task and job.user_id is None and all(
                params.get(k) == v for k, v in kwargs.items()):
            return job
    return None


def beat_entries(session: Session, app: Celery, now: datetime | None = None) -> list[BeatEntry]:
    """Beat's schedule with each entry's last run; the next is one interval after it (beat's
    own state lives with the beat process, so this is about when, not exactly when)."""
    now = now or datetime.now(UTC)
    entries = []
    for name, spec in (app.conf.beat_schedule or {}).items():
        task, kwargs = spec["task"], dict(spec.get("kwargs") or {})
        interval = _interval(spec["schedule"])
        last = _last_run(session, task, kwargs)
        next_at = None
        if last is not None and interval:
            next_at = max(now, last.created_at + timedelta(seconds=interval))
        entries.append(BeatEntry(name, _label(task, kwargs), task, interval, last, next_at))
    return entries


@dataclass(frozen=True)
class IntegrationSchedule:
    integration: Integration
    interval_seconds: int
    next_sync_at: datetime | None
    last_job: Job | None


def integration_schedules(session: Session, user_id: int, settings: Settings,
                          now: datetime | None = None) -> list[IntegrationSchedule]:
    """Each of the user's integrations, when its next periodic sync is due, and its last job."""
    now = now or datetime.now(UTC)
    out = []
    for integration in session.scalars(sa.select(Integration).where(
            Integration.user_id == user_id).order_by(Integration.provider)):
        interval = (settings.fub_sync_interval if integration.provider == "fub"
                    else settings.rezen_sync_interval)
        onboarding = integration.provider == "fub" and integration.onboarded_at is None
        next_at = None
        if integration.enabled and not onboarding:
            last = integration.last_success_at
            next_at = now if last is None else max(now, last + timedelta(seconds=interval))
        last_job = session.scalars(
            sa.select(Job).where(Job.user_id == user_id,
                                 Job.type == sync_type_for(integration))
            .order_by(Job.created_at.desc(), Job.id.desc()).limit(1)
        ).first()
        out.append(IntegrationSchedule(integration, interval, next_at, last_job))
    return out
