"""Per-queue counts, from the counters (never a scan of the jobs table), and their last hour."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import jsonify

from ...extensions import db
from ...jobs.counts import queue_summary
from ...jobs.minutes import ENDED_STATUSES, minute_of, read_minutes
from ...queues import QUEUES
from ..auth import scope_for
from ..etag import not_modified, scope_etag, with_etag
from ..schemas import HistoryQuery, QueueHistoryOut, QueueStatusOut, ScopeQuery
from . import api
from .requests import parse_query


@api.get("/job-queue-status")
def job_queue_status():
    query = parse_query(ScopeQuery)
    scope = scope_for(query.user_id, query.include_system)
    etag = scope_etag(scope.counter_scopes)
    if (unchanged := not_modified(etag)) is not None:
        return unchanged
    queues, totals = queue_summary(db.session, scope.counter_scopes)
    status = QueueStatusOut(queues=queues, totals=totals, generated_at=datetime.now(UTC),
                            user_id=scope.user_id, include_system=scope.include_system)
    return with_etag(jsonify(status.model_dump(mode="json")), etag)


@api.get("/job-queue-status/history")
def job_queue_history():
    """Per queue, how many jobs ended in each status in each of the last `minutes` minutes
    (oldest first; the last is the minute in progress)."""
    query = parse_query(HistoryQuery)
    scope = scope_for(query.user_id, query.include_system)
    now = datetime.now(UTC)
    last = minute_of(now)
    first = last - query.minutes + 1
    # The window moves on each minute even when nothing happened, so the minute is in the tag.
    etag = scope_etag(scope.counter_scopes, last)
    if (unchanged := not_modified(etag)) is not None:
        return unchanged
    found = read_minutes(db.session, scope.counter_scopes, first, last)
    queues = []
    for spec in QUEUES:
        minutes = found.get(spec.name, {})
        queues.append({"queue": spec.name, "label": spec.label, **{
            status: [minutes.get(m, {}).get(status, 0) for m in range(first, last + 1)]
            for status in ENDED_STATUSES}})
    history = QueueHistoryOut(
        minutes=query.minutes, start=datetime.fromtimestamp(first * 60, UTC), queues=queues,
        generated_at=now, user_id=scope.user_id, include_system=scope.include_system)
    return with_etag(jsonify(history.model_dump(mode="json")), etag)
