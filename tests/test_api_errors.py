"""Bad input gets a clear JSON error and changes nothing; no request causes a 500."""

from __future__ import annotations

import pytest

from tests.support import seed_job

# Run again on another database or broker: see tests/conftest.py.
pytestmark = pytest.mark.database

JOB = "/api/v2/jobs"
LONG = "x" * 5000


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "field"), [
    # bodies
    ("post", JOB, {"data": "{not json", "content_type": "application/json"}, 400, None),
    ("post", JOB, {"data": "type=x", "content_type": "application/x-www-form-urlencoded"},
     415, None),
    ("post", JOB, {"json": ["contacts_export"]}, 400, None),
    ("post", JOB, {"json": {"type": 42}}, 400, "type"),
    ("post", JOB, {"json": {"type": "contacts_export", "params": "all"}}, 400, "params"),
    ("post", JOB, {"json": {"type": "contacts_export", "priority": 9}}, 400, "priority"),
    ("post", JOB, {"json": {"params": {}}}, 400, "type"),
    ("post", JOB, {"json": {"type": ""}}, 400, "type"),
    ("post", JOB, {"json": {"type": LONG}}, 400, "type"),
    ("post", JOB, {"json": {"type": "test_sleep", "params": {"seconds": "soon"}}}, 400,
     "params.seconds"),
    ("post", JOB, {"json": {"type": "test_sleep", "params": {"seconds": 10**9}}}, 400,
     "params.seconds"),
    ("post", JOB, {"json": {"type": "contacts_export"}, "headers": {"Idempotency-Key": LONG}},
     400, "Idempotency-Key"),
    # a NUL character, which PostgreSQL cannot store (found by the fuzzer on PostgreSQL)
    ("post", JOB, {"json": {"type": "contacts\u0000export"}}, 400, "type"),
    ("post", JOB, {"json": {"type": "test_steps", "params": {"note": "a\u0000b"}}}, 400,
     "params"),
    ("get", f"{JOB}?q=%00%C2%91", {}, 400, "q"),
    ("get", f"{JOB}?type=x%00", {}, 400, "type"),
    ("get", f"{JOB}?cursor=%00", {}, 400, "cursor"),
    # query strings
    ("get", f"{JOB}?limit=-1", {}, 400, "limit"),
    ("get", f"{JOB}?limit=0", {}, 400, "limit"),
    ("get", f"{JOB}?limit=201", {}, 400, "limit"),
    ("get", f"{JOB}?limit=99999999999999999999999", {}, 400, "limit"),
    ("get", f"{JOB}?limit=ten", {}, 400, "limit"),
    ("get", f"{JOB}?limit=5&limit=6", {}, 400, "limit"),
    ("get", f"{JOB}?cursor=garbage", {}, 400, "cursor"),
    ("get", f"{JOB}?cursor={LONG}", {}, 400, "cursor"),
    ("get", f"{JOB}?cursor=MjAyNi0xMS0yM3w=", {}, 400, "cursor"),
    ("get", f"{JOB}?status=exploded", {}, 400, "status"),
    ("get", f"{JOB}?queue=bitcoin", {}, 400, "queue"),
    ("get", f"{JOB}?since=yesterday", {}, 400, "since"),
    ("get", f"{JOB}?since=2026-11-23T10:00:00", {}, 400, "since"),  # no zone: ambiguous
    ("get", f"{JOB}?q=", {}, 400, "q"),
    ("get", f"{JOB}?q={LONG}", {}, 400, "q"),
    ("get", f"{JOB}?user_id=-5", {}, 400, "user_id"),
    ("get", f"{JOB}?user_id=abc", {}, 400, "user_id"),
    ("get", f"{JOB}?sort=oldest", {}, 400, "sort"),
    ("get", f"{JOB}?include_system=maybe", {}, 400, "include_system"),
    ("get", "/api/v2/job-queue-status?user_id=1.5", {}, 400, "user_id"),
    ("get", "/api/v2/jobs/active?queue=general", {}, 400, "queue"),
    # ids and routes
    ("get", f"{JOB}/not-a-uuid", {}, 404, None),
    ("get", f"{JOB}/{LONG}", {}, 404, None),
    ("get", f"{JOB}/00000000-0000-0000-0000-000000000000", {}, 404, None),
    ("post", f"{JOB}/1%27%20OR%201=1/cancel", {}, 404, None),
    ("post", f"{JOB}/00000000-0000-0000-0000-000000000000/retry", {}, 404, None),
    ("delete", JOB, {}, 405, None),
    ("put", f"{JOB}/00000000-0000-0000-0000-000000000000", {}, 405, None),
    ("get", "/api/v2/nothing-here", {}, 404, None),
])
def test_bad_input_gets_a_json_4xx_naming_what_is_wrong(client, make_user, method, path, kwargs,
                                                         status, field):
    user = make_user()
    headers = {**user.headers, **kwargs.pop("headers", {})}

    response = getattr(client, method)(path, headers=headers, **kwargs)

    assert response.status_code == status, response.json
    error = response.json["error"]
    assert error["code"]
    assert len(error["message"]) > 10
    if field is not None:
        assert field in [d["field"] for d in error["details"]], error
    assert client.get(JOB, headers=user.headers).json["jobs"] == []  # nothing was made


def test_acting_on_an_ended_job_changes_nothing(client, make_user, store):
    user = make_user()
    job_id = seed_job(user_id=user.id, status="complete")
    before = store.events(job_id)

    assert client.post(f"{JOB}/{job_id}/cancel", headers=user.headers).status_code == 409
    assert client.post(f"{JOB}/{job_id}/retry", headers=user.headers).status_code == 409

    assert store.events(job_id) == before


def test_a_non_api_path_also_answers_json(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"
