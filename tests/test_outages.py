"""Real outages under running processes: Redis lost, Redis blinking, the database down.

A stack of its own (an embedded Redis as broker and journal, the applier, a worker, the web
app under gunicorn, a database; beat too where a test asks). Lost: while one job runs and
three wait in the queue, Redis restarts empty. The job store is the system of record: the
running job's end is applied although the journal (and the applier's term counter) started
over, the three lost messages are published again by the reaper and run once each, and every
process reconnects by itself; a sync lost so goes on under beat, and a retry lost with its
worker host keeps its count and its back-off. Blip: Redis is down 10 s with its data kept;
the API says so (503) meanwhile, a job that ends during the blip has its end applied once it
is back, nothing twice. Database: PostgreSQL stopped, or SQLite's write lock held, for 10 s
(the stack's web requests wait 2 s for SQLite's lock, not the 10 s of the default, so a short
outage shows what a long one does).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime

import httpx
import pytest
import redis
import sqlalchemy as sa

from jobplatform.embedded import EmbeddedRedis, free_port
from jobplatform.extensions import db
from jobplatform.jobs.models import Job
from jobplatform.queues import QUEUE_NAMES
from tests.conftest import _subprocess_env
from tests.postgres import PrivatePostgres, postgres_bin
from tests.support import ApiUser, ManagedProcess, Store, wait_for

# Each test brings a stack of its own (its Redis, database and processes), the same whatever
# services the suite runs against: unmarked, so only the default run has them (conftest.py).
BLIP_SECONDS = 10
BEAT_FUB_INTERVAL = 3
DATABASE_OUTAGE_SECONDS = 10
# A web request's wait for SQLite's write lock (JOBPLATFORM_SQLITE_WEB_LOCK_WAIT) in the stack.
WEB_LOCK_WAIT_SECONDS = 2


@pytest.fixture
def private_postgres():
    if postgres_bin() is None or os.geteuid() != 0:
        pytest.skip("needs the PostgreSQL server programs and root (to run them as postgres)")
    server = PrivatePostgres()
    server.start()
    yield server
    server.remove()


@pytest.fixture
def stack(request, tmp_path):
    """Redis, applier, worker (one task at a time) and web, all on that Redis and on a
    database of their own (an applier per journal: two on one database would share its
    position); `store` reads that database, `user` has a token. Parametrized with
    {"persistent": True}, Redis keeps an append-only file; with {"postgres": True}, the
    database is a PostgreSQL server of the test's own; with {"beat": True}, beat runs too,
    fanning out FUB syncs every few seconds (against the suite's FUB simulator)."""
    from jobplatform import create_app

    options = getattr(request, "param", {})
    (tmp_path / "redis").mkdir()
    server = EmbeddedRedis(tmp_path / "redis", persistent=options.get("persistent", False))
    url = server.start()
    postgres = request.getfixturevalue("private_postgres") if options.get("postgres") else None
    database = postgres.url if postgres else f"sqlite:///{tmp_path}/stack.db"
    env = {**_subprocess_env(), "JOBPLATFORM_BROKER_URL": url, "JOBPLATFORM_JOURNAL_URL": url,
           "JOBPLATFORM_DATABASE_URL": database,
           "JOBPLATFORM_INSTANCE_PATH": str(tmp_path / "instance"),
           "JOBPLATFORM_SQLITE_WEB_LOCK_WAIT": str(WEB_LOCK_WAIT_SECONDS)}
    if options.get("beat"):
        env["JOBPLATFORM_FUB_SYNC_INTERVAL"] = str(BEAT_FUB_INTERVAL)
    jobplatform = [sys.executable, "-m", "jobplatform"]
    subprocess.run([*jobplatform, "db", "upgrade"], env=env, check=True, capture_output=True)
    token = subprocess.run([*jobplatform, "users", "create", "stack@example.com"], env=env,
                           check=True, capture_output=True, text=True).stdout.strip()
    port = free_port()
    name = f"lost-{uuid.uuid4().hex[:6]}@localhost"
    processes = {
        "applier": ManagedProcess("applier", [*jobplatform, "applier"],
                                  env=env, log_path=tmp_path / "applier.log"),
        "worker": ManagedProcess(
            "worker", [sys.executable, "-m", "celery", "-A", "jobplatform", "worker",
                       "-Q", ",".join(QUEUE_NAMES), "-c", "1", "--prefetch-multiplier", "1",
                       "-n", name, "-I", "tests.worker_tasks", "-l", "info",
                       "--without-mingle", "--without-gossip"],
            env=env, log_path=tmp_path / "worker.log", stop_timeout=30),
        "web": ManagedProcess(
            "web", [sys.executable, "-m", "gunicorn", "-c", "python:jobplatform.gunicorn_config",
                    "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "4",
                    "tests.web_app:app"], env=env, log_path=tmp_path / "web.log"),
    }
    if options.get("beat"):
        processes["beat"] = ManagedProcess(
            "beat", [sys.executable, "-m", "celery", "-A", "jobplatform", "beat", "-l", "info",
                     "-s", str(tmp_path / "beat-schedule")],
            env=env, log_path=tmp_path / "beat.log")
    for process in processes.values():
        process.start()
    base = f"http://127.0.0.1:{port}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": database}, web=False)
    context = app.app_context()
    context.push()
    try:
        wait_for(lambda: _answers(f"{base}/healthz"), timeout=30, message="the web app",
                 process=processes["web"])
        yield {"redis": server, "postgres": postgres, "env": env, "base": base,
               "store": Store(app), "user": ApiUser(0, "stack@example.com", token),
               **processes}
    finally:
        with contextlib.suppress(sa.exc.SQLAlchemyError):
            db.session.remove()
        db.engine.dispose()
        context.pop()
        for process in processes.values():
            process.kill()
        server.stop()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def start_job(stack, user, job_type: str, params: dict) -> str:
    response = httpx.post(f"{stack['base']}/api/v2/jobs", headers=user.headers,
                          json={"type": job_type, "params": params}, timeout=30)
    assert response.status_code == 202, response.text
    return response.json()["id"]


def running_and_queued(stack, *, seconds: float, queued: int) -> tuple[str, list[str]]:
    """A job running for `seconds`, and `queued` more waiting behind it (one at a time)."""
    running = start_job(stack, stack["user"], "test_sleep", {"seconds": seconds})
    stack["store"].wait_status(running, "processing", process=stack["worker"])
    return running, [start_job(stack, stack["user"], "test_steps", {"count": 2})
                     for _ in range(queued)]


def reap(stack) -> None:
    """One reaper run on the stack's worker, started as an operator would, with `celery call`."""
    call = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "jobplatform", "call",
         "jobplatform.general.reap_jobs", "--kwargs", '{"confirm_lost_after": 0.5}'],
        env=stack["env"], capture_output=True, text=True, timeout=60, check=True)
    stack["store"].wait_status(call.stdout.strip().splitlines()[-1], "complete", timeout=60,
                               process=stack["worker"])


def test_jobs_survive_redis_restarting_without_its_data(stack):
    user, store = stack["user"], stack["store"]
    # Appliers restarted (deploys, failovers) leave a stored term well above 1.
    for _ in range(3):
        stack["applier"].restart()
        store.wait_status(start_job(stack, user, "test_steps", {"count": 1}), "complete",
                          process=stack["applier"])
    gate = f"test-gate:{uuid.uuid4()}"
    running = start_job(stack, user, "test_gate", {"gate": gate, "total": 5,
                                                   "step_seconds": 0.05})
    store.wait_status(running, "processing", process=stack["worker"])
    waiting = [start_job(stack, user, "test_steps", {"count": 1}) for _ in range(3)]
    for job_id in waiting:
        assert store.wait_status(job_id, "pending").status == "pending"

    client = redis.Redis.from_url(stack["env"]["JOBPLATFORM_BROKER_URL"])
    client.set("test:before-the-loss", 1)
    stack["redis"].stop()  # no append-only file: its queues, journal and counters are gone
    stack["redis"].start()
    assert not client.exists("test:before-the-loss")
    client.set(gate, 1, ex=300)  # let the running job finish, into the new, empty journal

    # Its end is applied although the applier's term counter restarted at 1 (each term
    # refused would cost a lease's 15 s).
    store.wait_status(running, "complete", timeout=30, process=stack["worker"])
    # The three waiting messages are gone with the data. The broker came back empty (a new
    # epoch), so the reaper does not wait ten minutes: at two looks it publishes each again,
    # and each runs once.
    reap(stack)
    reap(stack)
    for job_id in waiting:
        store.wait_status(job_id, "complete", timeout=60, process=stack["worker"])
        assert [to for _, to in store.transitions(job_id)] == [
            "pending", "pending", "processing", "complete"]
        assert "message was lost" in store.events(job_id)[1][3]

    # Everything reconnected by itself: a new job through the API runs to its end.
    after = start_job(stack, user, "test_steps", {"count": 1})
    store.wait_status(after, "complete", timeout=60, process=stack["worker"])


def fub_syncs(store, user_id: int, since: datetime | None = None) -> list[Job]:
    """The user's FUB syncs, oldest first (those created after `since`)."""
    query = sa.select(Job).where(Job.user_id == user_id, Job.type == "fub_sync")
    if since is not None:
        query = query.where(Job.created_at > since)
    return [row[0] for row in store.query(query.order_by(Job.created_at))]


@pytest.mark.parametrize("stack", [{"beat": True}], indirect=True, ids=["beat"])
def test_a_sync_lost_with_redis_runs_and_beat_goes_on_scheduling(stack, fub, api_key):
    user, store = stack["user"], stack["store"]
    api = httpx.Client(base_url=f"{stack['base']}/api/v2", headers=user.headers, timeout=30)
    connected = api.post("/integrations", json={"provider": "fub", "api_key": api_key})
    assert connected.status_code == 201, connected.text
    store.wait_status(connected.json()["job"]["id"], "complete", timeout=60,
                      process=stack["worker"])
    user_id = connected.json()["job"]["user_id"]
    wait_for(lambda: any(job.status == "complete" for job in fub_syncs(store, user_id)),
             timeout=60, message="a FUB sync started by beat's fan-out",
             process=stack["beat"])

    # The worker's one slot taken, the next sync waits in its queue when Redis loses it all.
    gate = f"test-gate:{uuid.uuid4()}"
    running = start_job(stack, user, "test_gate", {"gate": gate, "total": 2,
                                                   "step_seconds": 0.05})
    store.wait_status(running, "processing", process=stack["worker"])
    sync = api.post("/integrations/fub/sync")
    assert sync.status_code in (200, 202), sync.text
    lost = sync.json()["id"]
    assert store.wait_status(lost, "pending").status == "pending"
    stack["redis"].stop()
    stack["redis"].start()
    emptied = datetime.now(UTC)
    redis.Redis.from_url(stack["env"]["JOBPLATFORM_BROKER_URL"]).set(gate, 1, ex=300)

    # The lost sync is published again and runs (the fan-out's next ticks find it
    # pending, so they start no second one) ...
    reap(stack)
    reap(stack)
    store.wait_status(lost, "complete", timeout=60, process=stack["worker"])
    assert any("message was lost" in (reason or "") for *_, reason in store.events(lost))
    # ... and beat, reconnected by itself, goes on: its ticks start the next syncs.
    wait_for(lambda: any(job.status == "complete" and job.id != lost
                         for job in fub_syncs(store, user_id, since=emptied)),
             timeout=60, message="a sync beat started after Redis came back",
             process=stack["beat"])
    stack["beat"].stop()

    def all_final() -> bool:
        return not store.query(sa.select(Job.id).where(
            Job.status.in_(["pending", "processing"])))

    wait_for(all_final, timeout=60, message="every job ended, the lost fan-outs too",
             process=stack["worker"])
    # Never two syncs of the user at once.
    syncs = fub_syncs(store, user_id)
    for earlier, later in itertools.pairwise(syncs):
        assert later.started_at >= earlier.finished_at, (earlier.id, later.id)
    api.close()


def test_a_retry_lost_with_its_host_and_redis_keeps_its_count_and_back_off(stack):
    user, store = stack["user"], stack["store"]
    # It fails once and waits out a back-off; its worker holds the retry's message.
    runs_key = f"test-runs:{uuid.uuid4()}"
    job_id = start_job(stack, user, "test_flaky",
                       {"failures": 1, "backoff": 25, "runs_key": runs_key})
    waiting = wait_for(lambda: (job := store.job(job_id)) and job.retries == 1 and job.due_at
                       and job, timeout=30, message="the retry recorded with its due time",
                       process=stack["worker"])
    assert waiting.status == "pending"
    due_at = waiting.due_at

    stack["worker"].kill()  # the host is lost: the worker, and Redis with its data
    stack["redis"].stop()
    stack["redis"].start()
    stack["worker"].start()
    reap(stack)
    reap(stack)

    done = store.wait_status(job_id, "complete", timeout=90, process=stack["worker"])
    events = store.events_at(job_id)
    published_again = next(at for at, _, _, actor, _ in events if actor == "reaper")
    assert published_again < due_at, "the reaper ran after the back-off: nothing proved"
    started = [at for at, _, to, _, _ in events if to == "processing"]
    # One failed run, then one run once the back-off was over: the copy published again
    # kept the due time (it did not run at once) and the retry count (with a count of 0 it
    # fails once more, and runs a third time).
    assert started[-1] >= due_at
    runs = redis.Redis.from_url(stack["env"]["JOBPLATFORM_JOURNAL_URL"]).get(runs_key)
    assert int(runs) == 1  # counted since Redis came back empty: the run after the back-off
    assert done.retries == 1
    assert done.result == {"attempts": 2}


@pytest.mark.parametrize("stack", [{"persistent": True}], indirect=True, ids=["persistent"])
def test_a_ten_second_redis_blip_loses_and_doubles_nothing(stack):
    user, store = stack["user"], stack["store"]
    during, queued = running_and_queued(stack, seconds=4, queued=3)  # it ends during the blip

    stack["redis"].stop()  # a clean stop: its append-only file keeps everything
    stopped = time.monotonic()
    health = httpx.get(f"{stack['base']}/healthz", timeout=30)
    assert health.status_code == 503
    assert health.json()["checks"]["broker"].startswith("down")
    refused = httpx.post(f"{stack['base']}/api/v2/jobs", headers=user.headers, timeout=60,
                         json={"type": "test_steps", "params": {"count": 1}})
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] in ("broker_unavailable", "journal_unavailable",
                                               "unavailable")
    wait_for(lambda: "entries held" in stack["worker"].log_path.read_text(), timeout=20,
             message="the worker to hold the job's end while Redis is down")
    time.sleep(max(0.0, BLIP_SECONDS - (time.monotonic() - stopped)))  # the fault's length
    stack["redis"].start()  # same port, same data

    for job_id in (during, *queued):
        store.wait_status(job_id, "complete", timeout=60, process=stack["worker"])
        assert [to for _, to in store.transitions(job_id)] == [
            "pending", "processing", "complete"], job_id
    counts = httpx.get(f"{stack['base']}/api/v2/job-queue-status", headers=user.headers,
                       timeout=10).json()
    general = next(q for q in counts["queues"] if q["queue"] == "general")
    rows = store.query(sa.select(Job.status, sa.func.count()).group_by(Job.status))
    assert {status: general[status] for status, _ in rows} == dict(rows)
    assert httpx.get(f"{stack['base']}/healthz", timeout=10).status_code == 200


class HeldWriteLock:
    """SQLite "down": a process holding its write lock (a long write, a stuck tool)."""

    def __init__(self, url: str) -> None:
        self.path = url.removeprefix("sqlite:///")
        self.connection: sqlite3.Connection | None = None

    def stop(self) -> None:
        self.connection = sqlite3.connect(self.path, isolation_level=None)
        self.connection.execute("BEGIN IMMEDIATE")

    def start(self) -> None:
        self.connection.rollback()
        self.connection.close()


@pytest.mark.parametrize("stack", [{"postgres": True}, {}], indirect=True,
                         ids=["postgres-stopped", "sqlite-locked"])
def test_a_database_outage_fails_no_job_and_needs_no_restart(stack):
    user, store = stack["user"], stack["store"]
    postgres = stack["postgres"]
    database = postgres or HeldWriteLock(stack["env"]["JOBPLATFORM_DATABASE_URL"])
    during, queued = running_and_queued(stack, seconds=5, queued=2)  # it ends in the outage

    database.stop()
    stopped = time.monotonic()
    health = httpx.get(f"{stack['base']}/healthz", timeout=30)
    assert health.status_code == 503
    assert health.json()["checks"]["database"].startswith("down")
    assert health.json()["checks"]["broker"] == "ok"
    if postgres:
        refused = httpx.get(f"{stack['base']}/api/v2/jobs", headers=user.headers, timeout=30)
    else:
        assert "locked for writing" in health.json()["checks"]["database"]
        # Readers never wait on SQLite: the lists are served; a write waits a little, then
        # is refused.
        listed = httpx.get(f"{stack['base']}/api/v2/jobs", headers=user.headers, timeout=30)
        assert listed.status_code == 200, listed.text
        refused = httpx.post(f"{stack['base']}/api/v2/jobs", headers=user.headers, timeout=30,
                             json={"type": "test_steps", "params": {"count": 1}})
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "database_unavailable"
    assert "Traceback" not in refused.text
    # The jobs run on: their tracking waits in the journal for the database.
    if postgres:
        wait_for(lambda: "waiting" in stack["applier"].log_path.read_text(), timeout=30,
                 message="the applier to wait for the database")
    else:
        wait_for(lambda: f"{during}] succeeded" in stack["worker"].log_path.read_text(),
                 timeout=30, message="the running job to end", process=stack["worker"])
        assert store.job(during).status == "processing"  # its end waits in the journal
    time.sleep(max(0.0, DATABASE_OUTAGE_SECONDS - (time.monotonic() - stopped)))  # the fault
    database.start()
    if postgres:
        # (This test's own reader held a connection the shutdown cut; the platform's
        # processes need nothing of the kind.)
        db.session().invalidate()  # its connection is dead: close it without a rollback
        db.engine.dispose()

    for job_id in (during, *queued):
        job = store.wait_status(job_id, "complete", timeout=60, process=stack["applier"])
        assert job.error_type is None
        assert [to for _, to in store.transitions(job_id)] == [
            "pending", "processing", "complete"], job_id
    # Nothing was restarted: the same web app answers, and a new job runs.
    assert httpx.get(f"{stack['base']}/healthz", timeout=10).status_code == 200
    after = start_job(stack, user, "test_steps", {"count": 1})
    store.wait_status(after, "complete", timeout=60, process=stack["worker"])
    assert stack["worker"].alive()
    assert stack["applier"].alive()

