"""Jobs as the API shows them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..jobs.models import Job, JobEvent, JobLog
from ..jobs.status import JobStatus
from .schemas import JobDetailOut, JobError, JobEventOut, JobLogOut, JobOut, Progress

# A retrying job shows the error it last hit; a finished or cancelled one shows none.
SHOWS_ERROR = frozenset({JobStatus.ERROR, JobStatus.PENDING, JobStatus.PROCESSING})


def _progress(job: Job) -> Progress | None:
    if job.progress_current is None:
        return None
    total, current, rate = job.progress_total, job.progress_current, job.progress_rate
    percent = round(100 * current / total, 1) if total else None
    running = job.status == JobStatus.PROCESSING
    eta = round((total - current) / rate) if running and rate and total is not None \
        and total > current else None
    return Progress(current=current, total=total, percent=percent, unit=job.progress_unit,
                    message=job.message, rate=rate if running else None, eta_seconds=eta)


def _duration_ms(job: Job, now: datetime) -> int | None:
    if job.started_at is None:
        return None
    return max(0, round(((job.finished_at or now) - job.started_at).total_seconds() * 1000))


def _fields(job: Job, now: datetime) -> dict[str, Any]:
    error = None
    if job.error_type and job.status in SHOWS_ERROR:
        error = JobError(type=job.error_type, message=job.error_message)
    return {
        "id": job.id, "type": job.type, "queue": job.queue, "user_id": job.user_id,
        "status": job.status, "progress": _progress(job), "summary": job.summary,
        "result": job.result, "error": error, "retries": job.retries,
        "cancel_requested": job.cancel_requested, "retry_of": job.retry_of,
        "due_at": job.due_at,
        "created_at": job.created_at, "started_at": job.started_at,
        "finished_at": job.finished_at, "duration_ms": _duration_ms(job, now),
    }


def job_json(job: Job, now: datetime | None = None) -> dict[str, Any]:
    return JobOut(**_fields(job, now or datetime.now(UTC))).model_dump(mode="json")


def job_detail_json(job: Job, events: list[JobEvent], logs: list[JobLog], *,
                    retried_as: list[str], show_traceback: bool) -> dict[str, Any]:
    detail = JobDetailOut(
        **_fields(job, datetime.now(UTC)),
        task=job.task, retried_as=retried_as, params=job.params, worker=job.worker,
        heartbeat_at=job.heartbeat_at,
        events=[JobEventOut(at=e.at, from_=e.from_status, to=e.to_status, actor=e.actor,
                            reason=e.reason) for e in events],
        logs=[JobLogOut(at=line.at, level=line.level, message=line.message) for line in logs],
        traceback=job.traceback if show_traceback else None,
    )
    return detail.model_dump(mode="json", by_alias=True)
