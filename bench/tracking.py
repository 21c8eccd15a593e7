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

CPU: during each side's slices, the CPU time (user + system, from /proc) of every process
the side runs is added up by role: the worker's main process, its pool processes, the applier,
Redis (shared, but only the running side uses it) and the database server's processes (for
both sides, so bare shows it idle). A side's CPU per task is that total over the tasks it
drained; tracked ÷ bare is printed per round and as the median. Unlike throughput, it does not
depend on how the two cores are shared between the processes: it is what a user pays on any
machine.

Last line: `tracked/bare ratio: <x>, cpu ratio: <y>`, the worse of the two databases' median
drain ratios and the worse of their median CPU ratios.
"""

from __future__ import annotations

import os
import random
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

from bench.cpu import CpuMeter, Finder, children_of, main_process, named
from bench.harness import (
    POSTGRES_URL,
    celery_worker,
    fresh_database,
    percentile,
    postgres_reachable,
    process,
    redis_server,
    wait_until,
    workdir,
    worker_argv,
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
#: An environment variable whose length sets the workers' start (see `same_start`).
LAYOUT_VARIABLE, LAYOUT_SPREAD = "JOBPLATFORM_BENCH_LAYOUT", 4096
#: Which databases to run on (a bisection may want one): "sqlite,postgresql" by default.
DATABASES = os.environ.get("JOBPLATFORM_BENCH_DATABASES", "sqlite,postgresql").split(",")
TIMEOUT = 900
ROLES = ("worker main", "pool processes", "applier", "Redis", "database server")


@dataclass
class Side:
    """One contender of the time-sliced drain."""

    name: str
    process_groups: list[int]
    remaining: Callable[[], int]
    cpu: CpuMeter
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

    def cpu_per_task(self, role: str | None = None) -> float:
        """Microseconds of CPU a task, of one role or of all of them."""
        seconds = self.cpu.total if role is None else self.cpu.seconds.get(role, 0.0)
        return seconds / self.start_remaining * 1e6

    def cores(self, role: str) -> float:
        """How much of a core the role kept busy while the side ran."""
        return self.cpu.seconds.get(role, 0.0) / self.active_seconds


@dataclass
class Round:
    bare: Side
    tracked: Side
    bare_publish: float
    tracked_publish: float

    @property
    def drain_ratio(self) -> float:
        return self.tracked.rate / self.bare.rate

    @property
    def cpu_ratio(self) -> float:
        return self.tracked.cpu_per_task() / self.bare.cpu_per_task()


def roles(worker_pid: int, redis_pid: int, database_url: str,
          applier_pid: int | None = None) -> dict[str, Finder]:
    """Where a side's CPU goes: its processes, by role."""
    found = {"worker main": main_process(worker_pid), "pool processes": children_of(worker_pid)}
    if applier_pid is not None:
        found["applier"] = main_process(applier_pid)
    found["Redis"] = main_process(redis_pid)
    if database_url.startswith("postgresql"):
        found["database server"] = named("postgres")
    return found


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


def same_start(env: dict[str, str], argvs: dict[str, list[str]]) -> dict[str, dict[str, str]]:
    """An environment for each command such that every worker process starts with arguments
    and environment of the same size and the same hash seed, both drawn anew each call.

    The same CPython code runs faster or slower by where its process's memory happens to lie
    (measured here: a pure-Python loop by 12% across nothing but environment sizes; a Celery
    worker's main process at ~1,100 or ~1,250-1,390 µs a task, identical code, by what had
    been loaded before it). Equal starts spare one side a layout the other never gets; a new
    draw each round samples layouts, so that no side is lucky in every round."""
    sizes = {side: sum(len(arg.encode()) + 1 for arg in argv) for side, argv in argvs.items()}
    target = max(sizes.values()) + random.randrange(LAYOUT_SPREAD)
    seed = str(random.randrange(2**32))
    return {side: {**env, LAYOUT_VARIABLE: "x" * (target - size), "PYTHONHASHSEED": seed}
            for side, size in sizes.items()}


def tracked_remaining(client, complete: Callable[[], int]) -> Callable[[], int]:
    """Tasks left to jobplatform: asked of Redis, as for bare, while its queue holds any (a SQL
    count every poll would cost the measured side's database server); then the store's count
    of completes, which is what says a job is done."""

    def remaining() -> int:
        queued = client.llen("general") + client.hlen("unacked")
        return queued + 1 if queued else N - complete()

    return remaining


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
            side.cpu.start()
            side.resume()
            start = time.perf_counter()
            while time.perf_counter() - start < SLICE_SECONDS and side.remaining() > 0:
                time.sleep(POLL_SECONDS)
            side.active_seconds += time.perf_counter() - start
            side.pause()
            side.cpu.stop()


def compare(tmp: Path, broker: str, redis_pid: int, database_url: str) -> Round:
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
        # As many arguments each (bare includes its app module again, which changes nothing).
        commands = {"bare": ("bench.bare_app", "-I", "bench.bare_app"),
                    "tracked": ("jobplatform", "-I", "bench.tracked_tasks")}
        envs = same_start(env, {side: worker_argv(app, "general", *extra)
                                for side, (app, *extra) in commands.items()})
        bare_worker, tracked_worker = (
            stack.enter_context(celery_worker(app, "general", envs[side],
                                              tmp / f"{side}-worker.log", *extra))
            for side, (app, *extra) in commands.items())
        bare = Side("bare", [bare_worker.pid],
                    lambda: bare_db.llen("general") + bare_db.hlen("unacked"),
                    CpuMeter(roles(bare_worker.pid, redis_pid, database_url)))
        tracked = Side("tracked", [tracked_worker.pid, applier.pid],
                       tracked_remaining(tracked_db, complete),
                       CpuMeter(roles(tracked_worker.pid, redis_pid, database_url, applier.pid)))
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
    return Round(bare, tracked, bare_rate, tracked_rate)


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


def print_round(name: str, number: int, result: Round) -> None:
    bare, tracked = result.bare, result.tracked
    print(f"{name} round {number}: publish bare {result.bare_publish:.0f}/s, tracked "
          f"{result.tracked_publish:.0f}/s (ratio "
          f"{result.tracked_publish / result.bare_publish:.3f}); drain bare {bare.rate:.0f}/s, "
          f"tracked {tracked.rate:.0f}/s (ratio {result.drain_ratio:.3f}); CPU a task bare "
          f"{bare.cpu_per_task():.0f} µs, tracked {tracked.cpu_per_task():.0f} µs (ratio "
          f"{result.cpu_ratio:.3f})", flush=True)


def print_cpu_table(name: str, rounds: list[Round]) -> None:
    """Where each side's CPU goes, per process role: medians over the rounds."""
    print(f"{name}: CPU a task by process, median of {len(rounds)} rounds "
          "(µs, and the share of a core it kept busy while its side ran)")
    print(f"  {'process':<16} {'bare':>18} {'tracked':>18} {'difference':>11}")
    for role in (*ROLES, None):
        cells, micros = [], []
        for side in ("bare", "tracked"):
            sides = [getattr(r, side) for r in rounds]
            if role is not None and role not in sides[0].cpu.seconds:
                cells.append("—")
                micros.append(0.0)
                continue
            micros.append(statistics.median(s.cpu_per_task(role) for s in sides))
            cores = statistics.median(
                (s.cpu.total if role is None else s.cpu.seconds[role]) / s.active_seconds
                for s in sides)
            cells.append(f"{micros[-1]:.0f} ({cores:.2f} core)")
        if cells != ["—", "—"]:
            print(f"  {role or 'all':<16} {cells[0]:>18} {cells[1]:>18} "
                  f"{micros[1] - micros[0]:+11.0f}")


def main() -> None:
    with workdir() as tmp, redis_server(tmp / "redis") as server:
        redis_url, redis_pid = server.url, server.process.pid
        os.environ.update(JOBPLATFORM_BROKER_URL=redis_url, JOBPLATFORM_JOURNAL_URL=redis_url,
                          JOBPLATFORM_BENCH_BARE_BROKER_URL=bare_broker(redis_url),
                          JOBPLATFORM_INSTANCE_PATH=str(tmp / "instance"),
                          JOBPLATFORM_SECRET_KEY="bench")
        databases = {"sqlite": f"sqlite:///{tmp}/bench.db"} if "sqlite" in DATABASES else {}
        if "postgresql" in DATABASES:
            if postgres_reachable():
                databases["postgresql"] = POSTGRES_URL
            else:
                print(f"PostgreSQL not reachable at {POSTGRES_URL}; not measured on it")
        print(f"N = {N:,} no-op tasks per side; worker -c 2 prefork, events on, acks_late")
        ratios, cpu_ratios = {}, {}
        for name, url in databases.items():
            rounds = []
            for number in range(1, ROUNDS + 1):
                rounds.append(compare(tmp, redis_url, redis_pid, url))
                print_round(name, number, rounds[-1])
            ratios[name] = statistics.median(r.drain_ratio for r in rounds)
            cpu_ratios[name] = statistics.median(r.cpu_ratio for r in rounds)
            print(f"{name}: drain ratio, median of {ROUNDS} rounds: {ratios[name]:.3f}; "
                  f"CPU a task, tracked / bare, median: {cpu_ratios[name]:.3f}", flush=True)
            print_cpu_table(name, rounds)
            lags = visibility_lags(tmp, redis_url, url)
            print(f"{name}: visibility lag at {LAG_RATE} jobs/s: p50 {percentile(lags, 50):.0f} "
                  f"ms, p95 {percentile(lags, 95):.0f} ms, max {max(lags):.0f} ms", flush=True)
        print(f"tracked/bare ratio: {min(ratios.values()):.3f}, "
              f"cpu ratio: {max(cpu_ratios.values()):.3f}")


if __name__ == "__main__":
    main()
