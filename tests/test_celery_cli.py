"""The operator's `celery` command line against the real broker, worker and store: `inspect`,
`jobs` (the job store's summary, as the API gives it), and `purge` and `control revoke`,
which must leave the job store true."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest
import redis
import sqlalchemy as sa

from jobplatform import celery
from jobplatform.extensions import db
from jobplatform.jobs.models import Job
from jobplatform.tasks.maintenance import reap_jobs
from tests import worker_tasks
from tests.conftest import broker_is_redis
from tests.support import ROOT, wait_for

# Run again on another database or broker: see tests/conftest.py.
pytestmark = [pytest.mark.database, pytest.mark.broker]


def run_celery(env: dict[str, str], *args: str, timeout: float = 60) -> str:
    """`celery -A jobplatform ARGS` as an operator types it; its output (fails on an error)."""
    done = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "jobplatform", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"celery {' '.join(args)}: {done.stdout}\n{done.stderr}"
    return done.stdout


def backdate(job_id: str, seconds: float) -> None:
    """As if the job had been recorded, and last heard of, that long ago."""
    from jobplatform.database import begin_write

    then = datetime.now(UTC) - timedelta(seconds=seconds)
    begin_write(db.session)
    db.session.execute(
        sa.update(Job).where(Job.id == job_id).values(created_at=then, heartbeat_at=then)
    )
    db.session.commit()


def delete_queue(name: str) -> None:
    """Remove a queue a test made (RabbitMQ keeps an empty queue; Redis its bindings)."""
    with celery.connection_for_write() as connection:
        connection.default_channel.queue_delete(name)


def reap(store, worker, **kwargs):
    """One reaper run through the worker; each look confirms what it finds missing."""
    result = reap_jobs.delay(confirm_lost_after=0, **kwargs)
    return store.wait_status(result.id, "complete", timeout=60, process=worker).result


@pytest.mark.parametrize("command", ["active", "reserved", "scheduled", "active_queues", "stats"])
def test_inspect_commands_work_as_the_readme_shows(command, worker, subprocess_env):
    output = run_celery(subprocess_env, "inspect", command)

    assert worker.node_name in output


def test_celery_jobs_prints_the_counts_the_api_gives(
    store, worker, web_server, make_user, subprocess_env
):
    admin, user = make_user(admin=True), make_user()
    done = [worker_tasks.noop.delay(user_id=user.id) for _ in range(3)]
    failed = worker_tasks.fail.delay(user_id=user.id, message="FUB said no")
    for result in done:
        store.wait_status(result.id, "complete", process=worker)
    store.wait_status(failed.id, "error", process=worker)

    def api(**params) -> dict:
        response = httpx.get(
            f"{web_server.base_url}/api/v2/job-queue-status",
            params=params,
            headers=admin.headers,
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return {"queues": response.json()["queues"], "totals": response.json()["totals"]}

    def cli(*args: str) -> dict:
        report = orjson.loads(run_celery(subprocess_env, "jobs", "--json", *args))
        return {"queues": report["queues"], "totals": report["totals"]}

    report = orjson.loads(run_celery(subprocess_env, "jobs", "--json", "--user-id", str(user.id)))
    assert {"queues": report["queues"], "totals": report["totals"]} == api(user_id=user.id)
    general = next(q for q in report["queues"] if q["queue"] == "general")
    assert (general["complete"], general["error"]) == (3, 1)
    assert [job["id"] for job in report["failures"]] == [failed.id]
    assert report["failures"][0]["error"] == {"type": "ValueError", "message": "FUB said no"}
    # Every user's: other tests' jobs may still be ending, so the two agree once it is quiet.
    wait_for(lambda: cli() == api(), timeout=60, message="celery jobs and the API to agree")
    wait_for(
        lambda: cli("--system") == api(include_system="true"),
        timeout=60,
        message="celery jobs --system and the API to agree",
    )

    table = run_celery(subprocess_env, "jobs", "--user-id", str(user.id))
    assert failed.id in table
    assert "ValueError: FUB said no" in table
    general_line = next(line for line in table.splitlines() if line.startswith("General"))
    assert general_line.split()[1:] == ["0", "0", "3", "1", "0"]


def test_purged_jobs_end_cancelled_and_the_reaper_leaves_them(
    store, worker, user_id, subprocess_env
):
    queue = f"test-purge-{uuid.uuid4().hex[:8]}"  # no worker consumes it: messages wait
    jobs = [
        celery.send_task(
            "jobplatform.general.test_noop", kwargs={"user_id": user_id}, queue=queue
        ).id
        for _ in range(3)
    ]
    for job_id in jobs:
        store.wait_status(job_id, "pending")
    assert reap(store, worker)["purged"] == 0  # waiting in their queue: left alone

    try:
        output = run_celery(subprocess_env, "purge", "-Q", queue, "-f")
    finally:
        delete_queue(queue)

    assert "Purged 3 messages" in output
    for job_id in jobs:
        # Over the ten minutes after which a job with no message counts as lost.
        backdate(job_id, 7200)
    assert reap(store, worker)["purged"] == 3
    for job_id in jobs:
        job = store.wait_status(job_id, "cancelled")
        assert job.started_at is None
        assert store.events(job_id)[-1][2:] == ("reaper", "purged")
    # Looked at again and again, they stay as they are: never published again. (The
    # reaper's counts cover the whole store, where other tests leave jobs of their own.)
    assert reap(store, worker)["purged"] == 0
    reap(store, worker)
    for job_id in jobs:
        assert store.transitions(job_id) == [(None, "pending"), ("pending", "cancelled")]


@pytest.mark.skipif(
    not broker_is_redis(), reason="a Redis broker losing its data; RabbitMQ keeps durable messages"
)
def test_jobs_a_broker_lost_with_its_data_are_published_again_not_purged(store, worker, user_id):
    queue = f"test-lost-{uuid.uuid4().hex[:8]}"
    jobs = [
        celery.send_task(
            "jobplatform.general.test_noop", kwargs={"user_id": user_id}, queue=queue
        ).id
        for _ in range(2)
    ]
    for job_id in jobs:
        store.wait_status(job_id, "pending")
    reap(store, worker)  # seen waiting
    broker = redis.Redis.from_url(os.environ["JOBPLATFORM_BROKER_URL"])
    # What a restart without its data does to the broker's keys: the queue and the epoch go.
    broker.delete(queue, "jobplatform:broker:epoch")
    delete_queue(queue)
    for job_id in jobs:
        backdate(job_id, 7200)

    result = reap(store, worker)

    assert result["republished"] >= 2
    assert result["purged"] == 0
    for job_id in jobs:
        store.wait_status(job_id, "complete", timeout=30, process=worker)
        assert "message was lost" in store.events(job_id)[1][3]


def test_celery_control_revoke_cancels_a_pending_job_and_the_reaper_leaves_it(
    store, worker, user_id, subprocess_env, redis_client
):
    gate = f"gate:{uuid.uuid4().hex}"
    blockers = [
        worker_tasks.gate.delay(user_id=user_id, gate=gate, step_seconds=0.05) for _ in range(2)
    ]  # both pool processes busy until the gate opens
    for blocker in blockers:
        store.wait_status(blocker.id, "processing", process=worker)
    target = worker_tasks.steps.delay(user_id=user_id, count=1)
    store.wait_status(target.id, "pending")

    try:
        output = run_celery(subprocess_env, "control", "revoke", target.id)
    finally:
        redis_client.set(gate, 1)

    assert "flagged as revoked" in output  # the worker has it before it can start the job
    job = store.wait_status(target.id, "cancelled", timeout=30, process=worker)
    assert job.started_at is None
    _, _, actor, reason = store.events(target.id)[-1]
    assert actor.startswith("celery control revoke")
    assert reason == "revoked"
    backdate(target.id, 7200)
    assert reap(store, worker)["purged"] == 0
    assert store.transitions(target.id) == [(None, "pending"), ("pending", "cancelled")]
    for blocker in blockers:
        store.wait_status(blocker.id, "complete", process=worker)
