"""Health, metrics, and the OpenAPI document checked against what the API really serves.
Health with a dependency down is in test_outages.py, where Redis and the database are
stopped (or locked) for real."""

from __future__ import annotations

import re

import jsonschema
import pytest
from openapi_spec_validator import validate as validate_spec

from jobplatform.extensions import db
from jobplatform.jobs import counts
from tests.support import seed_job

# Run again on another database or broker: see tests/conftest.py.
pytestmark = [pytest.mark.database, pytest.mark.broker]


def test_health_is_ok_when_everything_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok",
                             "checks": {"database": "ok", "broker": "ok", "journal": "ok"}}


def test_metrics_report_the_counters_and_durations(client, make_user, store, worker):
    user = make_user()
    job_id = client.post("/api/v2/jobs", headers=user.headers,
                         json={"type": "test_steps", "params": {"count": 1}}).json["id"]
    store.wait_status(job_id, "complete", process=worker)
    seed_job(user_id=None, status="complete", job_type="prune_jobs")

    text = client.get("/metrics").get_data(as_text=True)

    stored = counts.stored_counts(db.session)
    metric = re.search(r'^jobplatform_jobs\{kind="user",queue="general",status="complete"\} '
                       r'(\S+)$', text, re.M)
    assert float(metric.group(1)) == stored[("all", "general", "complete")]
    assert re.search(r'^jobplatform_jobs\{kind="system",queue="general",status="complete"\} '
                     r'[1-9]', text, re.M)
    count = re.search(r'^jobplatform_job_duration_seconds_count\{queue="general"\} (\S+)$',
                      text, re.M)
    assert float(count.group(1)) >= 1
    assert 'jobplatform_job_duration_seconds_bucket{le="+Inf",queue="general"}' in text
    assert re.search(r"^jobplatform_journal_backlog \d", text, re.M)


@pytest.fixture
def openapi(client) -> dict:
    response = client.get("/api/v2/openapi.json")  # public: no token
    assert response.status_code == 200
    return response.json


def test_the_openapi_document_is_valid_and_covers_every_route(app, openapi):
    validate_spec(openapi)
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.endswith("static"):  # files, not API routes
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        served |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    described = {(path, method) for path, ops in openapi["paths"].items() for method in ops}
    assert served == described


def conforms(openapi: dict, path: str, method: str, status: int, response) -> None:
    """`response` has `status` and its body validates against what the document says."""
    assert response.status_code == status, (path, method, response.status_code, response.json)
    schema = (openapi["paths"][path][method]["responses"][str(status)]
              ["content"]["application/json"]["schema"])
    jsonschema.validate(response.json, {**schema, "components": openapi["components"]})


def test_responses_match_the_document(client, make_user, openapi, store, worker):
    user, admin = make_user(), make_user(admin=True)
    created = client.post("/api/v2/jobs", headers=user.headers,
                          json={"type": "test_steps", "params": {"count": 2}})
    conforms(openapi, "/api/v2/jobs", "post", 202, created)
    job_id = created.json["id"]
    store.wait_status(job_id, "complete", process=worker)
    failed = seed_job(user_id=user.id, status="error")

    for path, status in [("/api/v2/jobs", 200), ("/api/v2/job-queue-status", 200),
                         ("/api/v2/jobs/active", 200), ("/api/v2/jobs/counts", 200)]:
        conforms(openapi, path, "get", status, client.get(path, headers=user.headers))
    for job in (job_id, failed):
        detail = client.get(f"/api/v2/jobs/{job}", headers=admin.headers)
        conforms(openapi, "/api/v2/jobs/{job_id}", "get", 200, detail)
    retried = client.post(f"/api/v2/jobs/{failed}/retry", headers=user.headers)
    conforms(openapi, "/api/v2/jobs/{job_id}/retry", "post", 202, retried)
    for path, method, status, headers in [("/api/v2/jobs", "get", 401, {}),
                                          ("/api/v2/jobs/{job_id}", "get", 404, user.headers)]:
        response = getattr(client, method)(path.replace("{job_id}", "x"), headers=headers)
        conforms(openapi, path, method, status, response)
    conforms(openapi, "/healthz", "get", 200, client.get("/healthz"))
