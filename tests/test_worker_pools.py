"""The sync worker group on its threads pool: concurrent FUB syncs, tracked right, and many
syncs of one FUB account under its rate limit together (the limit shared in Redis)."""

from __future__ import annotations

import dataclasses
import re
import socket
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import redis
import sqlalchemy as sa
from flask import Flask

from jobplatform.extensions import db
from jobplatform.integrations import FubClient
from jobplatform.jobs import counts
from jobplatform.simulators import FubSimulator
from jobplatform.sync import crypto
from jobplatform.sync.models import Contact, Integration
from jobplatform.topology import SYNC_WORKERS
from tests.support import ManagedProcess, Store, wait_for

# Run again on another database or broker: see tests/conftest.py.
pytestmark = [pytest.mark.database, pytest.mark.broker]

# The worker consumes a queue of its own, so a prefork worker another test module started
# (the session's `worker`) cannot take these jobs.
QUEUE = f"pools-{uuid.uuid4().hex[:6]}"
THREADS = 8


@pytest.fixture(scope="module")
def thread_worker(
    applier: ManagedProcess,
    subprocess_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ManagedProcess]:
    """The sync group's worker as topology.py ships it (threads pool), on a test queue."""
    from jobplatform import celery

    group = dataclasses.replace(SYNC_WORKERS, name=QUEUE, queues=(QUEUE,), concurrency=THREADS)
    node = f"{group.name}@{socket.gethostname()}"
    process = ManagedProcess(
        "thread-worker",
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "jobplatform",
            "worker",
            *group.celery_args(),
            "-I",
            "tests.worker_tasks",
            "-l",
            "info",
            "--without-mingle",
            "--without-gossip",
        ],
        env=subprocess_env,
        log_path=tmp_path_factory.mktemp("logs") / "thread-worker.log",
        stop_timeout=30,
    )
    process.start()
    process.node_name = node
    wait_for(
        lambda: celery.control.ping(destination=[node], timeout=0.5),
        timeout=60,
        message=f"worker {node} answering ping",
        process=process,
    )
    yield process
    process.stop()


def integrate(app: Flask, api_key: str) -> int:
    """A user with an onboarded FUB integration using `api_key`; the user's id."""
    user_id = uuid.uuid4().int % 1_000_000_000 + 1
    now = datetime.now(UTC)
    db.session.rollback()
    db.session.add(
        Integration(
            user_id=user_id,
            provider="fub",
            api_key_encrypted=crypto.encrypt(app.config["SECRET_KEY"], api_key),
            key_fingerprint=crypto.fingerprint(api_key),
            account_id="1",
            enabled=True,
            onboarded_at=now,
            created_at=now,
            updated_at=now,
        )
    )
    db.session.commit()
    return user_id


def start_syncs(user_ids: list[int]) -> list[str]:
    from jobplatform.tasks.fub import sync

    return [sync.apply_async(kwargs={"user_id": u}, queue=QUEUE).id for u in user_ids]


def wait_complete(store: Store, job_ids: list[str], worker: ManagedProcess, timeout: float) -> list:
    def ended() -> list | None:
        jobs = [store.job(job_id) for job_id in job_ids]
        done = all(j is not None and j.status in ("complete", "error", "cancelled") for j in jobs)
        return jobs if done else None

    jobs = wait_for(ended, timeout=timeout, message="every sync to end", process=worker)
    assert [(j.status, j.error_message) for j in jobs] == [("complete", None)] * len(jobs)
    return jobs


def people_kept(fub: FubSimulator, api_key: str) -> int:
    """How many contacts a first sync stores: every person but those in the trash."""
    return sum(1 for p in fub.dataset(api_key)["people"] if p["stage"] != "Trash")


def contacts_of(user_id: int) -> int:
    db.session.rollback()
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(Contact).where(Contact.user_id == user_id)
    )


def most_at_once(jobs: list) -> int:
    """The most jobs that were running at the same moment."""
    return max(
        sum(1 for other in jobs if other.started_at <= job.started_at < other.finished_at)
        for job in jobs
    )


def counters_match_rows(user_ids: list[int]) -> bool:
    scopes = {counts.user_scope(u) for u in user_ids}
    db.session.rollback()
    stored = {k: n for k, n in counts.stored_counts(db.session).items() if k[0] in scopes}
    actual = {k: n for k, n in counts.recount(db.session).items() if k[0] in scopes}
    return stored == actual


def test_concurrent_fub_syncs_on_the_threads_pool_are_tracked(app, store, fub, thread_worker):
    fub.configure(latency_ms=100)  # each sync spends its time waiting on HTTP, as in life
    keys = [f"key-{uuid.uuid4().hex[:16]}" for _ in range(12)]
    user_ids = [integrate(app, key) for key in keys]

    job_ids = start_syncs(user_ids)
    jobs = wait_complete(store, job_ids, thread_worker, timeout=90)

    assert most_at_once(jobs) >= THREADS // 2  # they ran side by side, not one by one
    for job, user_id, key in zip(jobs, user_ids, keys, strict=True):
        assert store.transitions(job.id) == [
            (None, "pending"),
            ("pending", "processing"),
            ("processing", "complete"),
        ]
        assert job.worker == thread_worker.node_name
        assert job.queue == QUEUE
        assert job.user_id == user_id
        kept = people_kept(fub, key)
        assert job.result["contacts"]["created"] == kept == contacts_of(user_id)
        assert job.summary.startswith(f"Synced {kept:,} contacts")
        assert any(line.startswith("FUB: ") for line in store.logs(job.id))
    # The applier has folded in every transition once the jobs read complete.
    wait_for(
        lambda: counters_match_rows(user_ids),
        timeout=10,
        message="the counters to equal a recount of the rows",
    )


def test_many_syncs_of_one_account_stay_under_its_rate_limit(app, store, fub, thread_worker):
    # 12 requests per 2 s window for this key (the simulator halves 24 for a key sent without
    # X-System headers), and ten syncs of four requests each at once: 40 requests, so the
    # syncs must share the account's window to be answered without a single 429.
    fub.configure(rate_limit=24, window_seconds=2, latency_ms=20)
    shared_key = f"key-{uuid.uuid4().hex[:16]}"
    user_ids = [integrate(app, shared_key) for _ in range(10)]

    job_ids = start_syncs(user_ids)
    jobs = wait_complete(store, job_ids, thread_worker, timeout=120)

    stats = fub.stats(shared_key)
    assert stats["requests"] >= 40
    assert stats["rate_limited"] == 0
    assert most_at_once(jobs) >= 2
    kept = people_kept(fub, shared_key)
    assert all(contacts_of(u) == kept for u in user_ids)
    # They kept under it by waiting for the shared window, not by luck.
    waits = [
        float(m.group(1))
        for job in jobs
        for line in store.logs(job.id)
        if (m := re.search(r"waited ([0-9.]+)s for the rate limit", line))
    ]
    assert len(waits) == len(jobs)
    assert sum(waits) > 1.0


def test_clients_in_many_threads_share_one_window(redis_client: redis.Redis) -> None:
    with FubSimulator(seed=31, people=450, deals=5, rate_limit=20, window_seconds=1) as sim:
        key = f"key-{uuid.uuid4().hex[:16]}"
        walked: list[int] = []
        failures: list[BaseException] = []

        def walk() -> None:
            try:
                with FubClient(
                    key,
                    sim.base_url,
                    system="jobplatform",
                    system_key="sys",
                    shared_limit=redis_client,
                ) as client:
                    walked.append(sum(len(p.records) for p in client.people(include_trash=True)))
            except BaseException as exc:  # handed to the test below
                failures.append(exc)

        threads = [threading.Thread(target=walk) for _ in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

        assert failures == []
        assert walked == [450] * 12
        # 60 requests at 20 a second: at least two windows' wait, and never one refusal.
        assert sim.stats(key)["requests"] == 60
        assert sim.stats(key)["rate_limited"] == 0
        slots = redis_client.keys("jobplatform:ratelimit:fub:*")
        assert slots  # the window lives in Redis ...
        assert not any(key.encode() in name for name in slots)  # ... named without the key


def test_the_worker_command_lines_come_from_the_topology() -> None:
    from jobplatform.topology import GENERAL_WORKERS, WORKER_GROUPS

    assert {q for group in WORKER_GROUPS for q in group.queues} == {
        "fub_onboarding",
        "fub_sync",
        "rezen_sync",
        "general",
    }
    sync = SYNC_WORKERS.celery_args()
    assert sync[sync.index("-P") + 1] == "threads"
    assert int(sync[sync.index("-c") + 1]) >= 16
    general = GENERAL_WORKERS.celery_args(concurrency=3)
    assert general[general.index("-P") + 1] == "prefork"
    assert general[general.index("-c") + 1] == "3"


def test_a_soft_time_limit_holds_on_the_threads_pool(thread_worker, store, user_id):
    """Celery's threads pool enforces no time limits; a job's own steps do."""
    from tests import worker_tasks

    result = worker_tasks.sleep.apply_async(
        kwargs={"user_id": user_id, "seconds": 60}, queue=QUEUE, soft_time_limit=1
    )

    job = store.wait_status(result.id, "error", timeout=30, process=thread_worker)
    assert job.error_type == "SoftTimeLimitExceeded"
    assert (job.finished_at - job.started_at).total_seconds() < 10
