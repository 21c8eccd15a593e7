"""Starting syncs: never two at once per user and type, FUB syncs only after onboarding, the
beat fan-out, and the reaper of jobs whose worker vanished."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from jobplatform import celery
from jobplatform.extensions import db
from jobplatform.jobs.lost_messages import held_job_ids
from jobplatform.jobs.models import Job, JobEvent
from jobplatform.queues import QUEUE_NAMES
from jobplatform.sync.models import Integration
from jobplatform.sync.scheduling import ensure_sync
from jobplatform.tasks.maintenance import reap_jobs, schedule_syncs
from tests import worker_tasks
from tests.support import seed_job, wait_for

# Run again on another database or broker: see tests/conftest.py.
pytestmark = [pytest.mark.database, pytest.mark.broker]


def connect(client, user, api_key: str, provider: str) -> str:
    response = client.post("/api/v2/integrations", headers=user.headers,
                           json={"provider": provider, "api_key": api_key})
    assert response.status_code == 201, response.json
    return response.json["job"]["id"]


def jobs_of(user_id: int, job_type: str) -> list[Job]:
    db.session.rollback()
    return list(db.session.scalars(sa.select(Job).where(Job.user_id == user_id,
                                                        Job.type == job_type)))


def integration_id(user_id: int, provider: str) -> int:
    db.session.rollback()
    return db.session.scalar(sa.select(Integration.id).where(
        Integration.user_id == user_id, Integration.provider == provider))


def started_by_tick(tick_id: str) -> set[str]:
    """The jobs a fan-out run recorded, whoever's they are (their first event names the run)."""
    db.session.rollback()
    return set(db.session.scalars(sa.select(JobEvent.job_id).where(
        JobEvent.actor == f"scheduler (job {tick_id})", JobEvent.from_status.is_(None))))


def make_due(user_ids: list[int]) -> None:
    """As if their last sync were long ago."""
    from jobplatform.database import begin_write

    begin_write(db.session)
    db.session.execute(sa.update(Integration).where(Integration.user_id.in_(user_ids))
                       .values(last_success_at=None))
    db.session.commit()


def test_the_fan_out_starts_one_sync_per_due_user_and_never_a_second(
    client, make_user, store, worker, fub
):
    users = [make_user() for _ in range(3)]
    for user in users:
        store.wait_status(connect(client, user, f"fanout-{user.id}", "fub"), "complete",
                          timeout=60, process=worker)
    make_due([u.id for u in users])
    fub.configure(latency_ms=400)  # the syncs are still running when the second tick comes

    first = schedule_syncs.delay(provider="fub")
    first_job = store.wait_status(first.id, "complete", timeout=30, process=worker)
    second = schedule_syncs.delay(provider="fub")
    store.wait_status(second.id, "complete", timeout=30, process=worker)

    assert first_job.user_id is None  # a system job
    # The fan-out also starts the syncs of other tests' users that are due: its count is
    # judged against the jobs it recorded, and this test's users by their own syncs.
    started = started_by_tick(first.id)
    assert first_job.result["started"] == len(started)
    ours = set()
    for user in users:
        syncs = jobs_of(user.id, "fub_sync")
        assert len(syncs) == 1, [j.status for j in syncs]
        ours.add(syncs[0].id)
    assert ours <= started  # each started by the first tick ...
    assert not ours & started_by_tick(second.id)  # ... and none by the second
    for job_id in ours:
        store.wait_status(job_id, "complete", timeout=60, process=worker)


def test_concurrent_requests_for_a_sync_get_the_same_job(client, make_user, store, worker, fub,
                                                         app, api_key):
    user = make_user()
    store.wait_status(connect(client, user, api_key, "fub"), "complete", timeout=60,
                      process=worker)
    fub.configure(latency_ms=300)
    target = integration_id(user.id, "fub")
    results: list[tuple[str, bool]] = []

    def request_sync() -> None:
        with app.app_context():
            results.append(ensure_sync(db.session, target, actor="test"))
            db.session.remove()

    threads = [threading.Thread(target=request_sync) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len({job_id for job_id, _ in results}) == 1
    assert sum(new for _, new in results) == 1
    assert len(jobs_of(user.id, "fub_sync")) == 1
    store.wait_status(results[0][0], "complete", timeout=60, process=worker)


def test_no_fub_sync_before_onboarding_completes(client, make_user, store, worker, fub, api_key):
    fub.configure(people=1500, latency_ms=100)  # onboarding takes a while
    user = make_user()
    onboarding = connect(client, user, api_key, "fub")
    make_due([user.id])

    tick = schedule_syncs.delay(provider="fub")
    store.wait_status(tick.id, "complete", timeout=30, process=worker)
    sync_now = client.post("/api/v2/integrations/fub/sync", headers=user.headers)

    assert jobs_of(user.id, "fub_sync") == []
    assert sync_now.status_code == 200  # the running onboarding, not a new job
    assert sync_now.json["id"] == onboarding
    assert sync_now.json["type"] == "fub_onboarding"
    client.post(f"/api/v2/jobs/{onboarding}/cancel", headers=user.headers)
    store.wait_status(onboarding, "cancelled", timeout=30, process=worker)


def test_beat_runs_the_fan_outs_at_the_configured_intervals():
    schedule = celery.conf.beat_schedule
    assert schedule["schedule-fub-syncs"]["schedule"] == 300
    assert schedule["schedule-fub-syncs"]["kwargs"] == {"provider": "fub"}
    assert schedule["schedule-rezen-syncs"]["schedule"] == 900
    assert {entry["task"] for entry in schedule.values()} == {
        "jobplatform.general.schedule_syncs", "jobplatform.general.reap_jobs",
        "jobplatform.general.prune_jobs"}


def test_the_reaper_ends_jobs_running_nowhere_and_runs_such_syncs_again(
    make_user, store, worker, redis_client
):
    user = make_user()
    # Processing in the store, run by no worker: what a worker host that died leaves behind
    # (tests/test_worker_killed.py kills real ones).
    lost_export = seed_job(user_id=user.id, status="processing")
    lost_sync = seed_job(user_id=user.id, status="processing", queue="fub_sync",
                         job_type="fub_sync", task="jobplatform.fub.sync")
    gate = f"test-gate:{uuid.uuid4()}"
    running = worker_tasks.gate.delay(user_id=user.id, gate=gate)  # really running
    try:
        store.wait_status(running.id, "processing", process=worker)
        first = reap(store, worker)
        # Seen missing once: this test's jobs are left as they are (the counts are of every
        # user's jobs, and other tests may leave some that an earlier run saw missing).
        first_moves = reaper_moves(store, first)
        assert not {job_id for job_id, _, _ in first_moves} & {lost_export, lost_sync}
        assert (first.result["reaped"], first.result["rerun"]) == counts_of(first_moves)
        second = reap(store, worker)

        # This test's jobs were ended and run again by the second run; its counts (of the
        # whole store, where other tests leave lost jobs too) are the moves it made.
        moves = reaper_moves(store, second)
        assert (lost_export, "processing", "error") in moves
        assert (lost_sync, "processing", "pending") in moves
        assert (second.result["reaped"], second.result["rerun"]) == counts_of(moves)
        export = store.job(lost_export)
        assert (export.status, export.error_type) == ("error", "WorkerLost")
        assert "vanished" in export.error_message
        # The sync went back to its queue and ran again (here it finds no connection).
        rerun = store.wait_status(lost_sync, "error", timeout=30, process=worker)
        assert [to for _, to in store.transitions(lost_sync)][-3:] == [
            "pending", "processing", "error"]
        assert store.events(lost_sync)[2][2] == "reaper"
        assert rerun.error_type == "NotConnected"
        assert store.job(running.id).status == "processing"  # on a live worker: left alone
    finally:
        redis_client.set(gate, 1, ex=60)
    store.wait_status(running.id, "complete", process=worker)


def backdate(job_id: str, seconds: float) -> None:
    """As if the job had been recorded, and last heard of, that long ago."""
    from jobplatform.database import begin_write

    then = datetime.now(UTC) - timedelta(seconds=seconds)
    begin_write(db.session)
    db.session.execute(sa.update(Job).where(Job.id == job_id).values(
        created_at=then, heartbeat_at=then))
    db.session.commit()


def reap(store, worker, **kwargs) -> Job:
    """One reaper run through the worker, with a short confirmation so tests stay quick."""
    result = reap_jobs.delay(confirm_lost_after=0.5, **kwargs)
    return store.wait_status(result.id, "complete", timeout=60, process=worker)


def reaper_moves(store, run: Job) -> list[tuple[str, str | None, str]]:
    """(job id, from, to) of each move the reaper made while `run` (a reaper job) ran, in
    every user's jobs, oldest first."""
    return [tuple(row) for row in store.query(
        sa.select(JobEvent.job_id, JobEvent.from_status, JobEvent.to_status).where(
            JobEvent.actor == "reaper",
            JobEvent.at.between(run.started_at, run.finished_at)).order_by(JobEvent.id))]


def counts_of(moves: list[tuple[str, str | None, str]]) -> tuple[int, int]:
    """(ended, run again): what a reaper run's result should say of its `moves`."""
    return (sum(to == "error" for _, _, to in moves),
            sum((frm, to) == ("processing", "pending") for _, frm, to in moves))


def test_the_broker_scan_finds_messages_waiting_in_a_queue_and_taken_by_a_worker(
    store, worker, user_id, redis_client
):
    # Due in five minutes: the worker takes it at once and holds it, unacknowledged.
    taken = worker_tasks.steps.apply_async(kwargs={"user_id": user_id}, countdown=300)
    nobody = f"test-nobody-{uuid.uuid4().hex[:8]}"  # a queue no worker consumes
    waiting = celery.send_task("jobplatform.general.test_noop", kwargs={"user_id": user_id},
                               queue=nobody)
    try:
        wait_for(lambda: taken.id in held_job_ids(celery, []), message="the worker to take it")
        store.wait_status(waiting.id, "pending")  # recorded, so cancelling it below updates it
        assert {taken.id, waiting.id} <= held_job_ids(celery, [*QUEUE_NAMES, nobody])
        assert waiting.id not in held_job_ids(celery, QUEUE_NAMES)
        assert held_job_ids(celery, [*QUEUE_NAMES, nobody], limit=1) is None  # too many
    finally:
        redis_client.delete(nobody)
        celery.control.revoke(taken.id)
        cancel(waiting.id)


def cancel(job_id: str) -> None:
    from jobplatform.database import begin_write
    from jobplatform.jobs.journal import EntryKind, entry
    from jobplatform.jobs.store import apply_entries

    apply_entries(begin_write(db.session), [entry(job_id, EntryKind.CANCELLED, actor="test")])
    db.session.commit()


def test_the_reaper_publishes_again_a_pending_job_whose_message_was_lost(
    store, worker, user_id
):
    two_hours = 7200
    # Recorded, but its message is gone (a broker restarted without its data).
    lost = seed_job(user_id=user_id, status="pending", at=time.time() - two_hours,
                    job_type="test_noop")
    # Waiting as long, but its message is still held by the worker (due in five minutes).
    held = worker_tasks.steps.apply_async(kwargs={"user_id": user_id}, countdown=300)
    recent = None
    try:
        store.wait_status(held.id, "pending")
        backdate(held.id, two_hours)

        reap(store, worker)
        assert store.transitions(lost) == [(None, "pending")]  # missing once is not yet lost
        # Recorded since the reaper first saw this broker, and not yet in it: it may still
        # be on its way, so it is not judged for ten minutes.
        recent = seed_job(user_id=user_id, status="pending", job_type="test_noop")
        time.sleep(0.6)
        second = reap(store, worker)

        # Published again by the second run; its count (of the whole store, where other tests
        # leave jobs of their own) is the lost jobs it published again.
        moves = reaper_moves(store, second)
        assert (lost, "pending", "pending") in moves
        assert second.result["republished"] == sum(
            (frm, to) == ("pending", "pending") for _, frm, to in moves)
        store.wait_status(lost, "complete", timeout=30, process=worker)
        assert store.transitions(lost) == [(None, "pending"), ("pending", "pending"),
                                           ("pending", "processing"), ("processing", "complete")]
        _, _, actor, reason = store.events(lost)[1]
        assert actor == "reaper"
        assert "message was lost" in reason
        assert store.transitions(held.id) == [(None, "pending")]  # in the broker: left alone
        assert store.transitions(recent) == [(None, "pending")]  # too young to judge
    finally:
        celery.control.revoke(held.id)
        cancel(held.id)
        if recent:
            cancel(recent)


def test_a_job_whose_message_keeps_getting_lost_ends_in_error(store, worker, user_id):
    # A task no worker knows: each worker drops its message, so it is lost again and again.
    lost = seed_job(user_id=user_id, status="pending", at=time.time() - 7200,
                    job_type="test_unknown_to_workers")
    for times in range(1, 4):
        reap(store, worker)
        time.sleep(0.6)
        reap(store, worker)
        wait_for(lambda times=times: len(store.events(lost)) == 1 + times,
                 message="the reaper to publish it again")
        wait_for(lambda: lost not in held_job_ids(celery), message="the worker to drop it")
        backdate(lost, 7200)  # as if ten minutes had passed again
    reap(store, worker)
    time.sleep(0.6)
    reap(store, worker)

    job = store.wait_status(lost, "error", timeout=30, process=worker)
    assert job.error_type == "MessageLost"
    assert "jobplatform.general.test_unknown_to_workers" in job.error_message
    assert [to for _, to in store.transitions(lost)] == [
        "pending", "pending", "pending", "pending", "error"]
