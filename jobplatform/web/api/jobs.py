"""Recent jobs, one job's history, and starting, cancelling and retrying jobs."""

from __future__ import annotations

import sqlalchemy as sa
from flask import jsonify, request
from pydantic import ValidationError

from ...celery_app import celery
from ...extensions import db
from ...jobs import actions, queries
from ...jobs.catalog import startable_jobs
from ...jobs.counts import owner_scope, read_counts
from ...jobs.enqueue import EnqueueFailed, enqueue
from ...jobs.models import Job
from ..auth import current_user, scope_for
from ..errors import BadRequest, Conflict, Unavailable, validation_details
from ..etag import not_modified, scope_etag, with_etag
from ..schemas import CreateJobRequest, JobListQuery, NoQuery, ScopeQuery
from ..serialize import job_detail_json, job_json
from . import api
from .requests import job_filter, parse_body, parse_query, visible_job

IDEMPOTENCY_KEY_LIMIT = 200


@api.get("/jobs")
def list_jobs():
    query = parse_query(JobListQuery)
    where, scope = job_filter(query)
    after = None
    if query.cursor:
        try:
            after = queries.decode_cursor(query.cursor)
        except queries.BadCursor:
            raise BadRequest("That cursor is not one this API issued.",
                             details=[{"field": "cursor", "problem": "not recognised"}]) from None
    etag = scope_etag(scope.counter_scopes)
    if (unchanged := not_modified(etag)) is not None:
        return unchanged
    jobs, next_key = queries.list_jobs(db.session, where, limit=query.limit, after=after)
    return with_etag(jsonify(jobs=[job_json(job) for job in jobs],
                             next_cursor=queries.encode_cursor(next_key) if next_key else None),
                     etag)


@api.get("/jobs/active")
def active_jobs():
    parse_query(NoQuery)
    scope = scope_for(None)
    jobs = queries.active_jobs(db.session, queries.JobFilter(user_id=scope.user_id))
    return jsonify([job_json(job) for job in jobs])


@api.get("/jobs/counts")
def job_counts():
    query = parse_query(ScopeQuery)
    scope = scope_for(query.user_id, query.include_system)
    counts = read_counts(db.session, scope.counter_scopes)
    return jsonify(pending=sum(c["pending"] for c in counts.values()),
                   processing=sum(c["processing"] for c in counts.values()))


@api.get("/jobs/<job_id>")
def show_job(job_id: str):
    parse_query(NoQuery)
    job = visible_job(job_id)
    etag = scope_etag([owner_scope(job.user_id)])
    if (unchanged := not_modified(etag)) is not None:
        return unchanged
    events, logs = queries.job_history(db.session, job.id)
    detail = job_detail_json(job, events, logs, retried_as=queries.retries_of(db.session, job.id),
                             show_traceback=current_user().is_admin)
    return with_etag(jsonify(detail), etag)


def _idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > IDEMPOTENCY_KEY_LIMIT or not key.isprintable():
        raise BadRequest(
            f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_LIMIT} printable characters.",
            details=[{"field": "Idempotency-Key", "problem": "invalid header"}],
        )
    return key


def _same_request(job: Job, job_type: str, params: dict) -> bool:
    return job.type == job_type and (job.params or {}) == params


@api.post("/jobs")
def create_job():
    parse_query(NoQuery)
    body = parse_body(CreateJobRequest)
    key = _idempotency_key()
    tasks = startable_jobs(celery)
    task = tasks.get(body.type)
    if task is None:
        raise BadRequest(f"Unknown job type {body.type!r}.",
                         details=[{"field": "type", "problem": f"one of {sorted(tasks)}"}])
    try:
        params = task.api_params.model_validate(body.params).model_dump(mode="json")
    except ValidationError as exc:
        raise BadRequest(f"Invalid params for a {body.type} job.",
                         details=validation_details(exc, prefix="params")) from None
    user = current_user()
    if key is not None:
        existing = db.session.scalar(
            sa.select(Job).where(Job.user_id == user.id, Job.idempotency_key == key)
        )
        if existing is not None:
            if not _same_request(existing, body.type, params):
                raise Conflict("That Idempotency-Key was used for a different request.",
                               details={"job_id": existing.id})
            return jsonify(job_json(existing)), 200
    try:
        job_id = enqueue(db.session, task.name, user_id=user.id, params=params,
                         actor=f"user:{user.id}", idempotency_key=key)
    except sa.exc.IntegrityError:
        # The same key raced in from a parallel request: answer as the replay it is.
        db.session.rollback()
        existing = db.session.scalar(
            sa.select(Job).where(Job.user_id == user.id, Job.idempotency_key == key)
        )
        if existing is None or not _same_request(existing, body.type, params):
            raise Conflict("That Idempotency-Key was used for a different request.") from None
        return jsonify(job_json(existing)), 200
    except EnqueueFailed as exc:
        raise Unavailable(f"The job was recorded but could not be queued: {exc}") from None
    return jsonify(job_json(db.session.get(Job, job_id))), 202


@api.post("/jobs/<job_id>/cancel")
def cancel_job(job_id: str):
    parse_query(NoQuery)
    job = visible_job(job_id)
    try:
        actions.cancel(db.session, job, actor=f"user:{current_user().id}")
    except actions.ActionRefused as exc:
        raise Conflict(str(exc), details={"status": job.status}) from None
    db.session.expire_all()
    return jsonify(job_json(db.session.get(Job, job.id))), 202


@api.post("/jobs/<job_id>/retry")
def retry_job(job_id: str):
    parse_query(NoQuery)
    job = visible_job(job_id)
    try:
        new_id = actions.retry(db.session, job, actor=f"user:{current_user().id}")
    except actions.ActionRefused as exc:
        raise Conflict(str(exc), details={"status": job.status}) from None
    except EnqueueFailed as exc:
        raise Unavailable(f"The retry was recorded but could not be queued: {exc}") from None
    return jsonify(job_json(db.session.get(Job, new_id))), 202
