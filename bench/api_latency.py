"""API latency at 1,000,000 jobs, on SQLite and (where it answers) PostgreSQL.

    .venv/bin/python bench/api_latency.py       # JOBPLATFORM_BENCH_JOBS to change the size

Fills the job store by bulk insert (not through Celery): 1M jobs over 5,000 users, the four
queues and every status, 3 events each, and the counters that go with them. Then measures,
through the Flask app in this process (no network in the way), p50/p95 of:
  job-queue-status for everyone and for one user; the jobs list: first page and a deep
  cursor page, unfiltered and filtered (status, queue, type), for an admin and for one user;
  one job's detail.
Last line: `worst p95 ms: status <x>, list <y>, detail <z>` over both databases.
"""

from __future__ import annotations

import os
import random
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import (
    POSTGRES_URL,
    embedded_redis,
    fresh_database,
    percentile,
    postgres_reachable,
    workdir,
)

JOBS = int(os.environ.get("JOBPLATFORM_BENCH_JOBS", "1000000"))
USERS = 5000
REQUESTS = 200
QUEUES = (("general", "contacts_export", 40), ("fub_sync", "fub_sync", 35),
          ("rezen_sync", "rezen_sync", 20), ("fub_onboarding", "fub_onboarding", 5))
STATUSES = (("complete", 90), ("error", 5), ("cancelled", 2), ("pending", 2), ("processing", 1))
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
        error = ("RateLimitExceeded", "Rate limit exceeded") if status == "error" else (None, None)
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


def measure(url: str, sample: list[dict]) -> dict[str, dict[str, float]]:
    """p50/p95 milliseconds per request kind."""
    from jobplatform import create_app
    from jobplatform.extensions import db
    from jobplatform.jobs.queries import encode_cursor
    from jobplatform.users.models import User
    from jobplatform.users.tokens import issue_token

    os.environ["JOBPLATFORM_DATABASE_URL"] = url
    app = create_app()
    client = app.test_client()
    user_id = Counter(job["user_id"] for job in sample if job["user_id"]).most_common(1)[0][0]
    with app.app_context():
        admin_token = issue_token(db.session, db.session.get(User, USERS + 1))
        user_token = issue_token(db.session, db.session.get(User, user_id))
        db.session.commit()
        db.engine.dispose()

    as_admin = {"Authorization": f"Bearer {admin_token}"}
    as_user = {"Authorization": f"Bearer {user_token}"}
    middle = sorted(sample, key=lambda job: job["created_at"])[len(sample) // 2]
    deep = encode_cursor((middle["created_at"], middle["id"]))
    rng = random.Random(2)
    cases = {
        "status all users": ("status", lambda: ("/api/v2/job-queue-status", as_admin)),
        "status one user": ("status", lambda: (f"/api/v2/job-queue-status?user_id={user_id}",
                                               as_admin)),
        "list first page": ("list", lambda: ("/api/v2/jobs", as_admin)),
        "list deep page": ("list", lambda: (f"/api/v2/jobs?cursor={deep}", as_admin)),
        "list status=error": ("list", lambda: ("/api/v2/jobs?status=error", as_admin)),
        "list status=error deep": ("list", lambda: (f"/api/v2/jobs?status=error&cursor={deep}",
                                                    as_admin)),
        "list queue=fub_onboarding": ("list", lambda: ("/api/v2/jobs?queue=fub_onboarding",
                                                       as_admin)),
        "list type=rezen_sync deep": ("list", lambda: (
            f"/api/v2/jobs?type=rezen_sync&cursor={deep}", as_admin)),
        "list one user": ("list", lambda: ("/api/v2/jobs", as_user)),
        "list one user status=error": ("list", lambda: ("/api/v2/jobs?status=error", as_user)),
        "detail": ("detail", lambda: (f"/api/v2/jobs/{rng.choice(sample)['id']}", as_admin)),
    }
    results: dict[str, dict[str, float]] = {}
    with app.app_context():
        for name, (kind, request) in cases.items():
            timings = []
            for attempt in range(REQUESTS + 10):
                path, headers = request()
                start = time.perf_counter()
                response = client.get(path, headers=headers)
                elapsed = (time.perf_counter() - start) * 1000
                assert response.status_code == 200, (path, response.json)
                if attempt >= 10:  # the first few warm the caches
                    timings.append(elapsed)
            results[name] = {"kind": kind, "p50": percentile(timings, 50),
                             "p95": percentile(timings, 95)}
            print(f"  {name:<28} p50 {results[name]['p50']:6.1f} ms   "
                  f"p95 {results[name]['p95']:6.1f} ms", flush=True)
        db.engine.dispose()
    return results


def main() -> None:
    with workdir() as tmp, embedded_redis(tmp / "redis") as redis_url:
        os.environ.update(JOBPLATFORM_BROKER_URL=redis_url, JOBPLATFORM_JOURNAL_URL=redis_url,
                          JOBPLATFORM_INSTANCE_PATH=str(tmp / "instance"),
                          JOBPLATFORM_SECRET_KEY="bench")
        databases = {"sqlite": f"sqlite:///{tmp}/api.db"}
        if postgres_reachable():
            databases["postgresql"] = POSTGRES_URL
        else:
            print(f"PostgreSQL not reachable at {POSTGRES_URL}; SQLite only")
        worst = {"status": 0.0, "list": 0.0, "detail": 0.0}
        for name, url in databases.items():
            print(f"{name}:", flush=True)
            sample = load(url)
            for result in measure(url, sample).values():
                worst[result["kind"]] = max(worst[result["kind"]], result["p95"])
        print(f"worst p95 ms: status {worst['status']:.1f}, list {worst['list']:.1f}, "
              f"detail {worst['detail']:.1f}")


if __name__ == "__main__":
    main()
