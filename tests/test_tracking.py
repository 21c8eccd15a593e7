"""Every job transition, tracked through a real broker, prefork worker, applier and database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid

import psutil
import pytest

from jobplatform import celery
from tests import worker_tasks
from tests.support import ROOT, wait_for

pytestmark = [pytest.mark.usefixtures("worker"), pytest.mark.database, pytest.mark.broker]


def test_a_job_moves_through_pending_processing_complete(store, user_id, worker):
    result = worker_tasks.steps.delay(user_id=user_id, count=5)

    job = store.wait_status(result.id, "complete", process=worker)

    assert store.transitions(result.id) == [
        (None, "pending"), ("pending", "processing"), ("processing", "complete"),
    ]
    assert (job.type, job.queue, job.user_id) == ("test_steps", "general", user_id)
    assert job.task == "jobplatform.general.test_steps"
    assert job.params == {"count": 5}
    assert job.result == {"steps": 5}
    assert job.summary == "Did 5 steps"
    assert (job.progress_current, job.progress_total, job.progress_unit) == (5, 5, "steps")
    assert job.created_at <= job.started_at <= job.finished_at
    assert job.worker == worker.node_name
    assert job.error_type is None


def test_job_ids_sort_in_the_order_jobs_were_published(store, user_id, worker):
    ids = [worker_tasks.steps.delay(user_id=user_id, count=1).id for _ in range(5)]
    for job_id in ids:
        store.wait_status(job_id, "complete", process=worker)

    assert [uuid.UUID(i).version for i in ids] == [7] * 5
    assert sorted(ids) == ids


def test_progress_and_log_lines_from_inside_a_task(store, user_id, worker):
    result = worker_tasks.steps.delay(user_id=user_id, count=4, delay=0.4)

    def halfway():
        job = store.job(result.id)
        return job if job and job.status == "processing" and job.progress_current else None

    seen = wait_for(halfway, message="progress while running", process=worker)
    assert seen.progress_total == 4
    assert 1 <= seen.progress_current < 4
    assert seen.message.startswith("step ")

    store.wait_status(result.id, "complete", process=worker)
    logs = store.logs(result.id)
    assert logs[0] == "starting"  # self.log(...)
    assert [line for line in logs if line.startswith("finished step")] == [
        f"finished step {n}" for n in range(1, 5)  # plain logging, captured
    ]


def test_the_publish_is_recorded_before_the_worker_starts(store, user_id, worker):
    results = [worker_tasks.noop.delay(user_id=user_id) for _ in range(40)]
    for result in results:
        store.wait_status(result.id, "complete", process=worker)
    for result in results:
        events = store.events(result.id)
        # The history is in journal order: pending is always first, from the publisher.
        assert [(frm, to) for frm, to, _, _ in events] == [
            (None, "pending"), ("pending", "processing"), ("processing", "complete"),
        ]
        assert events[0][2].startswith("client@")
        assert events[1][2] == f"worker:{worker.node_name}"


def test_a_task_published_with_celery_call_is_tracked(store, user_id, worker, subprocess_env):
    call = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "jobplatform", "call",
         "jobplatform.general.test_steps", "--kwargs", f'{{"user_id": {user_id}, "count": 2}}'],
        env=subprocess_env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    )
    job_id = call.stdout.strip().splitlines()[-1]
    assert uuid.UUID(job_id).version == 7  # time-ordered, like every publish's (jobs/ids.py)

    job = store.wait_status(job_id, "complete", process=worker)

    assert job.user_id == user_id
    assert job.summary == "Did 2 steps"
    assert store.transitions(job_id)[0] == (None, "pending")


def test_a_task_that_raises_ends_in_error_with_its_traceback(store, user_id, worker):
    result = worker_tasks.fail.delay(user_id=user_id)

    job = store.wait_status(result.id, "error", process=worker)

    assert (job.error_type, job.error_message) == ("ValueError", "Rate limit exceeded")
    assert "raise ValueError(message)" in job.traceback
    assert job.finished_at is not None
    assert store.transitions(result.id)[-1] == ("processing", "error")
    assert store.events(result.id)[-1][3] == "Rate limit exceeded"


def test_a_task_that_retries_then_succeeds(store, user_id, worker):
    result = worker_tasks.flaky.delay(user_id=user_id, failures=2)

    job = store.wait_status(result.id, "complete", process=worker)

    assert job.retries == 2
    assert job.result == {"attempts": 3}
    assert store.transitions(result.id) == [
        (None, "pending"),
        ("pending", "processing"), ("processing", "pending"),
        ("pending", "processing"), ("processing", "pending"),
        ("pending", "processing"), ("processing", "complete"),
    ]
    retry_reasons = [reason for frm, to, _, reason in store.events(result.id)
                     if (frm, to) == ("processing", "pending")]
    assert retry_reasons == [
        "retry 1: ConnectionError: provider timeout 1",
        "retry 2: ConnectionError: provider timeout 2",
    ]
    # The last error is kept on the job (docs/contracts.md "Statuses and lifecycle").
    assert job.error_message == "provider timeout 2"


def test_a_task_that_exhausts_its_retries_ends_in_error(store, user_id, worker):
    result = worker_tasks.always_fails.delay(user_id=user_id)

    job = store.wait_status(result.id, "error", process=worker)

    assert job.retries == 2
    assert (job.error_type, job.error_message) == ("RuntimeError", "Rate limit exceeded")
    assert [to for _, to in store.transitions(result.id)].count("processing") == 3


def test_revoking_a_pending_job_cancels_it(store, user_id, worker):
    blockers = [worker_tasks.sleep.delay(user_id=user_id, seconds=2) for _ in range(2)]
    for blocker in blockers:
        store.wait_status(blocker.id, "processing", process=worker)
    target = worker_tasks.steps.delay(user_id=user_id, count=1)
    store.wait_status(target.id, "pending")

    celery.control.revoke(target.id)

    job = store.wait_status(target.id, "cancelled", timeout=30, process=worker)
    assert store.transitions(target.id) == [(None, "pending"), ("pending", "cancelled")]
    assert store.events(target.id)[-1][3] == "revoked"
    assert job.started_at is None
    assert job.finished_at is not None
    for blocker in blockers:
        store.wait_status(blocker.id, "complete", process=worker)


def test_a_running_job_stops_when_cancel_is_requested(store, user_id, worker):
    result = worker_tasks.sleep.delay(user_id=user_id, seconds=20)
    store.wait_status(result.id, "processing", process=worker)

    celery.journal.request_cancel(result.id)

    job = store.wait_status(result.id, "cancelled", timeout=10, process=worker)
    assert store.transitions(result.id)[-1] == ("processing", "cancelled")
    assert job.finished_at is not None


def test_a_hard_time_limit_ends_the_job_in_error(store, user_id, worker):
    result = worker_tasks.hang.delay(user_id=user_id)

    job = store.wait_status(result.id, "error", timeout=30, process=worker)

    assert job.error_type == "TimeLimitExceeded"
    assert job.error_message.startswith("Hard time limit (1s) exceeded")
    assert store.transitions(result.id)[-1] == ("processing", "error")


def test_a_job_whose_worker_process_dies_is_requeued_and_completes(
    store, user_id, worker, redis_client
):
    marker = f"test-die-once:{uuid.uuid4()}"
    result = worker_tasks.die_once.delay(user_id=user_id, marker=marker)
    pid = int(wait_for(lambda: redis_client.get(marker), message="the task's pid"))
    assert pid in {child.pid for child in psutil.Process(worker.pid).children()}

    os.kill(pid, signal.SIGKILL)

    job = store.wait_status(result.id, "complete", timeout=30, process=worker)
    assert job.result["pid"] != pid
    assert store.transitions(result.id) == [
        (None, "pending"), ("pending", "processing"), ("processing", "pending"),
        ("pending", "processing"), ("processing", "complete"),
    ]
    requeue = store.events(result.id)[2]
    assert requeue[3].startswith("worker lost")
    assert "requeued" in requeue[3]
