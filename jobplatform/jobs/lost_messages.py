"""Pending jobs whose message the broker no longer holds, and why it is gone.

- Lost: a Redis broker restarted without its data, or a process that died between recording
  a job and publishing it. The reaper publishes these again, so an accepted job still ends
  complete, error or cancelled. Jobs are judged once they have waited `LOST_AFTER`, or at
  any age once the broker lost its data (a new epoch, below): every job recorded before the
  broker came back empty and held neither by it nor by a live worker lost its message, and
  waiting ten minutes more would only delay its run past its schedule's next tick.
- Purged: `celery purge` (or anything else) deleted waiting messages. Celery tells nobody, so
  the reaper infers it, and ends those jobs cancelled ("purged") rather than running them.

Telling the two apart on Redis: each look remembers which jobs had a message waiting in a
queue, and a token (the epoch) kept in the broker's own Redis. A message seen waiting at one
look, gone at the next without a worker holding it, while the job is still pending once the
journal is applied, left the queue without being delivered: purged, if the epoch is the same.
A broker that lost its data lost the epoch too (a purge deletes only queue lists), so its
jobs are lost, not purged; and a job whose message was never published was never seen
waiting. A worker that drops a message it cannot run (a task it does not know, mid-deploy)
marks the job (`DROPPED_KEY`), so that job is lost too and published again. What a purge
deletes before any look saw it waiting (published less than a reaper interval earlier) is
taken for lost and published again: with no footprint of the purge, that errs towards
running a job rather than dropping one that may never have been published.

On RabbitMQ nothing can be read out of a queue without consuming it, so the look is coarser:
a queue with no message ready and whose every consumer is a worker that answered `inspect`
holds exactly what those workers report (active, reserved, scheduled). Only jobs of such
drained queues are judged, once they have waited `LOST_AFTER`. RabbitMQ keeps durable
messages across restarts, so a message gone undelivered was deleted: such jobs end purged.
(A publisher dying inside its publish looks the same there, and ends cancelled too.)
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import redis
import sqlalchemy as sa
from amqp.exceptions import NotFound
from celery import Celery
from sqlalchemy.orm import Session

from ..queues import QUEUE_NAMES
from .applier import applied_through, journal_tail
from .models import Job, QueueCount
from .status import JobStatus

# Only jobs waiting this long are looked for as lost: younger ones may be between their
# record and their publish, or simply waiting their turn.
LOST_AFTER = timedelta(minutes=10)
# A job must be missing at two looks this far apart (two reaper runs): a worker that has
# taken a message but not yet noted it as unacknowledged, or has acknowledged it and not yet
# journaled the job's end, does so well within this.
CONFIRM_AFTER_SECONDS = 30.0
MISSING_KEY = "jobplatform:reaper:missing"  # job id -> when it was first missed
MISSING_TTL_SECONDS = 24 * 3600
# Delivery tag -> when its unacknowledged message was first seen held by no live worker.
ORPHANED_DELIVERIES_KEY = "jobplatform:reaper:orphaned-deliveries"
# Ids seen waiting in a queue at the last look, and the broker epoch of that look.
SEEN_KEY = "jobplatform:reaper:seen"
SEEN_EPOCH_KEY = "jobplatform:reaper:seen-epoch"
# Job id -> when its message was found gone from its queue, undelivered (see above).
VANISHED_KEY = "jobplatform:reaper:vanished"
# In the broker's Redis: gone with its data, never deleted by a purge.
EPOCH_KEY = "jobplatform:broker:epoch"
# Epoch -> when a look first saw it: about when the broker came back empty.
EPOCH_BORN_KEY = "jobplatform:reaper:epoch-born"
# Set by a worker that dropped a job's message without running it (jobs/tracking.py).
DROPPED_KEY = "jobplatform:dropped:{}"
DROPPED_TTL_SECONDS = 24 * 3600
SCAN_CHUNK = 1000
# Past this many messages the broker is not looked through (a deep backlog; next time).
SCAN_LIMIT = 200_000
APPLIED_WAIT_SECONDS = 10.0
INSPECT_TIMEOUT = 2.0


@dataclass(frozen=True)
class BrokerLook:
    """What the broker holds: ids waiting in a queue, ids taken by a worker and not yet
    acknowledged, and the queues whose content this covers fully (None: every queue)."""

    waiting: frozenset[str]
    taken: frozenset[str]
    epoch: str
    complete_queues: frozenset[str] | None = None

    @property
    def held(self) -> frozenset[str]:
        return self.waiting | self.taken

    def covers(self, queue: str) -> bool:
        return self.complete_queues is None or queue in self.complete_queues


@dataclass(frozen=True)
class MissingJob:
    """A pending job the broker holds no message for; `purged` says why (see the module)."""

    id: str
    task: str
    user_id: int | None
    params: dict[str, Any] | None
    queue: str
    purged: bool


def held_job_ids(app: Celery, queue_names: Iterable[str] = QUEUE_NAMES, *,
                 limit: int = SCAN_LIMIT) -> set[str] | None:
    """Ids of the jobs with a message waiting in one of `queue_names` or taken by a worker
    and not yet acknowledged. None when the broker is not Redis, or holds over `limit`."""
    look = _look_at_redis(app, queue_names, limit=limit)
    return None if look is None else set(look.held)


def look_at_broker(app: Celery, queue_names: Iterable[str] = QUEUE_NAMES, *,
                   limit: int = SCAN_LIMIT) -> BrokerLook | None:
    """What the broker holds for `queue_names`; None if it cannot be looked through."""
    with app.connection_for_read() as connection:
        driver = connection.transport.driver_type
    if driver == "redis":
        return _look_at_redis(app, queue_names, limit=limit)
    if driver == "amqp":
        return _look_at_amqp(app, queue_names)
    return None


def _look_at_redis(app: Celery, queue_names: Iterable[str], *,
                   limit: int) -> BrokerLook | None:
    with app.connection_for_read() as connection:
        if connection.transport.driver_type != "redis":
            return None
        channel: Any = connection.default_channel
        client: redis.Redis = channel.client
        # Kombu prefixes keys itself only for the commands it uses; LRANGE and HSCAN are not.
        prefix = getattr(channel, "global_keyprefix", "") or ""
        client.set(prefix + EPOCH_KEY, uuid.uuid4().hex, nx=True)
        epoch = client.get(prefix + EPOCH_KEY)
        waiting: set[str] = set()
        taken: set[str] = set()
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
                    waiting.update(_job_id(raw) for raw in raws)
                    start += len(raws)
                    seen += len(raws)
                    if seen > limit:
                        return None
        for _, value in client.hscan_iter(prefix + channel.unacked_key, count=SCAN_CHUNK):
            taken.add(_job_id(value, unacked=True))
            seen += 1
            if seen > limit:
                return None
    waiting.discard("")
    taken.discard("")
    return BrokerLook(frozenset(waiting), frozenset(taken), _text(epoch))


def _look_at_amqp(app: Celery, queue_names: Iterable[str]) -> BrokerLook | None:
    """RabbitMQ: what the workers hold, and which queues that covers (see the module)."""
    consuming = app.control.inspect(timeout=INSPECT_TIMEOUT).active_queues() or {}
    consumers_of: dict[str, int] = {}
    for queues in consuming.values():
        for queue in queues:
            consumers_of[queue["name"]] = consumers_of.get(queue["name"], 0) + 1
    # Queues before workers: a message moves from the first to the second.
    complete: set[str] = set()
    with app.connection_for_read() as connection:
        for name in queue_names:
            channel = connection.channel()
            try:
                _, ready, consumers = channel.queue_declare(queue=name, passive=True)
            except NotFound:  # never declared, or deleted: it holds nothing
                ready, consumers = 0, 0
            finally:
                channel.close()
            if ready == 0 and consumers <= consumers_of.get(name, 0):
                complete.add(name)
    taken: set[str] = set()
    if consuming:
        # The workers are known now: wait for exactly them rather than the whole timeout.
        inspect = app.control.inspect(timeout=INSPECT_TIMEOUT, destination=list(consuming),
                                      limit=len(consuming))
        for method in ("active", "reserved", "scheduled"):
            answer = getattr(inspect, method)() or {}
            if len(answer) < len(consuming):
                return None  # a worker did not say what it holds: judge nothing on half
            for tasks in answer.values():
                for task in tasks:
                    taken.add(str((task.get("request") or task).get("id") or ""))
    taken.discard("")
    return BrokerLook(frozenset(), frozenset(taken), "amqp", frozenset(complete))


def _text(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")


def _job_id(raw: bytes, *, unacked: bool = False) -> str:
    """The task id in a kombu message as Redis keeps it (Celery's protocol 2 carries it in
    the headers); an unacknowledged one is kept as [message, exchange, routing key]."""
    try:
        message = orjson.loads(raw)
        headers = (message[0] if unacked else message).get("headers") or {}
    except (orjson.JSONDecodeError, AttributeError, IndexError, KeyError, TypeError):
        return ""  # not a Celery message: nothing of ours
    return str(headers.get("id") or "")


def _queues_with_pending(session: Session) -> set[str]:
    """Every queue the counters say has a pending job (a job sent to a queue of its own)."""
    return set(session.scalars(sa.select(QueueCount.queue).distinct().where(
        QueueCount.status == JobStatus.PENDING, QueueCount.count > 0)))


def _note_vanished(session: Session, client: redis.Redis, look: BrokerLook) -> set[str]:
    """Remember the pending jobs whose message left its queue undelivered since an earlier
    look, and this look's waiting messages for the next; returns the jobs so remembered."""
    same_broker = _text(client.get(SEEN_EPOCH_KEY)) == look.epoch
    known: dict[str, float] = {}
    gone: set[str] = set()
    if same_broker:  # else the broker lost its data: nothing gone since was a purge
        known = {_text(k): float(v) for k, v in client.hgetall(VANISHED_KEY).items()}
        gone = {_text(raw) for raw in client.smembers(SEEN_KEY)} - look.held
    candidates = sorted(gone | set(known))
    pending: set[str] = set()
    for start in range(0, len(candidates), SCAN_CHUNK):
        chunk = candidates[start:start + SCAN_CHUNK]
        pending.update(session.scalars(sa.select(Job.id).where(
            Job.id.in_(chunk), Job.status == JobStatus.PENDING)))
    session.rollback()
    now = time.time()
    vanished = {job_id: known.get(job_id, now) for job_id in pending - look.held}
    pipe = client.pipeline()
    pipe.delete(VANISHED_KEY, SEEN_KEY)
    if vanished:
        pipe.hset(VANISHED_KEY, mapping=vanished)
        pipe.expire(VANISHED_KEY, MISSING_TTL_SECONDS)
    waiting = sorted(look.waiting)
    for start in range(0, len(waiting), SCAN_CHUNK):
        pipe.sadd(SEEN_KEY, *waiting[start:start + SCAN_CHUNK])
    pipe.set(SEEN_EPOCH_KEY, look.epoch)
    pipe.execute()
    return set(vanished)


def lost_pending_jobs(session: Session, app: Celery, client: redis.Redis, *,
                      confirm_after: float = CONFIRM_AFTER_SECONDS,
                      limit: int = 1000) -> list[MissingJob] | None:
    """Pending jobs the broker holds no message for: waiting over `LOST_AFTER`, or whose
    message was seen leaving its queue undelivered (purged, judged at any age). None when
    the broker cannot be looked through.

    A job counts as missing only once it was missing at an earlier look (by an earlier
    reaper run, remembered in Redis) at least `confirm_after` seconds ago as well as at this
    one, and is still pending once the journal is applied up to this look. A message in
    flight from a queue to a worker is in neither place for a moment, and a job acknowledged
    just before a look has its end in the journal already, so neither is taken for lost."""
    cutoff = datetime.now(UTC) - LOST_AFTER
    waiting_since = sa.func.coalesce(Job.heartbeat_at, Job.started_at, Job.created_at)
    stale = sa.and_(Job.created_at < cutoff, waiting_since < cutoff)  # created_at: the index

    def pending_rows(judged: sa.ColumnElement[bool]) -> list[sa.Row]:
        rows = session.execute(
            sa.select(Job.id, Job.task, Job.user_id, Job.params, Job.queue)
            .where(Job.status == JobStatus.PENDING, judged).order_by(Job.created_at)
            .limit(limit)
        ).all()
        session.rollback()
        return rows

    queues = set(QUEUE_NAMES) | _queues_with_pending(session)
    session.rollback()
    with app.connection_for_read() as connection:
        redis_broker = connection.transport.driver_type == "redis"
    # Redis is looked at every time, to see messages leave their queue; RabbitMQ (whose look
    # asks every worker) only when there is a job to judge.
    if not redis_broker and not pending_rows(stale):
        client.delete(MISSING_KEY)
        return []
    look = look_at_broker(app, sorted(queues))
    if look is None:
        return None
    tail = journal_tail(client)  # after the look: what the journal must be applied up to
    vanished = _note_vanished(session, client, look) if redis_broker else set()
    judged = stale
    if redis_broker:
        judged = sa.or_(judged, Job.created_at < _epoch_born(client, look.epoch))
    if vanished:
        judged = sa.or_(judged, Job.id.in_(sorted(vanished)[:limit]))
    pending = sa.and_(Job.status == JobStatus.PENDING, judged)
    rows = [row for row in pending_rows(judged) if look.covers(row.queue)]
    if not rows:
        client.delete(MISSING_KEY)
        return []
    missing = {row.id for row in rows} - look.held
    confirmed = confirm_missing(client, MISSING_KEY, missing, confirm_after)
    if not confirmed or not wait_applied(client, tail):
        return []  # (not applied: the applier is behind or down; judge nothing on a stale store)
    if redis_broker:
        # A worker keeps what it prefetched, and a retry's ETA, in memory: after Redis lost
        # its data, only the worker still has such a message.
        held = _held_by_workers(app)
        if held is None:
            return []
        confirmed -= held
    still = set(session.scalars(sa.select(Job.id).where(Job.id.in_(confirmed), pending)))
    session.rollback()
    found = [row for row in rows if row.id in still]
    dropped = client.pipeline()
    for row in found:
        dropped.exists(DROPPED_KEY.format(row.id))
    was_dropped = dropped.execute() if found else []
    return [
        MissingJob(row.id, row.task, row.user_id, row.params, row.queue,
                   purged=not by_worker and (row.id in vanished or not redis_broker))
        for row, by_worker in zip(found, was_dropped, strict=True)
    ]


def confirm_missing(client: redis.Redis, key: str, missing: set[str],
                    confirm_after: float) -> set[str]:
    """The ids of `missing` that were missing at an earlier look too, `confirm_after` seconds
    ago or more; the hash at `key` remembers when each was first missed, across looks. The
    ids returned are forgotten, as the caller acts on them: one missing again later (put
    back, and lost again) takes two fresh looks."""
    now = time.time()
    first_missed = {job_id.decode(): float(value)
                    for job_id, value in client.hgetall(key).items()}
    since = {job_id: first_missed.get(job_id, now) for job_id in missing}
    confirmed = {job_id for job_id, at in since.items() if at <= now - confirm_after}
    unconfirmed = {job_id: at for job_id, at in since.items() if job_id not in confirmed}
    pipe = client.pipeline()
    pipe.delete(key)
    if unconfirmed:
        pipe.hset(key, mapping=unconfirmed)
        pipe.expire(key, MISSING_TTL_SECONDS)
    pipe.execute()
    return confirmed


def _epoch_born(client: redis.Redis, epoch: str) -> datetime:
    """When a look first saw the broker's `epoch`: a job recorded before then, if the
    broker holds no message for it, is not waiting for its publish to arrive."""
    client.hsetnx(EPOCH_BORN_KEY, epoch, time.time())
    return datetime.fromtimestamp(float(client.hget(EPOCH_BORN_KEY, epoch) or time.time()), UTC)


def wait_applied(client: redis.Redis, tail: str | None) -> bool:
    """Wait (a little) until the applier has applied the journal up to `tail`."""
    deadline = time.monotonic() + APPLIED_WAIT_SECONDS
    while not applied_through(client, tail):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def restore_orphaned_deliveries(app: Celery, client: redis.Redis, *,
                                confirm_after: float = CONFIRM_AFTER_SECONDS) -> int | None:
    """On Redis: put back in their queues the messages a dead worker had taken (prefetched
    or running), which Redis would otherwise hold unacknowledged until the visibility
    timeout, an hour on. A message counts as orphaned once no live worker holds it (active,
    reserved or scheduled) at two looks `confirm_after` seconds apart; it is restored as the
    transport restores it, marked redelivered, so a copy of a job that has moved on is not
    run (jobs/redelivery.py). How many were restored; None if the workers could not all be
    asked. (RabbitMQ hands a dead consumer's messages on by itself.)"""
    with app.connection_for_write() as connection:
        if connection.transport.driver_type != "redis":
            return 0
        channel: Any = connection.default_channel
        prefix = getattr(channel, "global_keyprefix", "") or ""
        unacked = {tag.decode(): _job_id(value, unacked=True) for tag, value in
                   channel.client.hscan_iter(prefix + channel.unacked_key, count=SCAN_CHUNK)}
        if not unacked:
            client.delete(ORPHANED_DELIVERIES_KEY)
            return 0
        held = _held_by_workers(app)
        if held is None:
            return None
        orphaned = {tag for tag, job_id in unacked.items() if job_id and job_id not in held}
        confirmed = confirm_missing(client, ORPHANED_DELIVERIES_KEY, orphaned, confirm_after)
        for tag in confirmed:
            channel.qos.restore_by_tag(tag, leftmost=True)
        return len(confirmed)


def _held_by_workers(app: Celery) -> set[str] | None:
    """Ids of the jobs the live workers hold; None if no worker answered a ping (a message
    put back would find no one anyway), or one that answered did not say."""
    alive = app.control.ping(timeout=INSPECT_TIMEOUT) or []
    names = [name for reply in alive for name in reply]
    if not names:
        return None
    inspect = app.control.inspect(timeout=INSPECT_TIMEOUT, destination=names,
                                  limit=len(names))
    held: set[str] = set()
    for method in ("active", "reserved", "scheduled"):
        answer = getattr(inspect, method)() or {}
        if len(answer) < len(names):
            return None
        for tasks in answer.values():
            held.update(str((task.get("request") or task).get("id") or "") for task in tasks)
    return held


def mark_dropped(client: redis.Redis, job_id: str) -> None:
    """Note that a worker dropped this job's message unrun, so it is not taken for purged."""
    client.set(DROPPED_KEY.format(job_id), 1, ex=DROPPED_TTL_SECONDS)
