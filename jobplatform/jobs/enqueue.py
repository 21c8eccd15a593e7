"""Enqueue a job from inside the platform (the API, the scheduler): its row is committed
before the publish, so the caller can read it the moment this returns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from kombu.exceptions import OperationalError as BrokerError
from sqlalchemy.orm import Session

from ..celery_app import celery
from ..database import begin_write
from ..errors import JobPlatformError
from ..queues import queue_for_task
from .ids import new_job_id
from .journal import Entry, EntryKind, entry
from .redelivery import GENERATION_HEADER
from .store import apply_entries
from .tracking import RECORDED_HEADER, job_type_for


class EnqueueFailed(JobPlatformError):
    """The job was recorded but the broker would not take it; the job ends in error."""


def pending_entry(job_id: str, task_name: str, *, user_id: int | None, params: dict[str, Any],
                  actor: str, idempotency_key: str | None = None,
                  retry_of: str | None = None) -> Entry:
    """The journal entry that records a new pending job."""
    return entry(
        job_id, EntryKind.PENDING, task=task_name, type=job_type_for(celery, task_name),
        queue=queue_for_task(task_name), user_id=user_id, params=params, actor=actor,
        idempotency_key=idempotency_key, retry_of=retry_of,
        reason=f"retry of {retry_of}" if retry_of else None,
    )


def record_pending(connection: sa.Connection, task_name: str, *, user_id: int | None,
                   params: dict[str, Any], actor: str, idempotency_key: str | None = None,
                   retry_of: str | None = None, job_id: str | None = None) -> str:
    """Write a pending job in the caller's transaction; `publish` it after the commit."""
    job_id = job_id or new_job_id()
    apply_entries(connection, [pending_entry(
        job_id, task_name, user_id=user_id, params=params, actor=actor,
        idempotency_key=idempotency_key, retry_of=retry_of)])
    return job_id


def publish(session: Session, job_id: str, task_name: str, *, user_id: int | None,
            params: dict[str, Any], actor: str = "api", producer: Any = None,
            generation: int | None = None, retries: int = 0,
            eta: datetime | None = None) -> None:
    """Send a recorded job to its queue; if the broker refuses, the job ends in error.
    Positional arguments come back from where tracking keeps them (`params["args"]`);
    `generation` numbers a copy published again (jobs/redelivery.py), which keeps the
    job's retry count and due time (`retries`, `eta`)."""
    args = params.get("args") or ()
    kwargs = {k: v for k, v in params.items() if k != "args"}
    if user_id is not None:
        kwargs["user_id"] = user_id
    try:
        celery.send_task(task_name, args=args, kwargs=kwargs, task_id=job_id,
                         queue=queue_for_task(task_name), retries=retries, eta=eta,
                         headers={RECORDED_HEADER: True} | (
                             {GENERATION_HEADER: generation} if generation else {}),
                         producer=producer)
    except BrokerError as exc:
        apply_entries(begin_write(session), [entry(
            job_id, EntryKind.ERROR, actor=actor, error_type="EnqueueFailed",
            error_message=f"The broker did not accept the job: {exc}",
        )])
        session.commit()
        raise EnqueueFailed(f"the broker did not accept job {job_id}: {exc}") from exc


def enqueue(session: Session, task_name: str, *, user_id: int | None, params: dict[str, Any],
            actor: str, idempotency_key: str | None = None, retry_of: str | None = None,
            job_id: str | None = None) -> str:
    """Record a pending job, commit, then publish it; returns the job id."""
    job_id = record_pending(begin_write(session), task_name, user_id=user_id, params=params,
                            actor=actor, idempotency_key=idempotency_key, retry_of=retry_of,
                            job_id=job_id)
    session.commit()
    publish(session, job_id, task_name, user_id=user_id, params=params)
    return job_id
