"""The jobs endpoints: listing and paging, history, starting, cancelling and retrying jobs."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from tests import worker_tasks
from tests.support import job_ids, seed_job

# Run again on another database or broker: see tests/conftest.py.
pytestmark = [pytest.mark.database, pytest.mark.broker]


def test_jobs_are_listed_newest_first_with_progress_and_errors(client, make_user):
    user = make_user()
    now = time.time()
    old = seed_job(user_id=user.id, at=now - 60, summary="Synced 45 contacts, 12 deals")
    failed = seed_job(user_id=user.id, at=now - 30, status="error", error="Rate limit exceeded")
    new = seed_job(user_id=user.id, at=now, status="pending")

    response = client.get("/api/v2/jobs", headers=user.headers)

    assert response.status_code == 200
    assert job_ids(response) == [new, failed, old]
    jobs = {job["id"]: job for job in response.json["jobs"]}
    assert jobs[old]["summary"] == "Synced 45 contacts, 12 deals"
    assert jobs[old]["duration_ms"] == 100
    assert jobs[failed]["error"] == {"type": "RateLimitExceeded",
                                     "message": "Rate limit exceeded"}
    assert jobs[new]["status"] == "pending"
    assert jobs[new]["started_at"] is None
    assert response.json["next_cursor"] is None


def test_each_filter_narrows_the_list(client, make_user):
    user = make_user()
    now = time.time()
    sync = seed_job(user_id=user.id, queue="fub_sync", job_type="fub_sync", at=now - 300)
    rezen = seed_job(user_id=user.id, queue="rezen_sync", job_type="rezen_sync", at=now - 200,
                     status="error", error="reZEN rejected the API key")
    export = seed_job(user_id=user.id, at=now - 100, summary="Exported 12 contacts")

    def listed(query: str) -> list[str]:
        response = client.get(f"/api/v2/jobs?{query}", headers=user.headers)
        assert response.status_code == 200, response.json
        return job_ids(response)

    assert listed("queue=fub_sync") == [sync]
    assert listed("type=rezen_sync") == [rezen]
    assert listed("status=error") == [rezen]
    assert listed("status=complete") == [export, sync]
    assert listed("q=rejected") == [rezen]  # the error message
    assert listed("q=EXPORTED") == [export]  # the summary, any case
    assert listed("q=100%25") == []  # a literal %, not a wildcard
    since = datetime.fromtimestamp(now - 150, UTC).isoformat()
    assert listed(f"since={since.replace('+', '%2B')}") == [export]
    assert listed("queue=general&status=error") == []


def test_cursor_paging_stays_correct_while_jobs_arrive(client, make_user):
    user = make_user()
    base = time.time() - 1000
    first_five = [seed_job(user_id=user.id, at=base + n) for n in range(5)][::-1]
    page1 = client.get("/api/v2/jobs?limit=2", headers=user.headers)
    assert job_ids(page1) == first_five[:2]

    arrived = [seed_job(user_id=user.id, at=time.time() + n) for n in range(3)]
    page2 = client.get(f"/api/v2/jobs?limit=2&cursor={page1.json['next_cursor']}",
                       headers=user.headers)
    page3 = client.get(f"/api/v2/jobs?limit=2&cursor={page2.json['next_cursor']}",
                       headers=user.headers)

    assert job_ids(page2) == first_five[2:4]
    assert job_ids(page3) == first_five[4:]
    assert page3.json["next_cursor"] is None
    newest = client.get("/api/v2/jobs?limit=3", headers=user.headers)
    assert job_ids(newest) == arrived[::-1]


def test_job_detail_has_the_history_and_the_log(client, make_user, store, worker):
    user = make_user()
    started = client.post("/api/v2/jobs", headers=user.headers,
                          json={"type": "test_steps", "params": {"count": 3}})
    assert started.status_code == 202
    job_id = started.json["id"]
    store.wait_status(job_id, "complete", process=worker)

    detail = client.get(f"/api/v2/jobs/{job_id}", headers=user.headers).json

    assert detail["summary"] == "Did 3 steps"
    assert detail["progress"] == {"current": 3, "total": 3, "percent": 100.0,
                                  "unit": "steps", "message": "step 3", "rate": None,
                                  "eta_seconds": None}  # rate and ETA only while it runs
    assert detail["params"] == {"count": 3, "delay": 0.0}  # as validated, defaults filled
    assert [(e["from"], e["to"]) for e in detail["events"]] == [
        (None, "pending"), ("pending", "processing"), ("processing", "complete")]
    assert detail["events"][0]["actor"] == f"user:{user.id}"
    assert all(e["at"].endswith("Z") or e["at"].endswith("+00:00") for e in detail["events"])
    assert [line["message"] for line in detail["logs"]][:2] == ["starting", "finished step 1"]


def test_active_and_counts(client, make_user):
    user = make_user()
    now = time.time()
    running = seed_job(user_id=user.id, status="processing", at=now - 10)
    just_done = seed_job(user_id=user.id, status="complete", at=now - 20)
    long_done = seed_job(user_id=user.id, status="complete", at=now - 3000)  # over an hour ago
    pending = seed_job(user_id=user.id, status="pending", at=now)

    active = client.get("/api/v2/jobs/active", headers=user.headers)

    assert active.status_code == 200
    assert [job["id"] for job in active.json] == [pending, running, just_done]
    assert long_done not in [job["id"] for job in active.json]
    assert client.get("/api/v2/jobs/counts", headers=user.headers).json == {
        "pending": 1, "processing": 1}


def test_starting_a_job_validates_type_and_params(client, make_user):
    user = make_user()

    unknown = client.post("/api/v2/jobs", headers=user.headers, json={"type": "mine_bitcoin"})
    assert unknown.status_code == 400
    assert unknown.json["error"]["details"][0]["field"] == "type"
    assert "contacts_export" in unknown.json["error"]["details"][0]["problem"]

    bad = client.post("/api/v2/jobs", headers=user.headers,
                      json={"type": "contacts_export", "params": {"source": "myspace"}})
    assert bad.status_code == 400
    assert bad.json["error"]["details"][0]["field"] == "params.source"

    extra = client.post("/api/v2/jobs", headers=user.headers,
                        json={"type": "contacts_export", "params": {"user_id": 1}})
    assert extra.status_code == 400
    assert extra.json["error"]["details"][0]["field"] == "params.user_id"

    assert client.get("/api/v2/jobs", headers=user.headers).json["jobs"] == []


def test_an_idempotency_key_makes_a_start_safe_to_repeat(client, make_user, store, worker):
    user = make_user()
    headers = {**user.headers, "Idempotency-Key": "export-2026-11-23"}
    body = {"type": "contacts_export", "params": {"source": "csv"}}

    first = client.post("/api/v2/jobs", headers=headers, json=body)
    again = client.post("/api/v2/jobs", headers=headers, json=body)
    different = client.post("/api/v2/jobs", headers=headers,
                            json={"type": "contacts_export", "params": {}})

    assert first.status_code == 202
    assert again.status_code == 200
    assert again.json["id"] == first.json["id"]
    assert different.status_code == 409
    assert different.json["error"]["details"]["job_id"] == first.json["id"]
    other_user = make_user()
    theirs = client.post("/api/v2/jobs", json=body,
                         headers={**other_user.headers, "Idempotency-Key": "export-2026-11-23"})
    assert theirs.status_code == 202  # keys are per user
    assert len(client.get("/api/v2/jobs", headers=user.headers).json["jobs"]) == 1
    store.wait_status(first.json["id"], "complete", process=worker)


def test_cancelling_a_pending_job_is_immediate(client, make_user, store, worker):
    user = make_user()
    # Due in a minute: the worker holds it, and it stays pending until then.
    result = worker_tasks.steps.apply_async(kwargs={"user_id": user.id}, countdown=60)
    store.wait_status(result.id, "pending")

    response = client.post(f"/api/v2/jobs/{result.id}/cancel", headers=user.headers)

    assert response.status_code == 202
    assert response.json["status"] == "cancelled"
    events = store.events(result.id)
    assert events[-1][:3] == ("pending", "cancelled", f"user:{user.id}")
    again = client.post(f"/api/v2/jobs/{result.id}/cancel", headers=user.headers)
    assert again.status_code == 409
    assert again.json["error"]["details"] == {"status": "cancelled"}


def test_cancelling_a_running_job_stops_it_at_its_next_check(client, make_user, store, worker):
    user = make_user()
    job_id = client.post("/api/v2/jobs", headers=user.headers,
                         json={"type": "test_sleep", "params": {"seconds": 30}}).json["id"]
    store.wait_status(job_id, "processing", process=worker)

    response = client.post(f"/api/v2/jobs/{job_id}/cancel", headers=user.headers)

    assert response.status_code == 202
    assert response.json["status"] == "processing"
    assert response.json["cancel_requested"] is True
    job = store.wait_status(job_id, "cancelled", timeout=10, process=worker)
    assert job.finished_at is not None
    reasons = [(frm, to, actor) for frm, to, actor, _ in store.events(job_id)]
    assert ("processing", "processing", f"user:{user.id}") in reasons  # the request
    assert reasons[-1][:2] == ("processing", "cancelled")


def test_retrying_makes_a_new_linked_job_only_from_error_or_cancelled(
    client, make_user, store, worker
):
    user = make_user()
    failed_id = client.post("/api/v2/jobs", headers=user.headers,
                            json={"type": "test_fail", "params": {"message": "Boom"}}).json["id"]
    store.wait_status(failed_id, "error", process=worker)

    retried = client.post(f"/api/v2/jobs/{failed_id}/retry", headers=user.headers)

    assert retried.status_code == 202
    new_id = retried.json["id"]
    assert new_id != failed_id
    assert retried.json["retry_of"] == failed_id
    assert retried.json["type"] == "test_fail"
    store.wait_status(new_id, "error", process=worker)
    note = store.events(failed_id)[-1]
    assert note[2] == f"user:{user.id}"
    assert note[3] == f"retried as {new_id} by user:{user.id}"
    assert store.job(new_id).params == {"message": "Boom"}

    done = seed_job(user_id=user.id, status="complete")
    refused = client.post(f"/api/v2/jobs/{done}/retry", headers=user.headers)
    assert refused.status_code == 409
    assert "only a job that ended in error or was cancelled" in refused.json["error"]["message"]


def test_queue_status_lists_every_queue_in_order_and_equals_the_rows(
    client, make_user, store, worker
):
    user = make_user()
    started = [
        client.post("/api/v2/jobs", headers=user.headers, json=body).json["id"]
        for body in ({"type": "test_steps", "params": {"count": 1}},
                     {"type": "test_fail"},
                     {"type": "contacts_export"},
                     {"type": "test_steps", "params": {"count": 2}})
    ]
    for job_id in started:
        store.wait_status(job_id, "complete", "error", process=worker)
    seed_job(user_id=user.id, status="processing", queue="fub_onboarding",
             job_type="fub_onboarding")

    body = client.get("/api/v2/job-queue-status", headers=user.headers).json

    assert [(q["queue"], q["label"]) for q in body["queues"]] == [
        ("fub_onboarding", "FUB Onboard"), ("fub_sync", "FUB Sync"),
        ("rezen_sync", "reZEN Sync"), ("general", "General")]
    general = body["queues"][3]
    assert (general["complete"], general["error"]) == (3, 1)
    assert body["queues"][0]["processing"] == 1
    assert body["totals"] == {"pending": 0, "processing": 1, "complete": 3, "error": 1,
                              "cancelled": 0}
    rows = client.get("/api/v2/jobs?limit=200", headers=user.headers).json["jobs"]
    by_status = {s: sum(1 for job in rows if job["status"] == s) for s in body["totals"]}
    assert by_status == body["totals"]


def test_a_started_job_is_readable_the_moment_the_api_answers(client, make_user, store, worker):
    user = make_user()
    job_id = client.post("/api/v2/jobs", headers=user.headers,
                         json={"type": "test_sleep", "params": {"seconds": 0}}).json["id"]
    detail = client.get(f"/api/v2/jobs/{job_id}", headers=user.headers)
    assert detail.status_code == 200
    assert detail.json["status"] in ("pending", "processing", "complete")
    store.wait_status(job_id, "complete", process=worker)
    assert client.get(f"/api/v2/jobs/{job_id}", headers=user.headers).json["status"] == "complete"
