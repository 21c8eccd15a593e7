"""Worker pools that fit the work: 200 FUB syncs on the shipped topology and on a plain worker.

    .venv/bin/python bench/topology.py        # about four minutes (three rounds)

Starts an embedded Redis, the FUB simulator (`jobplatform simulate fub`, 100 ms a request)
and the applier, with SQLite. 200 users each have an onboarded FUB integration (their own
key, its deals already stored as onboarding left them). The side's workers are started and
answer a ping; then one sync each is recorded and published as beat's fan-out does
(`ensure_sync`), and the workers drain them:

(a) the shipped topology, jobplatform/topology.py: the sync group (threads pool, as many
    processes as it says) and the general group (prefork), as `up` and deploy/ run them;
(b) a plain `celery -A jobplatform worker -c 2` on all four queues (prefork).

A side's rate is its 200 jobs over the time from the first job's start to the last one's
end, as the job store records them, and a worker's CPU is what it used after it was ready:
a worker's start-up (imports, its pool's processes) is not the work, and a worker still
starting must not take the CPU the others' syncs need. Each side then checks that tracking
is right: every job `complete` with pending -> processing -> complete, the per-queue
counters equal a recount of the job rows, and the contacts and deals stored equal what the
jobs report. The two sides run in alternation, ROUNDS (JOBPLATFORM_BENCH_ROUNDS, default 3)
times each, so a drift in this machine's speed touches both; each round's ratio compares the
two sides' runs of that round, and the figure is the median round's.

Last line: `topology/plain ratio: <x>`, the median of the rounds' ratios.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import (
    celery_worker,
    embedded_redis,
    free_port,
    fresh_database,
    process,
    wait_until,
    workdir,
)

USERS = int(os.environ.get("JOBPLATFORM_BENCH_USERS", "200"))
ROUNDS = int(os.environ.get("JOBPLATFORM_BENCH_ROUNDS", "3"))
LATENCY_MS = 100
# An agent's account: a sync reads the newest page of people (none changed since its cursor,
# so it stops there) and every deal, three pages: four requests of 100 ms. The sizes can be
# changed (JOBPLATFORM_BENCH_PEOPLE, JOBPLATFORM_BENCH_DEALS).
PEOPLE = int(os.environ.get("JOBPLATFORM_BENCH_PEOPLE", "500"))
DEALS = int(os.environ.get("JOBPLATFORM_BENCH_DEALS", "300"))
SEED = 1  # the simulator's default
TIMEOUT = 600
QUIET = ["-l", "warning", "--without-mingle", "--without-gossip"]


def keys_for(side: str, round_number: int) -> list[str]:
    return [f"bench-{side}-{round_number}-{n}" for n in range(USERS)]


def warm_simulator(base_url: str, keys: list[str]) -> None:
    """Have the simulator build each key's account now (its first request would), so the
    building is not timed as the syncs'."""
    from concurrent.futures import ThreadPoolExecutor

    from jobplatform.integrations import FubClient

    def me(key: str) -> None:
        with FubClient(key, base_url) as client:
            client.me()

    with ThreadPoolExecutor(32) as pool:
        list(pool.map(me, keys))


def prepare(app: Flask, keys: list[str]) -> list[int]:
    """A user per key with an onboarded FUB integration holding the account's deals (as its
    onboarding left them); their ids."""
    from jobplatform.database import begin_write
    from jobplatform.extensions import db
    from jobplatform.simulators.fub_data import FubAccount
    from jobplatform.sync import crypto
    from jobplatform.sync.fub import DEAL_COMPARED, deal_record
    from jobplatform.sync.models import Deal, Integration
    from jobplatform.sync.upsert import upsert

    now = datetime.now(UTC)
    with app.app_context():
        integrations = []
        begin_write(db.session)
        for n, key in enumerate(keys, 1):
            integrations.append(
                Integration(
                    user_id=n,
                    provider="fub",
                    api_key_encrypted=crypto.encrypt(app.config["SECRET_KEY"], key),
                    key_fingerprint=crypto.fingerprint(key),
                    account_id=str(n),
                    enabled=True,
                    sync_cursor=now - timedelta(hours=1),
                    onboarded_at=now - timedelta(hours=1),
                    created_at=now,
                    updated_at=now,
                )
            )
            deals = FubAccount(SEED, key, people=PEOPLE, deals=DEALS).snapshot()["deals"]
            upsert(
                db.session,
                Deal,
                {"user_id": n, "source": "fub"},
                [deal_record(d) for d in deals],
                DEAL_COMPARED,
            )
        db.session.add_all(integrations)
        db.session.commit()
        ids = [i.id for i in integrations]
        db.session.remove()
    return ids


def publish_syncs(app: Flask, integration_ids: list[int]) -> list[str]:
    """A sync of each integration recorded and published, as beat's fan-out does."""
    from jobplatform.extensions import db
    from jobplatform.sync.scheduling import ensure_sync

    with app.app_context():
        job_ids = [ensure_sync(db.session, i, actor="bench")[0] for i in integration_ids]
        db.session.remove()
    return job_ids


def finished(app: Flask, job_ids: list[str]) -> dict | None:
    """The side's figures once every job has ended, else None."""
    import sqlalchemy as sa

    from jobplatform.extensions import db
    from jobplatform.jobs.models import Job

    with app.app_context():
        try:
            rows = db.session.execute(
                sa.select(Job.status, Job.started_at, Job.finished_at).where(Job.id.in_(job_ids))
            ).all()
            if sum(1 for r in rows if r.status in ("complete", "error", "cancelled")) < len(
                job_ids
            ):
                return None
            span = (
                max(r.finished_at for r in rows) - min(r.started_at for r in rows if r.started_at)
            ).total_seconds()
            return {"span": span, "statuses": sorted({r.status for r in rows})}
        finally:
            db.session.remove()


def check_tracking(app: Flask, job_ids: list[str]) -> list[str]:
    """What is wrong with the side's tracking and synced rows; empty when all is right."""
    import sqlalchemy as sa

    from jobplatform.extensions import db
    from jobplatform.jobs import counts
    from jobplatform.jobs.models import Job, JobEvent
    from jobplatform.sync.models import Contact, Deal

    problems = []
    with app.app_context():
        jobs = db.session.scalars(sa.select(Job).where(Job.id.in_(job_ids))).all()
        not_complete = [j.id for j in jobs if j.status != "complete"]
        if len(jobs) != len(job_ids) or not_complete:
            problems.append(f"{len(not_complete)} of {len(job_ids)} jobs not complete")
        paths = db.session.execute(
            sa.select(JobEvent.job_id, JobEvent.from_status, JobEvent.to_status)
            .where(JobEvent.job_id.in_(job_ids))
            .order_by(JobEvent.id)
        ).all()
        history: dict[str, list] = {}
        for job_id, frm, to in paths:
            history.setdefault(job_id, []).append((frm, to))
        expected = [(None, "pending"), ("pending", "processing"), ("processing", "complete")]
        wrong = sum(1 for j in job_ids if history.get(j) != expected)
        if wrong:
            problems.append(f"{wrong} jobs with another history than {expected}")
        if counts.stored_counts(db.session) != counts.recount(db.session):
            problems.append("the per-queue counters differ from a recount of the rows")
        # Every sync sees each of its account's deals once: created, updated or unchanged.
        reported = {"contacts": 0, "deals": 0}
        for job in jobs:
            for kind in reported:
                reported[kind] += sum(((job.result or {}).get(kind) or {}).values())
        stored = {
            "contacts": db.session.scalar(sa.select(sa.func.count()).select_from(Contact)),
            "deals": db.session.scalar(sa.select(sa.func.count()).select_from(Deal)),
        }
        if stored != reported:
            problems.append(f"rows stored {stored} differ from the jobs' results {reported}")
        db.session.remove()
        db.engine.dispose()
    return problems


def cpu_seconds(pid: int) -> float:
    """CPU time used so far by a process and its children (a prefork worker's pool)."""
    import psutil

    root = psutil.Process(pid)
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def workers(side: str, env: dict[str, str], logs: Path) -> list:
    """The worker processes of a side, as context managers."""
    from jobplatform.queues import QUEUE_NAMES
    from jobplatform.topology import WORKER_GROUPS

    if side == "plain":
        return [celery_worker("jobplatform", ",".join(QUEUE_NAMES), env, logs / "plain.log")]
    return [
        process(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "jobplatform",
                "worker",
                *group.celery_args(copy=copy),
                *QUIET,
            ],
            env,
            logs / f"{group.node(copy)}.log",
        )
        for group in WORKER_GROUPS
        for copy in range(1, group.processes + 1)
    ]


def run_side(side: str, round_number: int, env: dict[str, str], tmp: Path, redis_url: str) -> dict:
    import redis

    from jobplatform import create_app

    database = f"sqlite:///{tmp}/{side}-{round_number}.db"
    env = {**env, "JOBPLATFORM_DATABASE_URL": database}
    os.environ.update(env)
    redis.Redis.from_url(redis_url).flushdb()
    fresh_database(database)
    app = create_app()
    keys = keys_for(side, round_number)
    warm_simulator(env["JOBPLATFORM_FUB_BASE_URL"], keys)
    integration_ids = prepare(app, keys)
    with ExitStack() as stack:
        applier = stack.enter_context(
            process(
                [sys.executable, "-m", "jobplatform", "applier"],
                env,
                tmp / f"applier-{side}-{round_number}.log",
            )
        )
        procs = [stack.enter_context(worker) for worker in workers(side, env, tmp)]
        wait_until(partial(_all_ready, len(procs)), 120, f"the {side} side's workers", 0.5)
        # What the workers used to start is not theirs to count: a worker runs for days.
        cpu_at_start = sum(cpu_seconds(p.pid) for p in procs)
        applier_cpu_at_start = cpu_seconds(applier.pid)
        job_ids = publish_syncs(app, integration_ids)
        result: dict = {}

        def done() -> bool:
            figures = finished(app, job_ids)
            if figures:
                result.update(figures)
            return bool(figures)

        wait_until(done, TIMEOUT, f"the {side} side's {len(job_ids)} syncs", interval=0.5)
        result["worker_cpu"] = sum(cpu_seconds(p.pid) for p in procs) - cpu_at_start
        result["applier_cpu"] = cpu_seconds(applier.pid) - applier_cpu_at_start
    result["problems"] = check_tracking(app, job_ids)
    with app.app_context():
        from jobplatform.extensions import db

        db.engine.dispose()
    result["per_minute"] = len(job_ids) / result["span"] * 60
    return result


def main() -> None:
    from jobplatform.simulators import SimulatorControl
    from jobplatform.topology import WORKER_GROUPS

    with workdir() as tmp, embedded_redis(tmp / "redis") as redis_url:
        port = free_port()
        env = {
            **os.environ,
            "JOBPLATFORM_BROKER_URL": redis_url,
            "JOBPLATFORM_JOURNAL_URL": redis_url,
            "JOBPLATFORM_INSTANCE_PATH": str(tmp / "instance"),
            "JOBPLATFORM_SECRET_KEY": "bench",
            "JOBPLATFORM_FUB_BASE_URL": f"http://127.0.0.1:{port}/v1",
            "JOBPLATFORM_FUB_SYSTEM": "jobplatform",
            "JOBPLATFORM_FUB_SYSTEM_KEY": "bench",
        }
        simulator = [
            sys.executable,
            "-m",
            "jobplatform",
            "simulate",
            "fub",
            "--port",
            str(port),
            "--seed",
            str(SEED),
            "--people",
            str(PEOPLE),
            "--deals",
            str(DEALS),
            "--latency",
            str(LATENCY_MS),
            "--rate-limit",
            "250",
        ]
        shipped = "; ".join(f"{g.processes} x {' '.join(g.celery_args())}" for g in WORKER_GROUPS)
        print(
            f"{USERS} FUB syncs, {LATENCY_MS} ms a request, SQLite; topology = {shipped}; "
            f"plain = -c 2 prefork on all queues",
            flush=True,
        )
        with process(simulator, env, tmp / "simulator.log"):
            control = SimulatorControl(f"http://127.0.0.1:{port}/_sim")
            wait_until(partial(_answers, control), 30, "the simulator to start", 0.2)
            ratios: list[float] = []
            for round_number in range(1, ROUNDS + 1):
                rates: dict[str, float] = {}
                for side in ("topology", "plain"):
                    before = control.stats()
                    run = run_side(side, round_number, env, tmp, redis_url)
                    after = control.stats()
                    refused = after["rate_limited"] - before["rate_limited"]
                    requests = after["requests"] - before["requests"] - USERS  # less the warm-up
                    verdict = "; ".join(run["problems"]) or "every job complete, counts equal rows"
                    worker_ms, applier_ms = (
                        run[k] / USERS * 1000 for k in ("worker_cpu", "applier_cpu")
                    )
                    print(
                        f"round {round_number} {side}: {USERS} syncs in {run['span']:.1f} s "
                        f"= {run['per_minute']:,.0f} jobs/min; {requests} requests, "
                        f"{refused} answered 429; CPU a job: workers "
                        f"{worker_ms:.0f} ms, applier {applier_ms:.0f} ms; tracking: {verdict}",
                        flush=True,
                    )
                    if run["problems"]:
                        raise SystemExit(f"{side}: tracking is wrong: {run['problems']}")
                    rates[side] = run["per_minute"]
                ratios.append(rates["topology"] / rates["plain"])
                print(f"round {round_number}: topology/plain {ratios[-1]:.2f}", flush=True)
        print(f"rounds' ratios: {', '.join(f'{r:.2f}' for r in ratios)}")
        print(f"topology/plain ratio: {statistics.median(ratios):.2f}")


def _all_ready(count: int) -> bool:
    """Whether `count` workers answer a ping (each is consuming its queues)."""
    from jobplatform import celery

    return len(celery.control.ping(timeout=0.5)) >= count


def _answers(control) -> bool:
    try:
        control.stats()
    except Exception:  # not listening yet
        return False
    return True


if __name__ == "__main__":
    started = time.monotonic()
    main()
    print(f"(ran {time.monotonic() - started:.0f} s)", file=sys.stderr)
