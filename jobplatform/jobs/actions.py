"""What people do to jobs (cancel, retry), written straight to the store so they read back
at once, each leaving an event that names who did it."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from ..celery_app import celery
from ..database import begin_write
from ..errors import JobPlatformError
from .enqueue import enqueue
from .journal import EntryKind, entry
from .models import Job
from .status import ENDED, JobStatus
from .store import apply_entries

log = logging.getLogger(__name__)

RETRYABLE = frozenset({JobStatus.ERROR, JobStatus.CANCELLED})


class ActionRefused(JobPlatformError):
    """The job's status does not allow the action (cancel an ended job, retry a running one)."""


def _record(session: Session, job_id: str, kind: EntryKind, actor: str, reason: str) -> None:
    apply_entries(begin_write(session), [entry(job_id, kind, actor=actor, reason=reason)])
    session.commit()


def cancel(session: Session, job: Job, *, actor: str) -> None:
    """A pending job is cancelled at once; a running one is asked to stop at its next check."""
    if job.status in ENDED:
        raise ActionRefused(f"Job {job.id} already ended ({job.status}); nothing to cancel.")
    # The flag first: a worker that picks the job up from now on stops at its first check.
    celery.journal.request_cancel(job.id)
    if job.status == JobStatus.PENDING:
        _record(session, job.id, EntryKind.CANCELLED, actor, f"cancelled by {actor}")
        celery.control.revoke(job.id)
    else:
        _record(session, job.id, EntryKind.CANCEL_REQUESTED, actor,
                f"cancel requested by {actor}; stops at its next check")


def retry(session: Session, job: Job, *, actor: str) -> str:
    """A new job with the same task and parameters, linked to `job`; returns its id."""
    if job.status not in RETRYABLE:
        raise ActionRefused(
            f"Job {job.id} is {job.status}; only a job that ended in error or was cancelled "
            "can be retried."
        )
    new_id = enqueue(session, job.task, user_id=job.user_id, params=job.params or {},
                     actor=actor, retry_of=job.id)
    _record(session, job.id, EntryKind.NOTE, actor, f"retried as {new_id} by {actor}")
    return new_id
