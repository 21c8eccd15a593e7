"""The API the dashboard is built on: per-minute history, ETags, progress rate and ETA, bulk
actions, users, schedules, who am I, and the files jobs make."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from jobplatform.database import begin_write
from jobplatform.extensions import db
from jobplatform.jobs import bulk
from jobplatform.jobs.journal import EntryKind, entry
from jobplatform.jobs.minutes import minute_of
from jobplatform.jobs.models import Job
from jobplatform.jobs.store import apply_entries
from jobplatform.tasks.maintenance import prune_jobs
from tests.support import seed_job, wait_for

# Run again on another database or broker: see tests/conftest.py.
pytestmark = [pytest.mark.database, pytest.mark.broker]


def history_of(client, user, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    response = client.get(f"/api/v2/job-queue-status/history?{query}", headers=user.headers)
    assert response.status_code == 200, response.json
    return response.json


def test_history_counts_the_jobs_that_ended_in_each_minute(client, make_user, store):
    user = make_user()
    now = time.time()
    seed_job(user_id=user.id, at=now - 300, queue="fub_sync", job_type="fub_sync")
    seed_job(user_id=user.id, at=now - 300, queue="fub_sync", job_type="fub_sync",
             status="error")
    seed_job(user_id=user.id, at=now - 120, queue="fub_sync", job_type="fub_sync")
    seed_job(user_id=user.id, at=now - 120, status="cancelled")
    seed_job(user_id=user.id, at=now, status="pending")  # not ended: in no minute
    seed_job(user_id=user.id, at=now - 7200)  # ended before the window

    history = history_of(client, user, minutes=10)

    assert [q["queue"] for q in history["queues"]] == [
        "fub_onboarding", "fub_sync", "rezen_sync", "general"]
    assert all(len(q[s]) == 10 for q in history["queues"]
               for s in ("complete", "error", "cancelled"))
    start = datetime.fromisoformat(history["start"])
    # What a recount of the rows gives, minute by minute.
    expected: Counter = Counter()
    for queue, status, finished in store.query(
            sa.select(Job.queue, Job.status, Job.finished_at).where(
                Job.user_id == user.id, Job.finished_at.is_not(None))):
        index = minute_of(finished) - minute_of(start)
        if 0 <= index < 10:
            expected[(queue, status, index)] += 1
    shown = Counter({(q["queue"], status, i): n for q in history["queues"]
                     for status in ("complete", "error", "cancelled")
                     for i, n in enumerate(q[status]) if n})
    assert shown == expected
    assert sum(shown.values()) == 4
    assert sum(history["queues"][1]["error"]) == 1


def ended_in(body, moment: datetime) -> int:
    """How many jobs a history says completed in the minute of `moment`."""
    index = minute_of(moment) - minute_of(datetime.fromisoformat(body["start"]))
    assert 0 <= index < body["minutes"]
    return sum(q["complete"][index] for q in body["queues"])


def test_history_is_scoped_like_the_counts(client, make_user, store):
    alice, bob, admin = make_user(), make_user(), make_user(admin=True)

    def admin_views():
        """Every user's jobs, and every user's and the system's (other tests' among them)."""
        return (history_of(client, admin, minutes=60),
                history_of(client, admin, minutes=60, include_system="true"))

    # Ended half an hour ago: no job ends in that minute while the test runs (the worker's
    # end now), so what the admin's views gain there is this test's two jobs.
    at = time.time() - 1800
    everyone_before, with_system_before = admin_views()
    seed_job(user_id=alice.id, at=at)
    system = seed_job(user_id=None, job_type="prune_jobs", at=at)  # a system job
    ended = store.job(system).finished_at

    def total(body):
        return sum(sum(q["complete"]) for q in body["queues"])

    assert total(history_of(client, alice)) == 1
    assert total(history_of(client, bob)) == 0
    assert total(history_of(client, admin, user_id=alice.id)) == 1
    everyone, with_system = admin_views()
    assert ended_in(everyone, ended) - ended_in(everyone_before, ended) == 1  # alice's
    assert ended_in(with_system, ended) - ended_in(with_system_before, ended) == 2  # and system's
    other = client.get(f"/api/v2/job-queue-status/history?user_id={alice.id}",
                       headers=bob.headers)
    assert other.status_code == 403
    for bad in ("minutes=0", "minutes=1441", "minutes=x"):
        response = client.get(f"/api/v2/job-queue-status/history?{bad}", headers=alice.headers)
        assert response.status_code == 400
        assert response.json["error"]["details"][0]["field"] == "minutes"


def test_unchanged_views_answer_304_and_a_change_moves_the_etag(client, make_user):
    # The history's tag moves with the minute: start early in one, so it stays for the test.
    wait_for(lambda: time.time() % 60 < 40, timeout=30, message="the start of a minute")
    user, other = make_user(), make_user()
    job = seed_job(user_id=user.id, status="pending")
    views = ["/api/v2/job-queue-status", "/api/v2/jobs", "/api/v2/jobs?status=pending",
             "/api/v2/job-queue-status/history", f"/api/v2/jobs/{job}"]
    tags = {}
    for path in views:
        first = client.get(path, headers=user.headers)
        assert first.status_code == 200
        tags[path] = first.headers["ETag"]
        assert tags[path].startswith('W/"')
        assert "Authorization" in first.headers["Vary"]
        again = client.get(path, headers={**user.headers, "If-None-Match": tags[path]})
        assert again.status_code == 304, path
        assert again.data == b""

    # Another user's work changes nothing of this user's views.
    seed_job(user_id=other.id)
    for path in views:
        again = client.get(path, headers={**user.headers, "If-None-Match": tags[path]})
        assert again.status_code == 304, path

    # This user's job moving on changes every view of theirs.
    apply_entries(begin_write(db.session), [entry(job, EntryKind.PROCESSING, actor="test",
                                                  worker="w")])
    db.session.commit()
    for path in views:
        changed = client.get(path, headers={**user.headers, "If-None-Match": tags[path]})
        assert changed.status_code == 200, path
        assert changed.headers["ETag"] != tags[path]
    listed = client.get("/api/v2/jobs", headers=user.headers).json["jobs"]
    assert listed[0]["status"] == "processing"

    # An ETag is the caller's: another user's never matches (no leak through 304s).
    mine = client.get("/api/v2/jobs", headers=user.headers).headers["ETag"]
    theirs = client.get("/api/v2/jobs", headers={**other.headers, "If-None-Match": mine})
    assert theirs.status_code == 200


def test_a_running_job_reports_its_rate_and_eta(client, make_user, worker, redis_client, store):
    user = make_user()
    gate = f"gate:{uuid.uuid4().hex}"
    started = client.post("/api/v2/jobs", headers=user.headers, json={
        "type": "test_gate", "params": {"gate": gate, "total": 1000, "step_seconds": 0.1}})
    assert started.status_code == 202
    job_id = started.json["id"]
    try:
        def with_rate():
            progress = client.get(f"/api/v2/jobs/{job_id}", headers=user.headers).json["progress"]
            return progress if progress and progress["rate"] else None

        progress = wait_for(with_rate, timeout=20, message="a rate in the job's progress",
                            process=worker)
        # About ten items a second (one each 0.1 s, plus the time a step takes).
        assert 3 < progress["rate"] <= 11
        remaining = progress["total"] - progress["current"]
        assert progress["eta_seconds"] == round(remaining / progress["rate"])
        assert progress["unit"] == "items"
    finally:
        redis_client.set(gate, 1)
    done = store.wait_status(job_id, "complete", process=worker)
    ended = client.get(f"/api/v2/jobs/{job_id}", headers=user.headers).json["progress"]
    assert ended["current"] == ended["total"] == 1000
    assert ended["rate"] is None
    assert ended["eta_seconds"] is None
    assert done.summary == "Passed the gate with 1,000 items"


def bulk_call(client, user, action, **body):
    return client.post(f"/api/v2/jobs/bulk/{action}", headers=user.headers, json=body)


def test_bulk_retry_retries_each_failed_job_once_and_says_how_many(client, make_user, store,
                                                                   worker):
    user, other = make_user(), make_user()
    failed = [seed_job(user_id=user.id, status="error", task="jobplatform.general.test_noop",
                       job_type="test_noop") for _ in range(3)]
    seed_job(user_id=user.id, status="complete")
    seed_job(user_id=other.id, status="error", task="jobplatform.general.test_noop",
             job_type="test_noop")

    preview = bulk_call(client, user, "retry", status="error", dry_run=True)
    assert preview.status_code == 200
    assert (preview.json["matched"], preview.json["acted"]) == (3, 0)
    assert store.query(sa.select(Job.id).where(Job.retry_of.in_(failed))) == []  # nothing done

    done = bulk_call(client, user, "retry", status="error")
    assert done.status_code == 202
    assert (done.json["matched"], done.json["acted"], done.json["limit"]) == (3, 3, 10_000)
    retries = store.query(sa.select(Job.id, Job.retry_of).where(Job.retry_of.in_(failed)))
    assert sorted(r.retry_of for r in retries) == sorted(failed)
    for new_id, _ in retries:
        store.wait_status(new_id, "complete", process=worker)
    for old in failed:
        assert any(actor == f"user:{user.id}" and "bulk retry" in (reason or "")
                   for _, _, actor, reason in store.events(old))

    # Asked again, the same jobs are not retried twice.
    again = bulk_call(client, user, "retry", status="error")
    assert again.json["acted"] == 0
    # Another user's failed job was never touched.
    assert bulk_call(client, other, "retry", dry_run=True).json["matched"] == 1


def test_bulk_cancel_cancels_pending_and_stops_running_jobs(client, make_user, store, worker,
                                                            redis_client):
    user = make_user()
    gate = f"gate:{uuid.uuid4().hex}"
    running = client.post("/api/v2/jobs", headers=user.headers, json={
        "type": "test_gate", "params": {"gate": gate}}).json["id"]
    store.wait_status(running, "processing", process=worker)
    pending = seed_job(user_id=user.id, status="pending", queue="fub_sync", job_type="fub_sync")
    finished = seed_job(user_id=user.id, status="complete")
    try:
        done = bulk_call(client, user, "cancel")
        assert done.status_code == 202
        assert done.json["acted"] == 2
        assert store.job(pending).status == "cancelled"
        assert store.wait_status(running, "cancelled", process=worker)
    finally:
        redis_client.set(gate, 1)
    assert store.job(finished).status == "complete"
    assert ("pending", "cancelled", f"user:{user.id}") in [
        e[:3] for e in store.events(pending)]

    only_fub = bulk_call(client, user, "cancel", queue="fub_sync", dry_run=True)
    assert only_fub.json["matched"] == 0


def test_bulk_refuses_what_it_cannot_do_and_changes_nothing(client, make_user, store):
    user, other, admin = make_user(), make_user(), make_user(admin=True)
    failed = seed_job(user_id=user.id, status="error")
    cases = [
        ("retry", {"status": "complete"}, 400, "status"),
        ("cancel", {"status": "error"}, 400, "status"),
        ("retry", {"user_id": other.id}, 403, "user_id"),
        ("retry", {"limit": 5}, 400, "limit"),
        ("cancel", {"queue": "nope"}, 400, "queue"),
        ("retry", {"include_system": True}, 403, "include_system"),
    ]
    for action, body, status, field in cases:
        response = bulk_call(client, user, action, **body)
        assert response.status_code == status, (action, body, response.json)
        assert response.json["error"]["details"][0]["field"] == field
    assert store.job(failed).status == "error"
    assert store.query(sa.select(Job.id).where(Job.retry_of == failed)) == []
    not_json = client.post("/api/v2/jobs/bulk/retry", headers=user.headers, data="x")
    assert not_json.status_code == 415
    # An admin may act on one user's jobs.
    assert bulk_call(client, admin, "retry", user_id=user.id, dry_run=True).json["matched"] == 1


def test_bulk_actions_are_bounded(client, make_user):
    user = make_user()
    now = time.time()
    items = []
    for n in range(bulk.BULK_LIMIT + 1):
        job_id = str(uuid.uuid4())
        items.append(entry(job_id, EntryKind.PENDING, at=now - n, task="jobplatform.fub.sync",
                           type="fub_sync", queue="fub_sync", user_id=user.id, params={},
                           actor="seed"))
    apply_entries(begin_write(db.session), items)
    db.session.commit()

    try:
        response = bulk_call(client, user, "cancel")

        assert response.status_code == 422
        assert response.json["error"]["code"] == "too_many_jobs"
        assert "10,000" in response.json["error"]["message"]
        counts = client.get("/api/v2/jobs/counts", headers=user.headers).json
        assert counts["pending"] == bulk.BULK_LIMIT + 1  # nothing was cancelled
    finally:
        # These jobs have no message in the broker: left pending, the reaper tests would
        # find them lost.
        apply_entries(begin_write(db.session), [
            entry(item["id"], EntryKind.CANCELLED, actor="test") for item in items])
        db.session.commit()


def test_users_lists_everyone_with_job_counts_for_admins_only(client, make_user):
    admin, user = make_user(admin=True), make_user()
    seed_job(user_id=user.id, status="error")
    seed_job(user_id=user.id, status="pending")

    forbidden = client.get("/api/v2/users", headers=user.headers)
    assert forbidden.status_code == 403

    found = client.get(f"/api/v2/users?q={user.email[:8]}", headers=admin.headers)
    assert found.status_code == 200
    [listed] = found.json["users"]
    assert listed["id"] == user.id
    assert listed["email"] == user.email
    assert listed["jobs"] == {"pending": 1, "processing": 0, "complete": 0, "error": 1,
                              "cancelled": 0}
    assert "token" not in str(found.json).lower()

    page = client.get("/api/v2/users?limit=1", headers=admin.headers).json
    assert len(page["users"]) == 1
    assert page["next_cursor"]
    following = client.get(f"/api/v2/users?limit=1&cursor={page['next_cursor']}",
                           headers=admin.headers).json
    assert following["users"][0]["id"] > page["users"][0]["id"]
    assert client.get("/api/v2/users?cursor=x", headers=admin.headers).status_code == 400


def test_me_says_who_the_token_belongs_to(client, make_user):
    admin, user = make_user(admin=True), make_user()
    assert client.get("/api/v2/me", headers=user.headers).json == {
        "id": user.id, "email": user.email, "name": None, "is_admin": False}
    assert client.get("/api/v2/me", headers=admin.headers).json["is_admin"] is True
    assert client.get("/api/v2/me").status_code == 401


def test_schedules_show_beat_to_admins_and_a_users_next_sync(client, make_user, store, worker,
                                                              api_key):
    admin, user = make_user(admin=True), make_user()
    connected = client.post("/api/v2/integrations", headers=user.headers,
                            json={"provider": "rezen", "api_key": api_key})
    assert connected.status_code == 201
    job_id = connected.json["job"]["id"]
    store.wait_status(job_id, "complete", process=worker)

    mine = client.get("/api/v2/schedules", headers=user.headers).json
    assert mine["beat"] == []  # beat's entries are the operators'
    [rezen] = mine["integrations"]
    assert rezen["provider"] == "rezen"
    assert rezen["interval_seconds"] == 900
    assert rezen["last_job"]["job_id"] == job_id
    last = datetime.fromisoformat(rezen["last_success_at"])
    due = datetime.fromisoformat(rezen["next_sync_at"])
    assert abs((due - last).total_seconds() - 900) < 1
    assert api_key not in str(mine)

    beat = client.get(f"/api/v2/schedules?user_id={user.id}", headers=admin.headers).json
    names = {entry["name"]: entry for entry in beat["beat"]}
    assert set(names) == {"schedule-fub-syncs", "schedule-rezen-syncs", "reap-lost-jobs",
                          "prune-ended-jobs"}
    assert names["schedule-fub-syncs"]["label"] == "FUB sync fan-out"
    assert names["schedule-fub-syncs"]["interval_seconds"] == 300
    assert beat["integrations"][0]["provider"] == "rezen"
    assert client.get(f"/api/v2/schedules?user_id={admin.id}",
                      headers=user.headers).status_code == 403


def test_a_beat_entrys_last_run_is_its_newest_job(client, make_user):
    admin = make_user(admin=True)
    job_id = seed_job(user_id=None, job_type="reap_jobs", task="jobplatform.general.reap_jobs")
    entries = client.get("/api/v2/schedules", headers=admin.headers).json["beat"]
    reaper = next(e for e in entries if e["name"] == "reap-lost-jobs")
    assert reaper["last_run"]["job_id"] == job_id
    due = datetime.fromisoformat(reaper["next_run_at"])
    assert due >= datetime.now(UTC).replace(microsecond=0)


def test_an_export_can_be_downloaded_until_its_job_is_pruned(client, make_user, store, worker,
                                                             app):
    user, other = make_user(), make_user()
    started = client.post("/api/v2/jobs", headers=user.headers,
                          json={"type": "contacts_export", "params": {}})
    job_id = started.json["id"]
    job = store.wait_status(job_id, "complete", process=worker)
    assert job.result["file"] == f"exports/{job_id}.csv"

    download = client.get(f"/api/v2/jobs/{job_id}/file", headers=user.headers)
    assert download.status_code == 200
    assert download.mimetype == "text/csv"
    assert "attachment" in download.headers["Content-Disposition"]
    assert download.data.decode().splitlines()[0].startswith("source,external_id,name")
    download.close()
    assert client.get(f"/api/v2/jobs/{job_id}/file", headers=other.headers).status_code == 404
    no_file = seed_job(user_id=user.id)
    missing = client.get(f"/api/v2/jobs/{no_file}/file", headers=user.headers)
    assert missing.status_code == 404
    assert "made no file" in missing.json["error"]["message"]

    # Pruned (its job ended long ago): the file goes with it.
    db.session.rollback()
    begin_write(db.session)
    db.session.execute(sa.update(Job).where(Job.id == job_id).values(
        finished_at=datetime(2000, 1, 1, tzinfo=UTC)))
    db.session.commit()
    pruned = prune_jobs.delay(retention_days=30)
    store.wait_status(pruned.id, "complete", process=worker)
    gone = client.get(f"/api/v2/jobs/{job_id}/file", headers=user.headers)
    assert gone.status_code == 404
    assert not (Path(app.instance_path) / "exports" / f"{job_id}.csv").exists()


def test_a_pruned_jobs_file_is_a_clear_404(client, make_user, app):
    user = make_user()
    job_id = seed_job(user_id=user.id)
    begin_write(db.session)
    db.session.execute(sa.update(Job).where(Job.id == job_id).values(
        result={"file": f"exports/{job_id}.csv"}))
    db.session.commit()
    response = client.get(f"/api/v2/jobs/{job_id}/file", headers=user.headers)
    assert response.status_code == 404
    assert "is gone" in response.json["error"]["message"]
    outside = seed_job(user_id=user.id)
    begin_write(db.session)
    db.session.execute(sa.update(Job).where(Job.id == outside).values(
        result={"file": "../secret_key"}))
    db.session.commit()
    escaped = client.get(f"/api/v2/jobs/{outside}/file", headers=user.headers)
    assert escaped.status_code == 404  # a result naming a file outside exports/ serves nothing


def test_job_detail_links_the_retries_of_a_job(client, make_user, worker, store):
    user = make_user()
    failed = seed_job(user_id=user.id, status="error", task="jobplatform.general.test_noop",
                      job_type="test_noop")
    retried = client.post(f"/api/v2/jobs/{failed}/retry", headers=user.headers).json["id"]
    detail = client.get(f"/api/v2/jobs/{failed}", headers=user.headers).json
    assert detail["retried_as"] == [retried]
    assert client.get(f"/api/v2/jobs/{retried}", headers=user.headers).json["retry_of"] == failed
    store.wait_status(retried, "complete", process=worker)
