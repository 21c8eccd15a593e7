"""The OpenAPI 3.1 description of the API, built from the same pydantic models that validate
requests and shape responses, so it describes what is actually served."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from . import schemas as s

REF = "#/components/schemas/{model}"
JOB_ID = {"name": "job_id", "in": "path", "required": True,
          "schema": {"type": "string", "format": "uuid"}}
PROVIDER = {"name": "provider", "in": "path", "required": True,
            "schema": {"type": "string", "enum": ["fub", "rezen"]}}
ERRORS = {422: "Understood but not possible: a key the provider rejects, too many jobs",
          502: "The provider answered the key check with nothing usable",
          400: "Invalid input", 401: "No or bad token", 403: "Not yours to see",
          404: "No such job", 405: "Method not allowed", 409: "Conflicts with the job's state",
          413: "Too large", 415: "Wrong content type",
          503: "A dependency (or, connecting, the provider) is unavailable; see Retry-After"}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    responses: dict[int, type[BaseModel] | str | None]
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    multipart: bool = False
    path_params: tuple[dict, ...] = ()
    errors: tuple[int, ...] = (400, 401)
    public: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


DESCRIPTIONS = {200: "OK", 201: "Created", 202: "Accepted",
                304: "Not modified since the ETag sent in If-None-Match",
                404: "Not a job id: the page, saying so"}
MEDIA_TYPES = {"text": "text/plain", "csv": "text/csv", "html": "text/html"}
API = "/api/v2"
OPERATIONS: tuple[Operation, ...] = (
    Operation("get", f"{API}/job-queue-status",
              "Per-queue pending / processing / complete / error / cancelled counts",
              {200: s.QueueStatusOut, 304: None}, query=s.ScopeQuery, errors=(400, 401, 403)),
    Operation("get", f"{API}/job-queue-status/history",
              "Per queue, jobs that completed, failed and were cancelled in each recent minute",
              {200: s.QueueHistoryOut, 304: None}, query=s.HistoryQuery,
              errors=(400, 401, 403)),
    Operation("get", f"{API}/jobs", "Recent jobs, newest first, with cursor paging",
              {200: s.JobListOut, 304: None}, query=s.JobListQuery, errors=(400, 401, 403)),
    Operation("post", f"{API}/jobs/bulk/retry",
              "Retry every failed or cancelled job a filter matches (not retried yet)",
              {202: s.BulkOut, 200: s.BulkOut}, body=s.BulkRequest,
              errors=(400, 401, 403, 415, 422)),
    Operation("post", f"{API}/jobs/bulk/cancel",
              "Cancel every pending or running job a filter matches",
              {202: s.BulkOut, 200: s.BulkOut}, body=s.BulkRequest,
              errors=(400, 401, 403, 415, 422)),
    Operation("post", f"{API}/jobs", "Start a job by type (safe to repeat with Idempotency-Key)",
              {202: s.JobOut, 200: s.JobOut}, body=s.CreateJobRequest,
              errors=(400, 401, 409, 415, 503),
              extra={"parameters": [{"name": "Idempotency-Key", "in": "header",
                                     "schema": {"type": "string", "maxLength": 200}}]}),
    Operation("get", f"{API}/jobs/active",
              "Jobs of the last hour that are pending or processing, or finished in the last "
              "5 minutes", {200: "JobArray"}, errors=(400, 401)),
    Operation("get", f"{API}/jobs/counts", "How many jobs are pending and processing",
              {200: s.ActiveCountsOut}, query=s.ScopeQuery, errors=(400, 401, 403)),
    Operation("get", f"{API}/jobs/{{job_id}}", "One job with its history and log",
              {200: s.JobDetailOut, 304: None}, path_params=(JOB_ID,), errors=(400, 401, 404)),
    Operation("get", f"{API}/jobs/{{job_id}}/file", "Download the file a job made (an export)",
              {200: "csv"}, path_params=(JOB_ID,), errors=(400, 401, 404)),
    Operation("post", f"{API}/jobs/{{job_id}}/cancel",
              "Cancel: a pending job at once, a running one at its next check",
              {202: s.JobOut}, path_params=(JOB_ID,), errors=(400, 401, 404, 409)),
    Operation("post", f"{API}/jobs/{{job_id}}/retry",
              "Retry a job that ended in error or was cancelled, as a new job",
              {202: s.JobOut}, path_params=(JOB_ID,), errors=(400, 401, 404, 409, 503)),
    Operation("post", f"{API}/imports/files",
              "Upload a CSV of contacts (multipart field `file`) and import it",
              {202: s.JobOut}, multipart=True, errors=(400, 401, 413, 415, 503)),
    Operation("get", f"{API}/integrations", "The caller's provider connections (never keys)",
              {200: "IntegrationArray"}, errors=(400, 401)),
    Operation("post", f"{API}/integrations",
              "Connect FUB or reZEN: checks the key with the provider, starts the first sync",
              {201: s.ConnectedOut}, body=s.ConnectRequest,
              errors=(400, 401, 415, 422, 502, 503)),
    Operation("delete", f"{API}/integrations/{{provider}}",
              "Disconnect a provider (synced data stays)", {200: s.DeletedOut},
              path_params=(PROVIDER,), errors=(400, 401, 404)),
    Operation("post", f"{API}/integrations/{{provider}}/sync",
              "Sync now, or get the sync already pending or running",
              {202: s.JobOut, 200: s.JobOut}, path_params=(PROVIDER,),
              errors=(400, 401, 404, 503)),
    Operation("get", f"{API}/me", "Who the token belongs to", {200: s.MeOut},
              errors=(400, 401)),
    Operation("get", f"{API}/users", "Operators: the users, with their jobs by status",
              {200: s.UserListOut}, query=s.UserListQuery, errors=(400, 401, 403)),
    Operation("get", f"{API}/schedules",
              "What beat runs (operators) and when the user's integrations sync next",
              {200: s.SchedulesOut}, query=s.ScopeQuery, errors=(400, 401, 403)),
    Operation("get", "/dashboard", "The dashboard page (it signs in with a token itself)",
              {200: "html"}, errors=(), public=True),
    Operation("get", "/dashboard/jobs/{job_id}", "The dashboard, opened on one job",
              {200: "html", 404: "html"}, path_params=(JOB_ID,), errors=(), public=True),
    Operation("get", f"{API}/openapi.json", "This document", {200: "object"}, errors=(),
              public=True),
    Operation("get", "/healthz", "Whether the database, broker and journal answer",
              {200: s.HealthOut, 503: s.HealthOut}, errors=(), public=True),
    Operation("get", "/metrics", "Prometheus metrics", {200: "text"}, errors=(), public=True),
)

SCHEMA_MODELS: tuple[type[BaseModel], ...] = (
    s.QueueStatusOut, s.JobListOut, s.JobOut, s.JobDetailOut, s.ActiveCountsOut,
    s.CreateJobRequest, s.ErrorOut, s.HealthOut, s.ConnectRequest, s.ConnectedOut,
    s.IntegrationOut, s.DeletedOut, s.QueueHistoryOut, s.BulkRequest, s.BulkOut,
    s.UserListOut, s.SchedulesOut, s.MeOut,
)


def _schemas() -> dict[str, Any]:
    _, top = models_json_schema([(m, "serialization") for m in SCHEMA_MODELS],
                                ref_template=REF)
    return top["$defs"]


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF)
    return [
        {"name": name, "in": "query", "required": name in schema.get("required", ()),
         "schema": {k: v for k, v in prop.items() if k not in ("title", "description")},
         **({"description": prop["description"]} if "description" in prop else {})}
        for name, prop in schema.get("properties", {}).items()
    ]


def _response(target: type[BaseModel] | str | None, description: str) -> dict[str, Any]:
    if target is None:
        return {"description": description}
    if target in MEDIA_TYPES:
        text = {MEDIA_TYPES[target]: {"schema": {"type": "string"}}}
        return {"description": description, "content": text}
    if target == "object":
        schema: dict[str, Any] = {"type": "object"}
    elif target in ("JobArray", "IntegrationArray"):
        item = "JobOut" if target == "JobArray" else "IntegrationOut"
        schema = {"type": "array", "items": {"$ref": REF.format(model=item)}}
    else:
        schema = {"$ref": REF.format(model=target.__name__)}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _operation(op: Operation) -> dict[str, Any]:
    spec: dict[str, Any] = {"summary": op.summary, "operationId": f"{op.method}_{op.path}"}
    parameters = list(op.path_params) + list(op.extra.get("parameters", []))
    if op.query is not None:
        parameters += _query_parameters(op.query)
    if parameters:
        spec["parameters"] = parameters
    if op.body is not None:
        spec["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": {"$ref": REF.format(model=op.body.__name__)}}}}
    if op.multipart:
        spec["requestBody"] = {"required": True, "content": {"multipart/form-data": {
            "schema": {"type": "object", "required": ["file"],
                       "properties": {"file": {"type": "string", "format": "binary"}}}}}}
    responses = {str(code): _response(target, DESCRIPTIONS.get(code, "See the body"))
                 for code, target in op.responses.items()}
    for code in op.errors:
        responses[str(code)] = _response(s.ErrorOut, ERRORS[code])
    spec["responses"] = responses
    if op.public:
        spec["security"] = []
    return spec


@functools.cache
def spec() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {"title": "jobplatform API", "version": "2",
                 "description": "Background jobs: queue status, recent jobs, history, actions."},
        "paths": paths,
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }
