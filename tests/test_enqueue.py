"""Jobs created inside the platform (the API's path) are readable the moment enqueue returns."""

from __future__ import annotations

import pytest

from jobplatform.extensions import db
from jobplatform.jobs.enqueue import enqueue

# Run again on another database or broker: see tests/conftest.py.
pytestmark = [pytest.mark.database, pytest.mark.broker]


def test_an_enqueued_job_is_readable_at_once_and_tracked_to_the_end(store, user_id, worker):
    job_id = enqueue(db.session, "jobplatform.general.test_steps", user_id=user_id,
                     params={"count": 2}, actor=f"user:{user_id}", idempotency_key="k-1")

    job = store.job(job_id)  # no waiting: the row was committed before the publish
    assert job is not None
    assert (job.type, job.queue) == ("test_steps", "general")
    assert job.status in ("pending", "processing")  # a quick worker may have started it
    assert job.idempotency_key == "k-1"

    store.wait_status(job_id, "complete", process=worker)
    assert store.transitions(job_id) == [
        (None, "pending"), ("pending", "processing"), ("processing", "complete"),
    ]
    assert store.events(job_id)[0][2] == f"user:{user_id}"


def test_a_job_the_platform_recorded_goes_back_to_pending_when_it_retries(
    store, user_id, worker
):
    """A retry republishes the message with its headers, the "already recorded" mark
    included: the retry's pending must be journaled all the same (the demo's reZEN outage)."""
    job_id = enqueue(db.session, "jobplatform.general.test_flaky", user_id=user_id,
                     params={"failures": 1}, actor=f"user:{user_id}")

    job = store.wait_status(job_id, "complete", process=worker)

    assert job.retries == 1
    assert store.transitions(job_id) == [
        (None, "pending"), ("pending", "processing"), ("processing", "pending"),
        ("pending", "processing"), ("processing", "complete"),
    ]
    assert job.error_message == "provider timeout 1"
