"""How journal entries move a job through its lifecycle: pure functions, no I/O.

`fold` takes a job's current columns (or None for a job not yet stored) and the entries that
arrived for it, in order, and returns its new columns with the events and log lines to append.
Of a stored job it needs only `rows.DECISION_COLUMNS`; it sets whatever the entries change.
The applier and the API's direct writes both go through it, so the rules live in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .journal import Entry, EntryKind, entry_time
from .status import ENDED, JobStatus

MESSAGE_LIMIT = 500
ERROR_MESSAGE_LIMIT = 10_000
TRACEBACK_LIMIT = 50_000

TARGET_STATUS: dict[EntryKind, JobStatus] = {
    EntryKind.PENDING: JobStatus.PENDING,
    EntryKind.REQUEUED: JobStatus.PENDING,
    EntryKind.PROCESSING: JobStatus.PROCESSING,
    EntryKind.COMPLETE: JobStatus.COMPLETE,
    EntryKind.ERROR: JobStatus.ERROR,
    EntryKind.CANCELLED: JobStatus.CANCELLED,
}

# Columns a job gets from the entry that first names it, and never changes afterwards.
IDENTITY_FIELDS = ("type", "queue", "task", "user_id", "params", "idempotency_key", "retry_of")


@dataclass
class Folded:
    """A job after a run of entries: its columns, and what to append to its history and log."""

    job: dict[str, Any] | None
    old_status: str | None
    created: bool = False
    changed: bool = False
    events: list[dict[str, Any]] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)


def _clip(value: Any, limit: int) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def new_job(item: Entry) -> dict[str, Any]:
    """The columns of a job first seen in `item`, before the entry itself is applied."""
    job: dict[str, Any] = {name: item.get(name) for name in IDENTITY_FIELDS}
    job.update(
        id=item["id"],
        type=item.get("type") or "unknown",
        queue=item.get("queue") or "general",
        task=item.get("task") or "unknown",
        status=None,
        progress_current=None,
        progress_total=None,
        progress_unit=None,
        progress_rate=None,
        message=None,
        summary=None,
        result=None,
        error_type=None,
        error_message=None,
        traceback=None,
        retries=int(item.get("retries") or 0),
        cancel_requested=False,
        worker=None,
        created_at=entry_time(item["at"]),
        started_at=None,
        finished_at=None,
        heartbeat_at=None,
        due_at=None,
    )
    return job


def fold(current: dict[str, Any] | None, items: Sequence[Entry]) -> Folded:
    """Apply `items` (all for one job, oldest first) to `current`."""
    job = dict(current) if current else None
    out = Folded(job=job, old_status=current["status"] if current else None)
    for item in items:
        kind = EntryKind(item["kind"])
        at = entry_time(item["at"])
        started = item.get("started")
        if started and (job is None or job["status"] == JobStatus.PENDING):
            # A start that travelled with the job's next entry (Journal.hold), or that the
            # worker's main process reports for a job whose pool process died before sending
            # it: it came first. A job already processing has its start recorded.
            if job is None:
                job = out.job = new_job(started)
                out.created = True
            _apply(job, EntryKind.PROCESSING, started, entry_time(started["at"]), out)
        if kind is EntryKind.LOG:
            out.logs.append(
                {
                    "job_id": item["id"],
                    "at": at,
                    "level": str(item.get("level") or "INFO")[:10],
                    "message": _clip(item.get("message"), ERROR_MESSAGE_LIMIT) or "",
                }
            )
            continue
        if job is None:
            if kind in (EntryKind.PROGRESS, EntryKind.CANCEL_REQUESTED, EntryKind.NOTE):
                continue  # nothing to attach it to: the job was never published here
            job = out.job = new_job(item)
            out.created = True
        _apply(job, kind, item, at, out)
    if job is None:
        out.logs.clear()  # lines of a job the store never saw have nowhere to go
    return out


def _event(job: dict[str, Any], at: Any, to: str, item: Entry, reason: str | None) -> dict:
    return {
        "job_id": job["id"],
        "at": at,
        "from_status": job["status"],
        "to_status": to,
        "actor": _clip(item.get("actor") or "unknown", 200),
        "reason": _clip(reason, ERROR_MESSAGE_LIMIT),
    }


def _apply(job: dict[str, Any], kind: EntryKind, item: Entry, at: Any, out: Folded) -> None:
    status = job["status"]
    if kind is EntryKind.PROGRESS:
        if status not in ENDED:
            _set_progress(job, item)
            job["heartbeat_at"] = at
            out.changed = True
        return
    if kind is EntryKind.NOTE:
        # Something done to the job that is not a transition (it was retried as a new job).
        out.events.append(_event(job, at, status, item, item.get("reason")))
        return
    if kind is EntryKind.CANCEL_REQUESTED:
        if status not in ENDED and not job["cancel_requested"]:
            job["cancel_requested"] = True
            reason = item.get("reason") or "cancel requested"
            out.events.append(_event(job, at, status, item, reason))
            out.changed = True
        return

    target = TARGET_STATUS[kind]
    if _is_repeat(job, kind, item, at):
        return
    if status in ENDED:
        # A late report (a worker finishing a job that was cancelled meanwhile, say): the
        # ended status stands, and the history says what was heard.
        reason = f"ignored: {kind.value} reported after the job ended ({status})"
        out.events.append(_event(job, at, status, item, reason))
        return

    reason = item.get("reason")
    if kind is EntryKind.PENDING:
        if status is not None:
            job["retries"] = int(item.get("retries") or 0)
        job["due_at"] = _due_at(item)
        _set_error(job, item)
        reason = reason or ("published" if status is None else f"retry {job['retries']}")
    elif kind is EntryKind.REQUEUED:
        reason = reason or "worker lost; requeued"
        job["heartbeat_at"] = at  # its wait in the queue starts again (see lost_messages)
    elif kind is EntryKind.PROCESSING:
        if status is None:
            reason = reason or "started; its publish was not tracked"
        elif status == JobStatus.PROCESSING:
            reason = reason or "started again (redelivered)"
        job["started_at"] = at
        job["heartbeat_at"] = at
        job["worker"] = _clip(item.get("worker"), 200)
        job["finished_at"] = None
    elif kind is EntryKind.COMPLETE:
        _set_progress(job, item)
        job["result"] = item.get("result")
        job["summary"] = _clip(item.get("summary"), MESSAGE_LIMIT)
        job["finished_at"] = at
    elif kind is EntryKind.ERROR:
        _set_error(job, item)
        job["finished_at"] = at
        reason = reason or job.get("error_message")
    elif kind is EntryKind.CANCELLED:
        job["finished_at"] = at
    out.events.append(_event(job, at, target.value, item, reason))
    job["status"] = target.value
    out.changed = True


def _is_repeat(job: dict[str, Any], kind: EntryKind, item: Entry, at: Any) -> bool:
    """Whether this entry says nothing new: already applied (a journal write retried after a
    timeout), or an end the job already has."""
    status = job["status"]
    if kind is EntryKind.PENDING and status is not None:
        # A publish repeats unless it is a retry that moved the count on.
        return int(item.get("retries") or 0) <= job["retries"]
    if kind is EntryKind.PROCESSING:
        return job["started_at"] == at
    if kind in (EntryKind.COMPLETE, EntryKind.ERROR, EntryKind.CANCELLED):
        # Also the same end reported twice by different parts of Celery (a hard time limit is
        # reported when the limit fires and again when the killed process is reaped).
        return status == TARGET_STATUS[kind]
    return False


def _set_progress(job: dict[str, Any], item: Entry) -> None:
    if "current" in item:
        job["progress_current"] = item["current"]
        job["progress_total"] = item.get("total")
        job["progress_unit"] = _clip(item.get("unit"), 32)
        rate = item.get("rate")
        job["progress_rate"] = float(rate) if isinstance(rate, int | float) and rate > 0 else None
    if item.get("message") is not None:
        job["message"] = _clip(item["message"], MESSAGE_LIMIT)


def _due_at(item: Entry) -> datetime | None:
    """The ETA a publish carried (Celery's ISO form), if any and readable."""
    eta = item.get("eta")
    if not isinstance(eta, str):
        return None
    try:
        moment = datetime.fromisoformat(eta)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _set_error(job: dict[str, Any], item: Entry) -> None:
    if item.get("error_type"):
        job["error_type"] = _clip(item["error_type"], 200)
        job["error_message"] = _clip(item.get("error_message"), ERROR_MESSAGE_LIMIT)
        job["traceback"] = _clip(item.get("traceback"), TRACEBACK_LIMIT)
