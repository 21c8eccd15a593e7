"""Races, run for real: one Idempotency-Key sent by many clients at once, cancel racing
completion, two appliers one of which is paused while it leads, and two beats."""

from __future__ import annotations

import os
import signal
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import sqlalchemy as sa

from jobplatform.extensions import db
from jobplatform.jobs.models import Job, QueueCount
from tests.conftest import _subprocess_env
from tests.support import ManagedProcess, wait_for

# Run again on another database or broker: see tests/conftest.py.
pytestmark = [pytest.mark.database, pytest.mark.broker]

FINAL = {"complete", "error", "cancelled"}


def test_one_idempotency_key_sent_at_once_by_many_clients_makes_one_job(
    web_server, make_user, store, worker
):
    user = make_user()
    key = f"export-{uuid.uuid4().hex[:8]}"

    def post(_: int) -> httpx.Response:
        return httpx.post(f"{web_server.base_url}/api/v2/jobs", timeout=30,
                          headers={**user.headers, "Idempotency-Key": key},
                          json={"type": "test_steps", "params": {"count": 1}})

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(post, range(16)))

    assert sorted({a.status_code for a in answers}) in ([202], [200, 202]), \
        [(a.status_code, a.text) for a in answers]
    assert [a.status_code for a in answers].count(202) == 1
    assert len({a.json()["id"] for a in answers}) == 1
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Job).where(
        Job.user_id == user.id, Job.idempotency_key == key)) == 1
    store.wait_status(answers[0].json()["id"], "complete", process=worker)


def test_cancel_racing_completion_ends_each_job_once(client, make_user, store, worker):
    user = make_user()
    jobs = [client.post("/api/v2/jobs", headers=user.headers, json={
        "type": "test_steps", "params": {"count": 3, "delay": 0.01 * n}}).json["id"]
        for n in range(12)]

    def cancel(job_id: str) -> int:
        return httpx_cancel(client, user, job_id)

    for job_id in jobs:  # each cancel lands somewhere between its publish and its end
        assert cancel(job_id) in (202, 409)
    for job_id in jobs:
        job = store.wait_status(job_id, *FINAL, process=worker)
        # Notes (a late report ignored, a revoke seen) keep the status: not transitions.
        walk = [to for before, to in store.transitions(job_id) if before != to]
        assert walk[-1] == job.status
        assert sum(step in FINAL for step in walk) == 1, walk  # ended once, never reopened
    assert counts_equal_rows(user.id)


def httpx_cancel(client, user, job_id: str) -> int:
    return client.post(f"/api/v2/jobs/{job_id}/cancel", headers=user.headers).status_code


def counts_equal_rows(user_id: int) -> bool:
    db.session.rollback()
    rows = dict(db.session.execute(sa.select(Job.status, sa.func.count()).where(
        Job.user_id == user_id).group_by(Job.status)).all())
    counted = {status: count for status, count in db.session.execute(
        sa.select(QueueCount.status, sa.func.sum(QueueCount.count)).where(
            QueueCount.scope == f"user:{user_id}").group_by(QueueCount.status)).all() if count}
    db.session.rollback()
    return rows == counted


def test_a_paused_leading_applier_is_replaced_and_applies_nothing_twice(
    applier, make_user, client, store, worker, tmp_path
):
    user = make_user()
    standby = ManagedProcess("applier-2", [sys.executable, "-m", "jobplatform", "applier"],
                             env=_subprocess_env(), log_path=tmp_path / "applier-2.log")
    standby.start()
    os.kill(applier.pid, signal.SIGSTOP)  # the leader stops mid-whatever, lease and all
    try:
        jobs = [client.post("/api/v2/jobs", headers=user.headers, json={
            "type": "test_steps", "params": {"count": 2}}).json["id"] for _ in range(5)]
        # The standby takes over once the paused leader's lease (15 s) runs out.
        for job_id in jobs:
            store.wait_status(job_id, "complete", timeout=60, process=standby)
        assert "applier leading" in standby.log_path.read_text()
    finally:
        os.kill(applier.pid, signal.SIGCONT)  # it wakes up believing it leads
    more = [client.post("/api/v2/jobs", headers=user.headers, json={
        "type": "test_steps", "params": {"count": 2}}).json["id"] for _ in range(5)]
    for job_id in more:
        store.wait_status(job_id, "complete", timeout=60, process=standby)
    standby.stop()  # it resigns; the session's applier leads again
    last = client.post("/api/v2/jobs", headers=user.headers,
                       json={"type": "test_steps", "params": {"count": 1}}).json["id"]
    store.wait_status(last, "complete", timeout=60, process=applier)

    for job_id in (*jobs, *more, last):
        assert [to for _, to in store.transitions(job_id)] == [
            "pending", "processing", "complete"], job_id
    wait_for(lambda: counts_equal_rows(user.id), message="the counts to equal the rows")


def test_two_beats_running_by_mistake_start_one_sync_per_user(
    client, make_user, store, worker, fub, tmp_path
):
    from jobplatform.sync.models import Integration
    from tests.test_scheduling import connect, make_due

    users = [make_user() for _ in range(3)]
    for user in users:
        store.wait_status(connect(client, user, f"key-{uuid.uuid4().hex[:12]}", "fub"),
                          "complete", timeout=60, process=worker)
    make_due([user.id for user in users])
    fub.configure(latency_ms=1500)  # each sync lasts while many fan-outs run
    due_since = store.query(sa.select(sa.func.max(Job.created_at)))[0][0]
    # Each beat fans out FUB syncs every second, on its own schedule file (two hosts).
    env = {**_subprocess_env(), "JOBPLATFORM_FUB_SYNC_INTERVAL": "1",
           "JOBPLATFORM_REAP_INTERVAL": "3600", "JOBPLATFORM_PRUNE_INTERVAL": "3600"}
    beats = [ManagedProcess(f"beat-{n}", [sys.executable, "-m", "celery", "-A", "jobplatform",
                                          "beat", "-l", "info", "-s", str(tmp_path / f"s{n}")],
                            env=env, log_path=tmp_path / f"beat-{n}.log") for n in (1, 2)]
    for beat in beats:
        beat.start()

    def fan_outs_done() -> list[str]:
        rows = store.query(sa.select(Job.id).where(
            Job.type == "schedule_syncs", Job.created_at > due_since,
            Job.status == "complete"))
        return [row[0] for row in rows] if len(rows) >= 6 else []

    try:
        done = wait_for(fan_outs_done, timeout=60, message="six fan-outs from the two beats",
                        process=beats[0])
    finally:
        for beat in beats:
            beat.stop()
    # Both beats ticked, each publishing its own fan-outs.
    for beat in beats:
        assert "Sending due task schedule-fub-syncs" in beat.log_path.read_text(), beat.name
    assert all(store.events(job_id)[0][2] == "beat" for job_id in done)
    for user in users:
        syncs = store.query(sa.select(Job.id, Job.status).where(
            Job.user_id == user.id, Job.type == "fub_sync"))
        assert len(syncs) == 1, f"user {user.id} got {len(syncs)} syncs from two beats"
        store.wait_status(syncs[0][0], "complete", timeout=60, process=worker)
    assert store.query(sa.select(sa.func.count()).select_from(Integration).where(
        Integration.user_id.in_([u.id for u in users]), Integration.last_error.is_not(None))
    )[0][0] == 0
