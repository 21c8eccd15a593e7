"""What `celery -A jobplatform jobs` prints: the job store's per-queue counts and its recent
failures, as `GET /job-queue-status` and `GET /jobs?status=error` give them."""

from __future__ import annotations

from typing import Any

from ..jobs.counts import queue_summary
from ..jobs.queries import JobFilter, list_jobs
from ..jobs.scope import Scope
from ..jobs.status import STATUS_ORDER, JobStatus


def job_report(scope: Scope, failures: int) -> dict[str, Any]:
    """What `GET /job-queue-status` and `GET /jobs?status=error` answer for `scope`."""
    from ..extensions import db
    from ..web.serialize import job_json

    queues, totals = queue_summary(db.session, scope.counter_scopes)
    # Statuses as plain strings, as the API's JSON has them (the counters key them by enum).
    queues = [{str(key): value for key, value in queue.items()} for queue in queues]
    totals = {str(key): value for key, value in totals.items()}
    where = JobFilter(
        user_id=scope.user_id, include_system=scope.include_system, status=JobStatus.ERROR.value
    )
    failed, _ = list_jobs(db.session, where, limit=failures) if failures else ([], None)
    db.session.rollback()
    return {
        "queues": queues,
        "totals": totals,
        "failures": [job_json(job) for job in failed],
        "user_id": scope.user_id,
        "include_system": scope.include_system,
    }


def table(report: dict[str, Any]) -> str:
    statuses = [s.value for s in STATUS_ORDER]
    rows = [["queue", *statuses]]
    rows += [[q["label"], *(f"{q[s]:,}" for s in statuses)] for q in report["queues"]]
    rows.append(["total", *(f"{report['totals'][s]:,}" for s in statuses)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    )


def failures_text(report: dict[str, Any]) -> str:
    if not report["failures"]:
        return "Recent failures: none"
    lines = ["Recent failures (newest first):"]
    for job in report["failures"]:
        error = job["error"] or {}
        ended = (job["finished_at"] or job["created_at"])[:19].replace("T", " ")
        owner = f"user {job['user_id']}" if job["user_id"] is not None else "system"
        lines.append(f"  {ended}  {job['id']}  {job['type']} ({job['queue']}, {owner})")
        lines.append(f"      {error.get('type') or 'error'}: {error.get('message') or ''}")
    return "\n".join(lines)
