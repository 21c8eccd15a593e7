"""The journal: an append-only Redis stream of job transitions, written by publishers and workers.

Writing a transition costs one XADD. The applier (jobs/applier.py) folds the stream into the
SQL job store in batches and acknowledges entries only after they are committed, so a
transition survives a database outage or an applier crash.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum
from time import time
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)

STREAM = "jobplatform:journal"
CANCEL_KEY = "jobplatform:cancel:{}"
CANCEL_TTL_SECONDS = 7 * 24 * 3600
BACKLOG_LIMIT = 10_000

Entry = dict[str, Any]


class EntryKind(StrEnum):
    """What a journal entry reports; the first six are status transitions."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETE = "complete"
    ERROR = "error"
    CANCELLED = "cancelled"
    REQUEUED = "requeued"
    CANCEL_REQUESTED = "cancel_requested"
    PROGRESS = "progress"
    LOG = "log"


def entry(job_id: str, kind: EntryKind, *, at: float | None = None, **fields: Any) -> Entry:
    """A journal entry; `at` is seconds since the epoch and defaults to now."""
    return {"id": job_id, "kind": kind.value, "at": time() if at is None else at, **fields}


def entry_time(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def encode(item: Entry) -> bytes:
    return json.dumps(item, separators=(",", ":"), default=str).encode()


def decode(raw: bytes) -> Entry:
    """An entry from its stream form; raises ValueError for anything malformed."""
    item = json.loads(raw)
    if not isinstance(item, dict):
        raise ValueError("journal entry is not an object")
    if not isinstance(item.get("id"), str) or not item["id"] or len(item["id"]) > 36:
        raise ValueError("journal entry has no valid job id")
    EntryKind(item.get("kind"))
    if not isinstance(item.get("at"), int | float):
        raise ValueError("journal entry has no time")
    return item


def connect(url: str) -> redis.Redis:
    """A Redis client for the journal; fails fast rather than stalling a task for long."""
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(
            f"the journal needs Redis, but its URL is {url.split('://')[0]}://...; "
            "set JOBPLATFORM_JOURNAL_URL to a redis:// URL when the broker is not Redis"
        )
    # A short, bounded retry: a task waits at most about a second on a Redis blip before its
    # entry is held in the backlog (see Journal) rather than stalling for long.
    return redis.Redis.from_url(
        url,
        socket_timeout=5,
        socket_connect_timeout=2,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 3),
    )


class Journal:
    """Appends entries to the stream; entries that fail to send are kept and sent next time."""

    def __init__(self, client: redis.Redis, *, stream: str = STREAM) -> None:
        self.client = client
        self.stream = stream
        self._backlog: deque[bytes] = deque(maxlen=BACKLOG_LIMIT)

    def append(self, item: Entry) -> None:
        """Record one entry; never raises, so tracking cannot fail the task it tracks."""
        self._backlog.append(encode(item))
        self._flush()

    def append_many(self, items: Iterable[Entry]) -> None:
        self._backlog.extend(encode(item) for item in items)
        self._flush()

    def _flush(self) -> None:
        try:
            if len(self._backlog) == 1:
                self.client.xadd(self.stream, {"e": self._backlog[0]})
            else:
                pipe = self.client.pipeline(transaction=False)
                for payload in self._backlog:
                    pipe.xadd(self.stream, {"e": payload})
                pipe.execute()
        except redis.RedisError as exc:
            # Kept in order for the next append; a pipeline that failed midway may send some
            # twice, which the applier's fold treats as repeats.
            log.warning("job journal unreachable, %d entries held: %s", len(self._backlog), exc)
            return
        self._backlog.clear()

    def request_cancel(self, job_id: str) -> None:
        """Flag a job so the task stops at its next check (see JobTask.check_cancelled)."""
        self.client.set(CANCEL_KEY.format(job_id), 1, ex=CANCEL_TTL_SECONDS)

    def cancel_requested(self, job_id: str) -> bool:
        return bool(self.client.exists(CANCEL_KEY.format(job_id)))

    def backlog(self) -> int:
        """How many entries are held in this process waiting for Redis."""
        return len(self._backlog)

