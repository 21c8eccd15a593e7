"""The applier: folds the journal stream into the SQL job store, in batches, exactly once.

Guarantees, and how:
- *Nothing lost*: entries are acknowledged (XACK + XDEL) only after their batch commits; a
  batch that fails stays in the consumer group's pending list and is read again.
- *Nothing applied twice*: the last applied entry id is committed with each batch
  (`journal_position`), so entries re-read after a crash between commit and ack are skipped.
- *In order, one applier at a time*: appliers hold a Redis lease. Every read checks the lease
  in the same Lua call, so a paused former leader cannot take new entries; each lease starts a
  new term, and a commit from an older term than the stored one is refused. Every applier reads
  as the same consumer, so a successor first re-reads what its predecessor held.
Run as many as you like for availability; one works, the others wait for its lease.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from dataclasses import dataclass, field
from time import monotonic

import redis
import sqlalchemy as sa

from ..database import WRITE_OPTIONS
from .journal import STREAM, Entry, decode, encode
from .rows import row_writer
from .store import apply_entries

log = logging.getLogger(__name__)

GROUP = "appliers"
CONSUMER = "applier"

# Returns 0 unless the caller holds the lease; else the entries read, as one string:
# id, payload, id, payload, ... joined by newlines (payloads are JSON, which has none). One
# string because Redis 6.2 writes a many-element reply piece by piece, a syscall each, on the
# thread every worker waits on. Entries deleted but still pending are acknowledged here.
FENCED_READ = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local reply = redis.call('XREADGROUP', 'GROUP', ARGV[2], ARGV[3], 'COUNT', ARGV[4],
                         'STREAMS', KEYS[2], ARGV[5])
if not reply then return '' end
local out = {}
for _, item in ipairs(reply[1][2]) do
  local fields = item[2]
  if fields and fields[2] then
    out[#out + 1] = item[1]
    out[#out + 1] = fields[2]
  else
    redis.call('XACK', KEYS[2], ARGV[2], item[1])
  end
end
return table.concat(out, '\\n')
"""
RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# Errors worth waiting out (database down, locked, restarting), as opposed to an entry the
# database refuses whatever the moment, which is set aside in the dead-letter stream.
TRANSIENT_DB_ERRORS = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError)
# An entry the database refuses, or whose values the lifecycle rules cannot read.
REFUSED_ENTRY_ERRORS = (sa.exc.SQLAlchemyError, ValueError, TypeError, KeyError)


class Deposed(Exception):
    """Another applier took over with a newer term; this one must stop writing."""


def journal_tail(client: redis.Redis, *, stream: str = STREAM) -> str | None:
    """The id of the newest entry ever appended to the journal (None before the first)."""
    try:
        info = client.xinfo_stream(stream)
    except redis.ResponseError:  # no such stream yet
        return None
    last = info["last-generated-id"]
    return last.decode() if isinstance(last, bytes) else str(last)


def applied_through(client: redis.Redis, until: str | None, *, stream: str = STREAM) -> bool:
    """Whether every entry up to stream id `until` is applied (an entry leaves the stream
    only after its batch committed)."""
    return until is None or not client.xrange(stream, "-", until, count=1)


def entry_key(entry_id: bytes | str) -> tuple[int, int]:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


@dataclass
class ApplierStats:
    batches: int = 0
    entries: int = 0
    skipped: int = 0
    dead: int = 0
    last_batch_at: float | None = None
    errors: list[str] = field(default_factory=list)


class Applier:
    def __init__(
        self,
        client: redis.Redis,
        engine: sa.Engine,
        *,
        batch_size: int = 1000,
        linger_ms: int = 100,
        lease_ms: int = 15_000,
        idle_wait_ms: int = 250,
        stream: str = STREAM,
    ) -> None:
        self.client = client
        self.engine = engine
        self.batch_size = batch_size
        self.linger = linger_ms / 1000
        self.lease_ms = lease_ms
        self.idle_wait_ms = idle_wait_ms
        self.stream = stream
        # Lease, term, dead letters and the stored position are per stream.
        self.lease_key = f"{stream}:lease"
        self.term_key = f"{stream}:term"
        self.dead_letter_stream = f"{stream}:dead"
        self.position_name = stream
        self.token = uuid.uuid4().hex
        self.term: int | None = None
        self.stats = ApplierStats()
        self._lease_renewed = 0.0
        self._recovering = True
        self._last_seen = "$"
        self._fenced_read = client.register_script(FENCED_READ)
        self._renew = client.register_script(RENEW)
        self._release = client.register_script(RELEASE)

    # -- the loop ------------------------------------------------------------------------

    def run(self, stop: threading.Event, *, final_drain_seconds: float = 5.0) -> None:
        """Apply until `stop` is set; survives Redis and database outages by waiting.

        On stop, a leader applies what is left (for up to `final_drain_seconds`) before
        giving up its lease, so a platform shutting down leaves its last transitions applied.
        """
        self.ensure_group()
        backoff = 0.1
        try:
            while not stop.is_set():
                try:
                    if not self.lead():
                        stop.wait(1.0)
                        continue
                    started = monotonic()
                    applied = self.step()
                    backoff = 0.1
                    if not applied:
                        self.wait_for_entries()
                    elif applied < self.batch_size:
                        # Under load, let entries gather for `linger`: a transaction per
                        # tenth of a second costs far less than one per entry, and a
                        # transition still shows within the 250 ms the API promises.
                        stop.wait(self.linger - (monotonic() - started))
                except Deposed:
                    log.warning("applier term %s was superseded; standing by", self.term)
                    self.term = None
                except (redis.RedisError, *TRANSIENT_DB_ERRORS) as exc:
                    self._recovering = True
                    log.warning("applier waiting %.1fs: %s", backoff, exc)
                    stop.wait(backoff)
                    backoff = min(backoff * 2, 5.0)
        finally:
            if self.term is not None and final_drain_seconds > 0:
                try:
                    self.drain(timeout=final_drain_seconds)
                except (TimeoutError, Deposed, redis.RedisError, sa.exc.SQLAlchemyError) as exc:
                    log.warning("applier stopped with entries left for the next one: %s", exc)
            self.resign()

    def drain(self, timeout: float = 30.0) -> int:
        """Apply everything in the journal now (for tests, benchmarks and shutdown)."""
        self.ensure_group()
        deadline = monotonic() + timeout
        total = 0
        while monotonic() < deadline:
            if not self.lead():
                raise TimeoutError("another applier holds the lease")
            applied = self.step()
            total += applied
            if not applied and self.backlog() == 0:
                return total
        raise TimeoutError(f"journal not drained within {timeout}s")

    def step(self) -> int:
        """Read one batch, apply it, acknowledge it; how many entries were read."""
        batch = self._read("0" if self._recovering else ">")
        if not batch and self._recovering:
            self._recovering = False
            batch = self._read(">")
        if not batch:
            return 0
        self._apply(batch)
        self._acknowledge([entry_id for entry_id, _ in batch])
        self._last_seen = batch[-1][0].decode()
        return len(batch)

    # -- leadership ----------------------------------------------------------------------

    def lead(self) -> bool:
        """Hold the lease: renew it, or take it if free. Whether this applier leads."""
        now = monotonic()
        if self.term is not None:
            if now - self._lease_renewed < self.lease_ms / 3000:
                return True
            if self._renew(keys=[self.lease_key], args=[self.token, self.lease_ms]):
                self._lease_renewed = now
                return True
            log.warning("applier lost its lease (term %s)", self.term)
            self.term = None
        if not self.client.set(self.lease_key, self.token, nx=True, px=self.lease_ms):
            return False
        term = int(self.client.incr(self.term_key))
        try:
            stored = self._stored_term()
        except BaseException:
            self.resign()  # so that leading again need not wait for the lease to expire
            raise
        if term <= stored:
            # The counter restarted below the database's: a Redis that lost its data. Every
            # commit of this term would be refused as a deposed leader's; move past it.
            log.warning("applier term counter at %s, below the stored term %s (Redis lost "
                        "its data?); continuing at %s", term, stored, stored + 1)
            term = int(self.client.incrby(self.term_key, stored - term + 1))
        self.term = term
        self._lease_renewed = now
        self._recovering = True
        log.info("applier leading, term %s", self.term)
        return True

    def _stored_term(self) -> int:
        """The term of the last commit, as the database has it."""
        with self.engine.connect() as connection:
            # It may insert the position's row: on SQLite a read that turns into a write
            # fails at once ("database is locked") if another writer committed meanwhile.
            connection = connection.execution_options(**WRITE_OPTIONS)
            with connection.begin():
                return row_writer(connection.dialect.name).load_position(
                    connection, self.position_name)[1]

    def resign(self) -> None:
        with contextlib.suppress(redis.RedisError):  # if unreachable, the lease expires
            self._release(keys=[self.lease_key], args=[self.token])
        self.term = None

    # -- Redis side ----------------------------------------------------------------------

    def ensure_group(self) -> None:
        try:
            # From id 0: entries journaled before any applier ever ran are applied too.
            self.client.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _read(self, start: str) -> list[tuple[bytes, bytes]]:
        """Up to `batch_size` (entry id, payload) pairs, if this applier holds the lease."""
        try:
            reply = self._fenced_read(
                keys=[self.lease_key, self.stream],
                args=[self.token, GROUP, CONSUMER, self.batch_size, start],
            )
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            self.ensure_group()
            return []
        if reply == 0:
            raise Deposed()
        if not reply:
            return []
        parts = reply.split(b"\n")
        return list(zip(parts[::2], parts[1::2], strict=True))

    def wait_for_entries(self) -> None:
        """Block briefly until something newer than what was last read arrives."""
        self.client.xread({self.stream: self._last_seen}, count=1, block=self.idle_wait_ms)

    def _acknowledge(self, entry_ids: list[bytes]) -> None:
        pipe = self.client.pipeline(transaction=False)
        pipe.xack(self.stream, GROUP, *entry_ids)
        pipe.xdel(self.stream, *entry_ids)
        pipe.execute()

    def backlog(self) -> int:
        """Entries not yet applied: waiting in the stream or read but unacknowledged."""
        return int(self.client.xlen(self.stream))

    # -- SQL side ------------------------------------------------------------------------

    def _apply(self, batch: list[tuple[bytes, bytes]]) -> None:
        decoded: list[tuple[bytes, Entry]] = []
        for entry_id, payload in batch:
            try:
                decoded.append((entry_id, decode(payload)))
            except ValueError as exc:
                self._dead_letter(entry_id, payload, f"malformed: {exc}")
        try:
            self._commit(decoded, batch[-1][0])
        except TRANSIENT_DB_ERRORS:
            raise
        except REFUSED_ENTRY_ERRORS as exc:
            # The database refused something in the batch: apply one entry at a time so only
            # the entries it refuses are set aside.
            log.error("batch refused (%r); applying its %d entries one by one", exc, len(decoded))
            for entry_id, item in decoded:
                try:
                    self._commit([(entry_id, item)], entry_id)
                except TRANSIENT_DB_ERRORS:
                    raise
                except REFUSED_ENTRY_ERRORS as one_exc:
                    self._dead_letter(entry_id, encode(item),
                                      f"{type(one_exc).__name__}: {one_exc}")
            self._commit([], batch[-1][0])

    def _commit(self, decoded: list[tuple[bytes, Entry]], last_id: bytes) -> None:
        with self.engine.connect() as connection:
            # SQLite: take the write lock at BEGIN (see store.begin_write).
            connection = connection.execution_options(**WRITE_OPTIONS)
            with connection.begin():
                sql = row_writer(connection.dialect.name)
                last_done, term = sql.load_position(connection, self.position_name)
                if self.term is None or term > self.term:
                    raise Deposed()
                done = entry_key(last_done)
                fresh = [item for entry_id, item in decoded if entry_key(entry_id) > done]
                self.stats.skipped += len(decoded) - len(fresh)
                if fresh:
                    apply_entries(connection, fresh)
                last = last_id.decode() if entry_key(last_id) > done else last_done
                sql.save_position(connection, self.position_name, last, self.term)
        self.stats.batches += 1
        self.stats.entries += len(fresh)
        self.stats.last_batch_at = monotonic()

    def _dead_letter(self, entry_id: bytes, payload: bytes, why: str) -> None:
        log.error("journal entry %s set aside: %s", entry_id, why)
        self.stats.dead += 1
        self.client.xadd(
            self.dead_letter_stream,
            {b"id": entry_id, b"why": why[:2000].encode(), b"e": payload},
            maxlen=100_000,
            approximate=True,
        )
