"""A worker host lost mid-job: its main process and pool SIGKILLed together.

The job really runs on a worker of its own (the session's worker stops consuming that queue
meanwhile), which is then killed. The reaper must see by liveness that the job runs on no
live worker, and within two of its looks either run it again (a sync is idempotent) or end
it `error` (WorkerLost); never leave it `processing`. On Redis the dead worker's message
is still unacknowledged, and would come back at the visibility timeout (an hour here); the
reaper puts it back at once since no live worker holds it, and that delivery must be a
no-op in the job's history, not a second run. (A killed *pool process*,
the worker surviving, is tests/test_tracking.py's: Celery itself requeues that job.)
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import orjson
import pytest

from jobplatform import celery
from tests.conftest import _subprocess_env, broker_is_redis
from tests.support import ManagedProcess, wait_for
from tests.test_scheduling import reap
from tests.test_sync_fub import connect

# Run again on another database or broker: see tests/conftest.py.
pytestmark = [pytest.mark.database, pytest.mark.broker]


@contextmanager
def doomed_worker(queue: str, session_worker: ManagedProcess, tmp_path) -> Iterator[
        ManagedProcess]:
    """A worker of its own on `queue`, while the session's worker leaves that queue to it."""
    name = f"doomed-{uuid.uuid4().hex[:6]}@localhost"
    process = ManagedProcess(
        "doomed", [sys.executable, "-m", "celery", "-A", "jobplatform", "worker", "-Q", queue,
                   "-c", "1", "-n", name, "-I", "tests.worker_tasks", "-l", "info",
                   "--without-mingle", "--without-gossip"],
        env=_subprocess_env(), log_path=tmp_path / "doomed.log")
    process.node_name = name
    celery.control.cancel_consumer(queue, destination=[session_worker.node_name], reply=True)
    try:
        process.start()
        wait_for(lambda: celery.control.ping(destination=[name], timeout=0.5), timeout=60,
                 message="the doomed worker to answer", process=process)
        yield process
    finally:
        process.kill()
        celery.control.add_consumer(queue, destination=[session_worker.node_name], reply=True)


def running_on(store, job_id: str, worker: ManagedProcess):
    job = store.job(job_id)
    return job if job and job.status == "processing" and job.worker == worker.node_name else None


def real_walk(store, job_id: str) -> list[str]:
    """The statuses a job went through; notes (which keep the status) left out."""
    return [to for before, to in store.transitions(job_id) if before != to]


def held_unacknowledged(job_id: str) -> bool:
    """Whether Redis still holds a message of the job as taken and not acknowledged."""
    with celery.connection_for_write() as connection:
        channel = connection.default_channel
        return any(orjson.loads(payload)[0]["headers"]["id"] == job_id
                   for payload in channel.client.hvals(channel.unacked_key))


def test_a_sync_whose_worker_host_died_runs_again_and_a_late_copy_is_a_no_op(
    client, make_user, store, worker, fub, api_key, tmp_path
):
    user = make_user()
    onboarding = connect(client, user, api_key)["job"]
    store.wait_status(onboarding["id"], "complete", timeout=60, process=worker)
    fub.configure(latency_ms=1500)  # a sync of several requests: long enough to be killed in
    with doomed_worker("fub_sync", worker, tmp_path) as doomed:
        started = client.post("/api/v2/integrations/fub/sync", headers=user.headers)
        job_id = started.json["id"]
        wait_for(lambda: running_on(store, job_id, doomed), timeout=30,
                 message="the sync to run on the doomed worker", process=doomed)
        doomed.kill()  # the host is gone: main process and pool at once
    fub.configure(latency_ms=0)

    first, second = reap(store, worker), reap(store, worker)
    job = store.wait_status(job_id, "complete", timeout=60, process=worker)

    walk = real_walk(store, job_id)
    assert walk[-1] == "complete"
    assert "error" not in walk
    if broker_is_redis():  # RabbitMQ hands the message on itself once the worker is gone
        assert (first.result["rerun"], second.result["rerun"]) == (0, 1)
        assert walk == ["pending", "processing", "pending", "processing", "complete"]
        requeued = store.events(job_id)[2]
        assert requeued[2] == "reaper"
        assert f"its worker {doomed.node_name} is gone" in requeued[3]
        assert job.worker == worker.node_name

        # The dead worker's own message, which Redis would hold for an hour, was put back
        # by the reaper as no live worker held it: delivered again, acknowledged unrun.
        [(before, after, actor, reason)] = wait_for(
            lambda: [event for event in store.events(job_id) if "not run" in (event[3] or "")],
            message="the dead worker's copy to be noted", process=worker)
        assert before == after  # a note, not a transition
        assert actor == f"worker:{worker.node_name}"
        assert "delivered again" in reason
        assert real_walk(store, job_id) == walk  # no second run
        assert store.job(job_id).status == "complete"
        assert not held_unacknowledged(job_id)


@pytest.mark.skipif(not broker_is_redis(), reason="RabbitMQ redelivers a dead consumer's "
                    "message at once, so the job runs again instead of being reaped")
def test_a_job_that_is_not_idempotent_ends_in_error_when_its_worker_host_died(
    client, make_user, store, worker, tmp_path
):
    user = make_user()
    gate = f"test-gate:{uuid.uuid4()}"
    with doomed_worker("general", worker, tmp_path) as doomed:
        job_id = client.post("/api/v2/jobs", headers=user.headers, json={
            "type": "test_gate", "params": {"gate": gate, "total": 5}}).json["id"]
        wait_for(lambda: running_on(store, job_id, doomed), timeout=30,
                 message="the job to run on the doomed worker", process=doomed)
        doomed.kill()

    reap(store, worker)
    assert store.job(job_id).status == "processing"  # missing at one look is not yet lost
    reap(store, worker)

    job = store.wait_status(job_id, "error", timeout=30, process=worker)
    assert job.error_type == "WorkerLost"
    assert f"its worker {doomed.node_name} is gone" in job.error_message
    wait_for(lambda: any("not run" in (event[3] or "") for event in store.events(job_id)),
             message="the dead worker's copy to be noted", process=worker)
    assert real_walk(store, job_id) == ["pending", "processing", "error"]  # not run again
    assert store.job(job_id).status == "error"
