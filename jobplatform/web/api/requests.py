"""Reading a request's query string, JSON body and path ids into validated values."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel, ValidationError

from ...extensions import db
from ...jobs.models import Job
from ...jobs.queries import JobFilter
from ..auth import Scope, check_job_visible, scope_for
from ..errors import ApiError, BadRequest, NotFound, validation_details
from ..schemas import JobFilterFields

M = TypeVar("M", bound=BaseModel)


def parse_query(model: type[M]) -> M:
    """The query string as `model`, or 400 naming each field that is wrong."""
    values: dict[str, Any] = {}
    for key, given in request.args.lists():
        if len(given) > 1:
            raise BadRequest(f"Give '{key}' once, not {len(given)} times.",
                             details=[{"field": key, "problem": "repeated"}])
        values[key] = given[0]
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise BadRequest("The query string has invalid values.",
                         details=validation_details(exc)) from None


def parse_body(model: type[M]) -> M:
    """The JSON body as `model`: 415 if it is not JSON, 400 if it does not fit."""
    if not request.is_json:
        raise ApiError("Send the body as JSON with 'Content-Type: application/json'.",
                       status=415, code="unsupported_media_type")
    body = request.get_json(silent=True)
    if body is None:
        raise BadRequest("The request body is not valid JSON.")
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    try:
        # Strict, as JSON has types of its own: `0` is not `false`, nor "5" an integer.
        return model.model_validate_json(request.get_data(), strict=True)
    except ValidationError as exc:
        raise BadRequest("The request body has invalid fields.",
                         details=validation_details(exc)) from None


def visible_job(job_id: str) -> Job:
    """The job with this id if the caller may see it; 404 otherwise (also for non-UUIDs)."""
    try:
        uuid.UUID(job_id)
    except ValueError:
        raise NotFound(f"No job {job_id[:64]!r}: job ids are UUIDs.") from None
    job = db.session.get(Job, job_id.lower())
    if job is None:
        raise NotFound(f"No job {job_id}.")
    check_job_visible(job.user_id, job.id)
    return job


def job_filter(query: JobFilterFields) -> tuple[JobFilter, Scope]:
    """The jobs a request's filters select within what the caller may see (403 otherwise)."""
    scope = scope_for(query.user_id, query.include_system)
    where = JobFilter(
        user_id=scope.user_id, include_system=scope.include_system, queue=query.queue,
        type=query.type, status=query.status, q=query.q, since=query.since,
    )
    return where, scope
