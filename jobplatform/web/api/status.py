"""Per-queue counts, from the counters (never a scan of the jobs table)."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import jsonify

from ...extensions import db
from ...jobs.counts import read_counts
from ...jobs.status import STATUS_ORDER
from ...queues import QUEUES
from ..auth import scope_for
from ..schemas import QueueStatusOut, ScopeQuery
from . import api
from .requests import parse_query


@api.get("/job-queue-status")
def job_queue_status():
    query = parse_query(ScopeQuery)
    scope = scope_for(query.user_id, query.include_system)
    counts = read_counts(db.session, scope.counter_scopes)
    queues = [{"queue": q.name, "label": q.label, **counts[q.name]} for q in QUEUES]
    totals = {s.value: sum(queue[s.value] for queue in queues) for s in STATUS_ORDER}
    status = QueueStatusOut(queues=queues, totals=totals, generated_at=datetime.now(UTC),
                            user_id=scope.user_id, include_system=scope.include_system)
    return jsonify(status.model_dump(mode="json"))
