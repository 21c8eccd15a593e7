"""The applier against the real Redis and database, on a stream of its own per test, so the
session's applier process is not involved: exactly-once, ordering, fencing, refused entries.
Outages (Redis and the database stopped or locked for real, under running processes) are
in test_outages.py."""

from __future__ import annotations

import time
import uuid

import pytest
import redis
import sqlalchemy as sa

from jobplatform.extensions import db
from jobplatform.jobs import counts
from jobplatform.jobs.applier import Applier
from jobplatform.jobs.journal import EntryKind, Journal, entry
from jobplatform.jobs.models import JobEvent

# Run again on another database or broker: see tests/conftest.py.
pytestmark = pytest.mark.database


@pytest.fixture
def stream(redis_client: redis.Redis) -> str:
    name = f"test:journal:{uuid.uuid4().hex}"
    yield name
    redis_client.delete(name, f"{name}:lease", f"{name}:term", f"{name}:dead")


@pytest.fixture
def engine(app) -> sa.Engine:
    return db.engine


@pytest.fixture
def journal(redis_client: redis.Redis, stream: str) -> Journal:
    return Journal(redis_client, stream=stream)


def lifecycle(journal: Journal, job_id: str, user_id: int) -> None:
    """What publisher and worker journal for one job that succeeds."""
    now = time.time()
    journal.append(entry(job_id, EntryKind.PENDING, at=now, task="jobplatform.general.x",
                         type="x", queue="general", user_id=user_id, actor="client"))
    journal.append(entry(job_id, EntryKind.PROCESSING, at=now + 0.001, actor="worker:w1",
                         worker="w1"))
    journal.append(entry(job_id, EntryKind.COMPLETE, at=now + 0.002, actor="worker:w1",
                         result={"n": 1}, summary="Done"))


def event_count(store, job_ids: list[str]) -> int:
    return store.query(sa.select(sa.func.count()).select_from(JobEvent)
                       .where(JobEvent.job_id.in_(job_ids)))[0][0]


def test_a_crash_between_commit_and_acknowledge_applies_nothing_twice(
    redis_client, stream, journal, engine, store, user_id
):
    job_ids = [str(uuid.uuid4()) for _ in range(20)]
    for job_id in job_ids:
        lifecycle(journal, job_id, user_id)

    first = Applier(redis_client, engine, stream=stream, batch_size=25)
    first.ensure_group()
    assert first.lead()
    batch = first._read(">")
    first._apply(batch)  # committed ... and then the process dies before XACK
    redis_client.delete(first.lease_key)  # its lease runs out

    second = Applier(redis_client, engine, stream=stream, batch_size=25)
    assert second.drain() == 60  # re-reads the unacknowledged batch, then the rest

    assert second.stats.skipped == 25
    assert event_count(store, job_ids) == 60
    assert {store.job(job_id).status for job_id in job_ids} == {"complete"}
    assert counts.read_counts(db.session, [counts.user_scope(user_id)])["general"] == {
        "pending": 0, "processing": 0, "complete": 20, "error": 0, "cancelled": 0,
    }


def test_a_paused_former_leader_can_neither_read_nor_commit(
    redis_client, stream, journal, engine, store, user_id
):
    job_id = str(uuid.uuid4())
    lifecycle(journal, job_id, user_id)
    stale = Applier(redis_client, engine, stream=stream, lease_ms=60_000)
    stale.ensure_group()
    assert stale.lead()
    held = stale._read(">")  # it read the batch, then paused for longer than its lease
    redis_client.delete(stale.lease_key)

    successor = Applier(redis_client, engine, stream=stream)
    assert successor.drain() == 3

    from jobplatform.jobs.applier import Deposed

    with pytest.raises(Deposed):
        stale._read(">")
    with pytest.raises(Deposed):
        stale._commit([], held[-1][0])
    assert store.transitions(job_id) == [
        (None, "pending"), ("pending", "processing"), ("processing", "complete"),
    ]


def test_an_entry_the_database_refuses_is_set_aside_and_the_rest_applied(
    redis_client, stream, journal, engine, store, user_id
):
    good, bad = str(uuid.uuid4()), str(uuid.uuid4())
    journal.append(entry(good, EntryKind.PENDING, task="t", type="t", queue="general",
                         user_id=user_id, actor="client"))
    # A user id beyond a 32-bit integer: PostgreSQL refuses it; SQLite takes it.
    journal.append(entry(bad, EntryKind.PENDING, task="t", type="t", queue="general",
                         user_id=2**40, actor="client"))
    redis_client.xadd(stream, {"e": b"{not json"})
    # Valid JSON that the lifecycle rules cannot read: retries must be a number.
    journal.append(entry(good, EntryKind.PENDING, task="t", retries="many", actor="x"))
    journal.append(entry(good, EntryKind.PROCESSING, actor="worker:w1"))

    applier = Applier(redis_client, engine, stream=stream)
    applier.drain()

    assert store.job(good).status == "processing"
    dead = [fields[b"why"].decode() for _, fields in
            redis_client.xrange(applier.dead_letter_stream)]
    assert dead[0].startswith("malformed: journal entry is not JSON")
    assert any("ValueError" in why and "many" in why for why in dead)
    if db.engine.dialect.name == "postgresql":
        assert store.job(bad) is None
        assert len(dead) == 3
    else:
        assert len(dead) == 2  # SQLite stores the 64-bit user id
    assert redis_client.xlen(stream) == 0
