"""Nothing is lost and counts stay true while parts of the platform die under load."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from jobplatform.extensions import db
from jobplatform.jobs import counts
from jobplatform.jobs.models import JobEvent
from tests import worker_tasks
from tests.support import wait_for

# Run again on another database or broker: see tests/conftest.py.
pytestmark = [pytest.mark.database, pytest.mark.broker]


def consistent_counts(store) -> tuple[dict, dict]:
    """Stored counters and a recount from rows, read in one snapshot."""
    db.session.rollback()
    if db.engine.dialect.name == "postgresql":
        db.session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    stored, actual = counts.stored_counts(db.session), counts.recount(db.session)
    db.session.rollback()
    return stored, actual


def test_killing_the_applier_under_load_loses_and_duplicates_nothing(
    store, user_id, worker, applier, redis_client
):
    jobs = [worker_tasks.noop.delay(user_id=user_id) for _ in range(300)]
    jobs += [worker_tasks.fail.delay(user_id=user_id) for _ in range(20)]
    jobs += [worker_tasks.flaky.delay(user_id=user_id, failures=1) for _ in range(10)]
    for _ in range(2):
        wait_for(lambda: redis_client.xlen("jobplatform:journal") > 0, message="journal traffic")
        applier.kill()  # SIGKILL, mid-batch or not
        applier.start()

    for result in jobs:
        store.wait_status(result.id, "complete", "error", timeout=60, process=applier)

    ids = [result.id for result in jobs]
    per_job = dict(store.query(
        sa.select(JobEvent.job_id, sa.func.count()).where(JobEvent.job_id.in_(ids))
        .group_by(JobEvent.job_id)
    ))
    assert {per_job[r.id] for r in jobs[:320]} == {3}  # pending, processing, complete|error
    assert {per_job[r.id] for r in jobs[320:]} == {5}  # ... and one retry
    scoped = counts.read_counts(db.session, [counts.user_scope(user_id)])["general"]
    assert scoped == {"pending": 0, "processing": 0, "complete": 310, "error": 20,
                      "cancelled": 0}


def test_counts_equal_the_rows_after_a_mixed_run(store, user_id, worker, redis_client):
    results = [worker_tasks.noop.delay(user_id=user_id) for _ in range(30)]
    results.append(worker_tasks.fail.delay(user_id=user_id))
    results.append(worker_tasks.always_fails.delay(user_id=user_id))
    running = worker_tasks.sleep.delay(user_id=user_id, seconds=30)
    for result in results:
        store.wait_status(result.id, "complete", "error", timeout=30)
    store.wait_status(running.id, "processing")

    stored, actual = consistent_counts(store)

    assert stored == actual
    assert stored[(counts.user_scope(user_id), "general", "processing")] == 1
    assert stored[(counts.user_scope(user_id), "general", "complete")] == 30
    assert stored[(counts.user_scope(user_id), "general", "error")] == 2
    from jobplatform import celery

    celery.journal.request_cancel(running.id)
    store.wait_status(running.id, "cancelled")
