"""The job store at scale, for the benchmarks that need one: 1,000,000 jobs by bulk insert.

`load(url)` migrates a fresh database at `url` and fills it (not through Celery, so in
minutes): JOBS jobs (`JOBPLATFORM_BENCH_JOBS`, default 1,000,000) over USERS users, the four
queues and every status, 2% system jobs, 3 events each, the counters that go with them, the
users, and an operator (id USERS + 1) after them. No per-minute rows and no scope versions
(missing versions read as 0).
"""

from __future__ import annotations

import os
import random
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

from bench.harness import fresh_database

JOBS = int(os.environ.get("JOBPLATFORM_BENCH_JOBS", "1000000"))
USERS = 5000
QUEUES = (("general", "contacts_export", 40), ("fub_sync", "fub_sync", 35),
          ("rezen_sync", "rezen_sync", 20), ("fub_onboarding", "fub_onboarding", 5))
STATUSES = (("complete", 90), ("error", 5), ("cancelled", 2), ("pending", 2), ("processing", 1))
# The errors a failed job has, so that `q` has words of every frequency: "limit" is in 4% of
# all jobs, "timed out" in 0.75%, "rejected" in 0.25%, "escrow" in about 1 job in 20,000.
ERRORS = (("RateLimitExceeded", "Rate limit exceeded", 80),
          ("ProviderTimeout", "The provider timed out after 30 s", 15),
          ("AuthError", "reZEN rejected the API key", 4.9),
          ("SchemaError", "Unexpected field 'escrow_id' in a transaction", 0.1))
CHUNK = 20_000


def weighted(rng: random.Random, table: tuple) -> tuple:
    return rng.choices(table, weights=[row[-1] for row in table])[0]


def generate(rng: random.Random):
    """Job rows, oldest first, and their events; the counters they add up to."""
    counts: Counter = Counter()
    start = datetime.now(UTC) - timedelta(days=90)
    step = timedelta(days=90) / JOBS
    for n in range(JOBS):
        queue, job_type, _ = weighted(rng, QUEUES)
        status, _ = weighted(rng, STATUSES)
        user_id = None if rng.random() < 0.02 else rng.randint(1, USERS)
        created = start + step * n
        started = None if status == "pending" else created + timedelta(seconds=1)
        finished = (started + timedelta(seconds=rng.randint(1, 600))
                    if status in ("complete", "error", "cancelled") else None)
        job_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        for scope in (("system",) if user_id is None else ("all", f"user:{user_id}")):
            counts[(scope, queue, status)] += 1
        summary = f"Synced {rng.randint(1, 500)} contacts, {rng.randint(0, 50)} deals" \
            if status == "complete" else None
        error = weighted(rng, ERRORS)[:2] if status == "error" else (None, None)
        job = {"id": job_id, "type": job_type, "queue": queue,
               "task": f"jobplatform.{queue}.{job_type}", "user_id": user_id, "status": status,
               "summary": summary, "error_type": error[0], "error_message": error[1],
               "created_at": created, "started_at": started, "finished_at": finished}
        events = [(job_id, created, None, "pending", "beat")]
        if started:
            events.append((job_id, started, "pending", "processing", "worker:w1"))
        if finished:
            events.append((job_id, finished, "processing", status, "worker:w1"))
        yield job, events
    yield None, counts


def load(url: str) -> list[dict]:
    """Fill a fresh database; returns a sample of jobs to fetch."""
    fresh_database(url)
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    rng = random.Random(1)
    sample: list[dict] = []
    started = time.perf_counter()
    postgres = url.startswith("postgresql")
    with engine.begin() as conn:
        raw = conn.connection.dbapi_connection
        cursor = raw.cursor()
        if not postgres:
            cursor.execute("PRAGMA synchronous=OFF")
        jobs, events = [], []
        for job, job_events in generate(rng):
            if job is None:
                counts = job_events
                break
            jobs.append(job)
            events.extend(job_events)
            if rng.random() < 0.001:
                sample.append(job)
            if len(jobs) >= CHUNK:
                _write(cursor, postgres, jobs, events)
                jobs, events = [], []
        _write(cursor, postgres, jobs, events)
        mark = "%s" if postgres else "?"
        cursor.executemany(
            f"INSERT INTO queue_counts (scope, queue, status, count) VALUES "
            f"({mark}, {mark}, {mark}, {mark})",
            [(*key, n) for key, n in counts.items()],
        )
        # The users the jobs belong to, and an operator after them.
        now = _naive(datetime.now(UTC)) if postgres else _sqlite(datetime.now(UTC))
        cursor.executemany(
            f"INSERT INTO users (id, email, is_admin, created_at) VALUES "
            f"({mark}, {mark}, {mark}, {mark})",
            [(n, f"user{n}@bench.example", n > USERS, now) for n in range(1, USERS + 2)],
        )
        if postgres:
            cursor.execute("SELECT setval('users_id_seq', %s)", (USERS + 1,))
        cursor.execute("ANALYZE")
    engine.dispose()
    print(f"  loaded {JOBS:,} jobs in {time.perf_counter() - started:.0f} s", flush=True)
    return sample


def _write(cursor, postgres: bool, jobs: list[dict], events: list[tuple]) -> None:
    columns = ("id", "type", "queue", "task", "user_id", "status", "summary", "error_type",
               "error_message", "created_at", "started_at", "finished_at")
    if postgres:
        with cursor.copy(f"COPY jobs ({', '.join(columns)}, retries, cancel_requested) "
                         "FROM STDIN") as copy:
            for job in jobs:
                copy.write_row([*(_naive(job[c]) for c in columns), 0, False])
        with cursor.copy("COPY job_events (job_id, at, from_status, to_status, actor, "
                         "recorded_at) FROM STDIN") as copy:
            for job_id, at, frm, to, actor in events:
                copy.write_row((job_id, _naive(at), frm, to, actor, _naive(at)))
        return
    marks = ", ".join("?" * (len(columns) + 2))
    cursor.executemany(
        f"INSERT INTO jobs ({', '.join(columns)}, retries, cancel_requested) VALUES ({marks})",
        [(*(_sqlite(job[c]) for c in columns), 0, 0) for job in jobs],
    )
    cursor.executemany(
        "INSERT INTO job_events (job_id, at, from_status, to_status, actor, recorded_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [(job_id, _sqlite(at), frm, to, actor, _sqlite(at)) for job_id, at, frm, to, actor
         in events],
    )


def _naive(value):
    return value.replace(tzinfo=None) if isinstance(value, datetime) else value


def _sqlite(value):
    return value.replace(tzinfo=None).isoformat(" ", "microseconds") \
        if isinstance(value, datetime) else value
