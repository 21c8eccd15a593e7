"""The journal: an append-only Redis stream of job transitions, written by publishers and workers.

Writing a transition costs at most one XADD (a short job's start travels with its end, see
`Journal.hold`). The applier (jobs/applier.py) folds the stream into the SQL job store in
batches and acknowledges entries only after they are committed, so a transition survives a
database outage or an applier crash.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson
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
    NOTE = "note"
    PROGRESS = "progress"
    LOG = "log"


def entry(job_id: str, kind: EntryKind, *, at: float | None = None, **fields: Any) -> Entry:
    """A journal entry; `at` is seconds since the epoch and defaults to now."""
    return {"id": job_id, "kind": kind.value, "at": time.time() if at is None else at, **fields}


def entry_time(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def encode(item: Entry) -> bytes:
    return orjson.dumps(item, default=str)


def decode(raw: bytes) -> Entry:
    """An entry from its stream form; raises ValueError for anything malformed."""
    try:
        item = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"journal entry is not JSON: {exc}") from None
    if not isinstance(item, dict):
        raise ValueError("journal entry is not an object")
    if not isinstance(item.get("id"), str) or not item["id"] or len(item["id"]) > 36:
        raise ValueError("journal entry has no valid job id")
    EntryKind(item.get("kind"))
    if not isinstance(item.get("at"), int | float):
        raise ValueError("journal entry has no time")
    started = item.get("started")
    if started is not None and not (
        isinstance(started, dict) and isinstance(started.get("at"), int | float)
    ):
        raise ValueError("journal entry has a malformed start")
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
    """Appends entries to the stream over a connection of its own, and never raises.

    A process talks to its one connection directly rather than through redis-py's pool, which
    costs less per entry; a threads pool's tasks share it under a lock. With `wait=False` an
    entry is written to the socket and its reply read later (with the next entry, or by the
    background flush): the task does not wait a round trip, and once written the bytes reach
    Redis even if the process is killed. Entries are kept until Redis confirms them, and on any
    error sent again, in order; a repeat is harmless, since the applier folds repeats away.

    `hold` keeps a job's `processing` entry for a moment: if the job's next entry comes within
    it (a short task finishing), the start travels inside that entry, so a short job costs one
    XADD and one applied entry for its start and end; otherwise the flush sends it on its own.
    """

    def __init__(self, client: redis.Redis, *, stream: str = STREAM,
                 flush_interval: float = 0.025, retry_seconds: float = 1.0) -> None:
        self.client = client
        self.stream = stream
        self.flush_interval = flush_interval
        self.retry_seconds = retry_seconds
        # XADD <stream> * e <payload> in Redis's wire format, up to the payload: packed by
        # hand because redis-py's general packer costs more than the rest of an append.
        name = stream.encode()
        self._xadd_prefix = b"*5\r\n$4\r\nXADD\r\n$%d\r\n%s\r\n$1\r\n*\r\n$1\r\ne\r\n" % (
            len(name), name)
        self._unsent: deque[bytes] = deque(maxlen=BACKLOG_LIMIT)
        self._unconfirmed: list[bytes] = []
        self._held: dict[str, tuple[float, Entry]] = {}
        self._retry_at = 0.0
        self._connection: redis.connection.AbstractConnection | None = None
        self._lock = threading.Lock()
        self._flusher: threading.Thread | None = None

    def append(self, item: Entry, *, wait: bool = True) -> None:
        """Record one entry, with its job's held start if there is one; with `wait=False`,
        return once it is written rather than confirmed."""
        with self._lock:
            held = self._held.pop(item["id"], None)
            if held is not None:
                item = {**item, "started": held[1]}
            self._release_held()  # any other job's start goes first, in order
            self._unsent.append(encode(item))
            self._send(wait)
            if self._unconfirmed:
                self._start_flusher()

    def hold(self, item: Entry, seconds: float) -> None:
        """Keep `item` up to `seconds` to merge into its job's next entry (see the class)."""
        with self._lock:
            self._held[item["id"]] = (time.monotonic() + seconds, item)
            self._start_flusher()

    def flush(self) -> None:
        """Send everything held and kept, and confirm it."""
        with self._lock:
            self._release_held()
            self._send(wait=True)

    def _release_held(self, due_before: float | None = None) -> None:
        for job_id, (due, item) in list(self._held.items()):
            if due_before is None or due <= due_before:
                del self._held[job_id]
                self._unsent.append(encode(item))

    def _send(self, wait: bool) -> None:
        try:
            connection = self._connection or self._connect()
            if self._unsent:
                payloads = list(self._unsent)
                connection.send_packed_command(
                    [b"".join(self._xadd_prefix + b"$%d\r\n%s\r\n" % (len(p), p)
                              for p in payloads)], check_health=False)
                self._unsent.clear()
                self._unconfirmed.extend(payloads)
            if wait or len(self._unconfirmed) >= BACKLOG_LIMIT // 10:
                for _ in self._unconfirmed:
                    connection.read_response()
                self._unconfirmed.clear()
        except (redis.RedisError, OSError) as exc:
            self._disconnect()
            self._unsent.extendleft(reversed(self._unconfirmed))
            self._unconfirmed.clear()
            self._retry_at = time.monotonic() + self.retry_seconds
            log.warning("job journal unreachable, %d entries held: %s", len(self._unsent), exc)
            self._start_flusher()

    def _connect(self) -> redis.connection.AbstractConnection:
        self._connection = self.client.connection_pool.make_connection()
        return self._connection

    def _disconnect(self) -> None:
        if self._connection is not None:
            self._connection.disconnect()
            self._connection = None

    def _start_flusher(self) -> None:
        if self._flusher is None or not self._flusher.is_alive():
            self._flusher = threading.Thread(target=self._flush_loop, name="journal-flush",
                                             daemon=True)
            self._flusher.start()

    def _flush_loop(self) -> None:
        """Send held starts when due, confirm what was written, retry what failed."""
        while True:
            time.sleep(self.flush_interval)
            now = time.monotonic()
            with self._lock:
                self._release_held(due_before=now)
                if self._unconfirmed or (self._unsent and now >= self._retry_at):
                    self._send(wait=True)

    def request_cancel(self, job_id: str) -> None:
        """Flag a job so the task stops at its next check (see JobTask.check_cancelled)."""
        self.client.set(CANCEL_KEY.format(job_id), 1, ex=CANCEL_TTL_SECONDS)

    def request_cancel_many(self, job_ids: list[str]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.set(CANCEL_KEY.format(job_id), 1, ex=CANCEL_TTL_SECONDS)
        pipe.execute()

    def cancel_requested(self, job_id: str) -> bool:
        """Whether someone asked the job to stop; while Redis cannot be reached, no: a job
        must not fail because its cancel flag could not be read (it is read again next
        step, and a cancel asked meanwhile waits in Redis)."""
        try:
            return bool(self.client.exists(CANCEL_KEY.format(job_id)))
        except redis.RedisError as exc:
            log.warning("cancel flag of job %s unreadable, taken as not set: %s", job_id, exc)
            return False

    def backlog(self) -> int:
        """How many entries this process keeps that Redis has not confirmed."""
        return len(self._unsent) + len(self._unconfirmed)

