"""Bulk actions: retry or cancel every job a filter matches (the filters of `GET /jobs`)."""

from __future__ import annotations

from flask import jsonify

from ...extensions import db
from ...jobs import bulk
from ..auth import current_user
from ..errors import ApiError, BadRequest
from ..schemas import BulkOut, BulkRequest, NoQuery
from . import api
from .requests import job_filter, parse_body, parse_query


def _run(action: str) -> tuple[dict, int]:
    parse_query(NoQuery)
    body = parse_body(BulkRequest)
    where, _ = job_filter(body)
    run = bulk.bulk_retry if action == "retry" else bulk.bulk_cancel
    try:
        outcome = run(db.session, where, actor=f"user:{current_user().id}",
                      dry_run=body.dry_run)
    except bulk.StatusNotActionable as exc:
        raise BadRequest(f"Bulk {action}: {exc}.",
                         details=[{"field": "status", "problem": str(exc)}]) from None
    except bulk.TooManyJobs as exc:
        raise ApiError(
            f"This filter matches more than {exc.limit:,} jobs; a bulk {action} takes at most "
            f"{exc.limit:,} at a time. Narrow it (queue, type, since) and repeat.",
            status=422, code="too_many_jobs", details={"limit": exc.limit}) from None
    out = BulkOut(action=action, dry_run=body.dry_run, matched=outcome.matched,
                  acted=outcome.acted, failed_to_queue=outcome.failed_to_queue,
                  limit=bulk.BULK_LIMIT)
    return out.model_dump(mode="json"), 200 if body.dry_run else 202


@api.post("/jobs/bulk/retry")
def bulk_retry():
    """Retry every failed or cancelled job the filter matches that was not retried yet."""
    body, status = _run("retry")
    return jsonify(body), status


@api.post("/jobs/bulk/cancel")
def bulk_cancel():
    """Cancel every pending job the filter matches, and stop every running one."""
    body, status = _run("cancel")
    return jsonify(body), status
