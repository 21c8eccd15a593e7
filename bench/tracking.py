"""What tracking costs: one no-op task N times through bare Celery and through jobplatform.

    .venv/bin/python bench/tracking.py          # N = 10,000 (JOBPLATFORM_BENCH_N)

One embedded Redis; bare Celery on its database 1, jobplatform on database 0; the same worker
settings for both (prefork -c 2, task events on, acks_late). Per database (SQLite, and
PostgreSQL where it answers):

1. Publish N tasks to each side (timed: the publish rates).
2. Drain both *time-sliced*: both workers (and jobplatform's applier) are started, then only
   one side runs at a time, the other frozen with SIGSTOP, alternating every second until
   both are done. This machine's CPU speed drifts by tens of percent within a minute, which
   makes two runs one after the other incomparable; slices a second apart see the same
   machine. A side's throughput is its tasks over the time it was running. jobplatform is
   done when every `complete` transition is committed in the job store, not merely run.
   Steps 1 and 2 run five times (JOBPLATFORM_BENCH_ROUNDS), each round printed; the
   database's drain ratio is the median round.
3. Visibility: with jobplatform's worker running and tasks published at a steady 300/s for
   10 s, how long after a transition happened (`at`) it was committed (`recorded_at`), so
   readable through the API.

Last line: `tracked/bare ratio: <x>`, the worse of the two databases' median drain ratios.
"""

from __future__ import annotations

import os
import signal
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import (
    POSTGRES_URL,
    celery_worker,
    embedded_redis,
    fresh_database,
    percentile,
    postgres_reachable,
    process,
    wait_until,
    workdir,
)

N = int(os.environ.get("JOBPLATFORM_BENCH_N", "10000"))
SLICE_SECONDS = 1.0
# How often a running side is asked whether it is done. Asking costs the side being measured
# (a SQL count for jobplatform, two Redis calls for bare), so not too often.
POLL_SECONDS = 0.05
# Whole rounds (fresh queues and job store each) per database; the median is reported, since
# one round can catch a background pause (autovacuum, a checkpoint) on one side only.
ROUNDS = int(os.environ.get("JOBPLATFORM_BENCH_ROUNDS", "5"))
LAG_RATE, LAG_SECONDS = 300, 10
TIMEOUT = 900


@dataclass
class Side:
    """One contender of the time-sliced drain."""

    name: str
    process_groups: list[int]
    remaining: Callable[[], int]
    active_seconds: float = 0.0
    start_remaining: int = 0

    def pause(self) -> None:
        for pgid in self.process_groups:
            os.killpg(pgid, signal.SIGSTOP)

    def resume(self) -> None:
        for pgid in self.process_groups:
            os.killpg(pgid, signal.SIGCONT)

    @property
    def rate(self) -> float:
        return self.start_remaining / self.active_seconds


def publish(task, n: int, app) -> float:
    start = time.perf_counter()
    with app.producer_or_acquire() as producer:
        for i in range(n):
            task.apply_async(kwargs={"n": i}, producer=producer)
    return n / (time.perf_counter() - start)


def completed_counter(engine) -> Callable[[], int]:
    import sqlalchemy as sa

    query = sa.text("SELECT coalesce(sum(count), 0) FROM queue_counts "
                    "WHERE scope = 'system' AND status = 'complete'")

    def complete() -> int:
        with engine.connect() as conn:
            return int(conn.execute(query).scalar())

    return complete


def time_sliced(sides: list[Side]) -> None:
    """Run one side at a time, a slice each in turn, until every side is done."""
    for side in sides:
        side.start_remaining = side.remaining()
    deadline = time.perf_counter() + TIMEOUT
    while any(side.remaining() > 0 for side in sides):
        if time.perf_counter() > deadline:
            raise TimeoutError("the time-sliced drain did not finish")
        for side in sides:
            if side.remaining() <= 0:
                continue
            side.resume()
            start = time.perf_counter()
            while time.perf_counter() - start < SLICE_SECONDS and side.remaining() > 0:
                time.sleep(POLL_SECONDS)
            side.active_seconds += time.perf_counter() - start
            side.pause()


def compare(tmp: Path, broker: str, database_url: str) -> tuple[Side, Side, float, float]:
    """Bare against tracked on `database_url`: the two sides and the two publish rates."""
    import redis
    import sqlalchemy as sa

    from bench.bare_app import app as bare_app
    from bench.bare_app import noop as bare_noop
    from bench.tracked_tasks import noop as tracked_noop
    from jobplatform import celery

    bare_db = redis.Redis.from_url(os.environ["JOBPLATFORM_BENCH_BARE_BROKER_URL"])
    tracked_db = redis.Redis.from_url(broker)
    bare_db.flushdb()
    tracked_db.flushdb()
    fresh_database(database_url)
    env = {**os.environ, "JOBPLATFORM_DATABASE_URL": database_url}
    engine = sa.create_engine(database_url)
    complete = completed_counter(engine)
    with ExitStack() as stack:
        applier = stack.enter_context(process(
            [sys.executable, "-m", "jobplatform", "applier"], env, tmp / "applier.log"))
        bare_rate = publish(bare_noop, N, bare_app)
        tracked_rate = publish(tracked_noop, N, celery)
        wait_until(lambda: tracked_db.xlen("jobplatform:journal") == 0, TIMEOUT,
                   "the applier to record the publishes", interval=0.05)
        bare_worker = stack.enter_context(celery_worker(
            "bench.bare_app", "general", env, tmp / "bare-worker.log"))
        tracked_worker = stack.enter_context(celery_worker(
            "jobplatform", "general", env, tmp / "tracked-worker.log", "-I",
            "bench.tracked_tasks"))
        bare = Side("bare", [bare_worker.pid],
                    lambda: bare_db.llen("general") + bare_db.hlen("unacked"))
        tracked = Side("tracked", [tracked_worker.pid, applier.pid], lambda: N - complete())
        # Both warm (workers up, their pool processes past their first task), then frozen.
        wait_until(lambda: bare_db.llen("general") < N - 50, 60, "the bare worker to start")
        bare.pause()
        wait_until(lambda: complete() > 50, 60, "the tracked worker to start")
        tracked.pause()
        try:
            time_sliced([bare, tracked])
        finally:
            bare.resume()
            tracked.resume()
    engine.dispose()
    return bare, tracked, bare_rate, tracked_rate


def bare_broker(broker: str) -> str:
    return broker.rsplit("/", 1)[0] + "/1"


def visibility_lags(tmp: Path, broker: str, database_url: str) -> list[float]:
    """Milliseconds from each transition to its commit, under a steady load."""
    import redis
    import sqlalchemy as sa

    from bench.tracked_tasks import noop
    from jobplatform import celery

    redis.Redis.from_url(broker).flushdb()
    fresh_database(database_url)
    env = {**os.environ, "JOBPLATFORM_DATABASE_URL": database_url}
    engine = sa.create_engine(database_url)
    complete = completed_counter(engine)
    total = LAG_RATE * LAG_SECONDS
    with process([sys.executable, "-m", "jobplatform", "applier"], env, tmp / "lag-applier.log"), \
            celery_worker("jobplatform", "general", env, tmp / "lag-worker.log", "-I",
                          "bench.tracked_tasks"):
        time.sleep(3)  # the worker up
        start = time.perf_counter()
        with celery.producer_or_acquire() as producer:
            for i in range(total):
                while time.perf_counter() < start + i / LAG_RATE:
                    time.sleep(0.001)
                noop.apply_async(kwargs={"n": i}, producer=producer)
        wait_until(lambda: complete() >= total, TIMEOUT, "the steady load to be applied")
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT recorded_at, at FROM job_events")).all()
    engine.dispose()
    return [(_as_dt(recorded) - _as_dt(at)).total_seconds() * 1000 for recorded, at in rows]


def _as_dt(value) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def main() -> None:
    with workdir() as tmp, embedded_redis(tmp / "redis") as redis_url:
        os.environ.update(JOBPLATFORM_BROKER_URL=redis_url, JOBPLATFORM_JOURNAL_URL=redis_url,
                          JOBPLATFORM_BENCH_BARE_BROKER_URL=bare_broker(redis_url),
                          JOBPLATFORM_INSTANCE_PATH=str(tmp / "instance"),
                          JOBPLATFORM_SECRET_KEY="bench")
        databases = {"sqlite": f"sqlite:///{tmp}/bench.db"}
        if postgres_reachable():
            databases["postgresql"] = POSTGRES_URL
        else:
            print(f"PostgreSQL not reachable at {POSTGRES_URL}; SQLite only")
        print(f"N = {N:,} no-op tasks per side; worker -c 2 prefork, events on, acks_late")
        ratios = {}
        for name, url in databases.items():
            rounds = []
            for number in range(1, ROUNDS + 1):
                bare, tracked, bare_publish, tracked_publish = compare(tmp, redis_url, url)
                rounds.append(tracked.rate / bare.rate)
                print(f"{name} round {number}: publish bare {bare_publish:.0f}/s, tracked "
                      f"{tracked_publish:.0f}/s (ratio {tracked_publish / bare_publish:.3f}); "
                      f"drain bare {bare.rate:.0f}/s, tracked {tracked.rate:.0f}/s "
                      f"(ratio {rounds[-1]:.3f})", flush=True)
            ratios[name] = statistics.median(rounds)
            print(f"{name}: drain ratio, median of {ROUNDS} rounds: {ratios[name]:.3f}",
                  flush=True)
            lags = visibility_lags(tmp, redis_url, url)
            print(f"{name}: visibility lag at {LAG_RATE} jobs/s: p50 {percentile(lags, 50):.0f} "
                  f"ms, p95 {percentile(lags, 95):.0f} ms, max {max(lags):.0f} ms", flush=True)
        print(f"tracked/bare ratio: {min(ratios.values()):.3f}")


if __name__ == "__main__":
    main()
