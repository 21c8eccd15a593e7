"""What runs on a schedule: beat's entries (operators) and the caller's integration syncs."""

from __future__ import annotations

from flask import current_app, jsonify

from ... import beat
from ...celery_app import celery
from ...extensions import db
from ...jobs.models import Job
from ...sync.providers import LABELS
from ..auth import current_user, scope_for
from ..schemas import (
    BeatEntryOut,
    IntegrationScheduleOut,
    LastRunOut,
    SchedulesOut,
    ScopeQuery,
)
from . import api
from .requests import parse_query


def _run(job: Job | None) -> LastRunOut | None:
    if job is None:
        return None
    return LastRunOut(job_id=job.id, status=job.status, created_at=job.created_at,
                      finished_at=job.finished_at, summary=job.summary)


@api.get("/schedules")
def schedules():
    query = parse_query(ScopeQuery)
    scope = scope_for(query.user_id)
    entries = []
    if current_user().is_admin:
        entries = [BeatEntryOut(name=e.name, label=e.label, task=e.task,
                                interval_seconds=e.interval_seconds, last_run=_run(e.last_run),
                                next_run_at=e.next_run_at)
                   for e in beat.beat_entries(db.session, celery)]
    integrations = []
    if scope.user_id is not None:
        settings = current_app.config["JOBPLATFORM_SETTINGS"]
        for s in beat.integration_schedules(db.session, scope.user_id, settings):
            i = s.integration
            integrations.append(IntegrationScheduleOut(
                provider=i.provider, label=LABELS[i.provider], enabled=i.enabled,
                interval_seconds=s.interval_seconds, last_success_at=i.last_success_at,
                next_sync_at=s.next_sync_at, last_error=i.last_error, last_job=_run(s.last_job)))
    out = SchedulesOut(beat=entries, integrations=integrations, user_id=scope.user_id)
    return jsonify(out.model_dump(mode="json"))
