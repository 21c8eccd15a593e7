"""Pending jobs whose message the broker no longer holds: a broker restarted without its data,
or a process that died between recording a job and publishing it. The reaper publishes them
again, so an accepted job still ends complete, error or cancelled."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import redis
import sqlalchemy as sa
from celery import Celery
from sqlalchemy.orm import Session

from ..queues import QUEUE_NAMES
from .applier import applied_through, journal_tail
from .models import Job
from .status import JobStatus

# Only jobs waiting this long are looked for: younger ones may be between their record and
# their publish, or simply waiting their turn.
LOST_AFTER = timedelta(minutes=10)
# A job must be missing at two looks this far apart (two reaper runs): a worker that has
# taken a message but not yet noted it as unacknowledged, or has acknowledged it and not yet
# journaled the job's end, does so well within this.
CONFIRM_AFTER_SECONDS = 30.0
MISSING_KEY = "jobplatform:reaper:missing"  # job id -> when it was first missed
MISSING_TTL_SECONDS = 24 * 3600
SCAN_CHUNK = 1000
# Past this many messages the broker is not looked through (a deep backlog; next time).
SCAN_LIMIT = 200_000
APPLIED_WAIT_SECONDS = 10.0


def held_job_ids(app: Celery, queue_names: Iterable[str] = QUEUE_NAMES, *,
                 limit: int = SCAN_LIMIT) -> set[str] | None:
    """Ids of the jobs with a message waiting in one of `queue_names` or taken by a worker
    and not yet acknowledged. None when the broker is not Redis, or holds over `limit`."""
    with app.connection_for_read() as connection:
        if connection.transport.driver_type != "redis":
            return None
        channel: Any = connection.default_channel
        client: redis.Redis = channel.client
        # Kombu prefixes keys itself only for the commands it uses; LRANGE and HSCAN are not.
        prefix = getattr(channel, "global_keyprefix", "") or ""
        held: set[str] = set()
        seen = 0
        # Queues before the unacknowledged set: a message moves from the first to the second.
        for name in queue_names:
            for priority in channel.priority_steps:
                # `_q_for_pri` is how kombu names a queue's list for a priority.
                key = prefix + channel._q_for_pri(name, priority)
                # Kombu pushes at the head and pops at the tail, so reading on from the head
                # may see a message twice but never skips one that stays.
                start = 0
                while raws := client.lrange(key, start, start + SCAN_CHUNK - 1):
                    held.update(_job_id(raw) for raw in raws)
                    start += len(raws)
                    seen += len(raws)
                    if seen > limit:
                        return None
        for _, value in client.hscan_iter(prefix + channel.unacked_key, count=SCAN_CHUNK):
            held.add(_job_id(value, unacked=True))
            seen += 1
            if seen > limit:
                return None
    held.discard("")
    return held


def _job_id(raw: bytes, *, unacked: bool = False) -> str:
    """The task id in a kombu message as Redis keeps it (Celery's protocol 2 carries it in
    the headers); an unacknowledged one is kept as [message, exchange, routing key]."""
    try:
        message = orjson.loads(raw)
        headers = (message[0] if unacked else message).get("headers") or {}
    except (orjson.JSONDecodeError, AttributeError, IndexError, KeyError, TypeError):
        return ""  # not a Celery message: nothing of ours
    return str(headers.get("id") or "")


def lost_pending_jobs(session: Session, app: Celery, client: redis.Redis, *,
                      confirm_after: float = CONFIRM_AFTER_SECONDS,
                      limit: int = 1000) -> list[sa.Row] | None:
    """Jobs pending for over `LOST_AFTER` that the broker holds no message for, as rows of
    (id, task, user_id, params, queue); None when the broker cannot be looked through.

    A job counts as lost only once it was missing at an earlier look (by an earlier reaper
    run, remembered in Redis) at least `confirm_after` seconds ago as well as at this one,
    and is still pending once the journal is applied up to this look. A message in flight
    from a queue to a worker is in neither place for a moment, and a job acknowledged just
    before a look has its end in the journal already, so neither is taken for lost."""
    cutoff = datetime.now(UTC) - LOST_AFTER
    waiting_since = sa.func.coalesce(Job.heartbeat_at, Job.started_at, Job.created_at)
    stale = sa.and_(Job.status == JobStatus.PENDING, Job.created_at < cutoff,  # the index
                    waiting_since < cutoff)
    rows = session.execute(
        sa.select(Job.id, Job.task, Job.user_id, Job.params, Job.queue)
        .where(stale).order_by(Job.created_at).limit(limit)
    ).all()
    session.rollback()
    if not rows:
        client.delete(MISSING_KEY)
        return []
    held = held_job_ids(app)
    if held is None:
        return None
    tail = journal_tail(client)  # after the look: what the journal must be applied up to
    missing = {row.id for row in rows} - held
    now = time.time()
    first_missed = {key.decode(): float(value)
                    for key, value in client.hgetall(MISSING_KEY).items()}
    pipe = client.pipeline()
    pipe.delete(MISSING_KEY)
    if missing:
        pipe.hset(MISSING_KEY, mapping={job_id: first_missed.get(job_id, now)
                                        for job_id in missing})
        pipe.expire(MISSING_KEY, MISSING_TTL_SECONDS)
    pipe.execute()
    confirmed = {job_id for job_id in missing
                 if first_missed.get(job_id, now) <= now - confirm_after}
    if not confirmed:
        return []
    deadline = time.monotonic() + APPLIED_WAIT_SECONDS
    while not applied_through(client, tail):
        if time.monotonic() > deadline:
            return []  # the applier is behind or down: judge nothing on a stale store
        time.sleep(0.1)
    still_lost = set(session.scalars(sa.select(Job.id).where(Job.id.in_(confirmed), stale)))
    session.rollback()
    return [row for row in rows if row.id in still_lost]
