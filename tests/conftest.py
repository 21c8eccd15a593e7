"""Test set-up with real parts: a Redis server, a database, a prefork Celery worker and the
journal applier, the last two as subprocesses exactly as production runs them.

Environment:
  JOBPLATFORM_TEST_BROKER_URL    a broker to use: a Redis, or a RabbitMQ (amqp://...)
                                 (default: the embedded Redis on a free port)
  JOBPLATFORM_TEST_JOURNAL_URL   a Redis for the journal (default: the broker when it is
                                 Redis, else the embedded Redis)
  JOBPLATFORM_TEST_DATABASE_URL  a database to use (default: SQLite in a temporary folder)
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from flask.testing import FlaskClient

from tests.backends import for_worker, xdist_worker
from tests.support import ApiUser, ManagedProcess, Store, wait_for

ROOT = Path(__file__).resolve().parents[1]
EMBEDDED_REDIS = pytest.StashKey()
SIMULATORS = pytest.StashKey()
FUB_DEFAULTS = {"people": 250, "deals": 30, "rate_limit": 250, "latency_ms": 0,
                "error_rate": 0.0, "churn_per_minute": 0, "window_seconds": 10.0}
REZEN_DEFAULTS = {"transactions": 150, "rate_limit": 0, "latency_ms": 0, "error_rate": 0.0,
                  "churn_per_minute": 0, "window_seconds": 10.0}
#: Faults a test may switch on, off again after it.
FAULTS_OFF = {"malformed": "garbage", "malformed_rate": 0.0, "hang_seconds": 0.0}
TEMP_DIR = pytest.StashKey()


def runs_tests(config: pytest.Config) -> bool:
    """False in pytest-xdist's controller, which only hands tests to its workers."""
    return hasattr(config, "workerinput") or not getattr(config.option, "numprocesses", None)


def pytest_configure(config: pytest.Config) -> None:
    """Point every jobplatform setting at test resources before jobplatform reads them: this
    process's own (tests/backends.py) when xdist runs several."""
    if not runs_tests(config):
        return
    temp = Path(tempfile.mkdtemp(prefix="jobplatform-tests-"))
    config.stash[TEMP_DIR] = temp
    worker = xdist_worker()
    if worker is not None:
        # An xdist worker is given COLUMNS=80 and LINES=24, which the command line under test
        # would take for a terminal's size (its tables folded at 80 columns): as without -n.
        for name in ("COLUMNS", "LINES"):
            os.environ.pop(name, None)
    broker = for_worker(os.environ.get("JOBPLATFORM_TEST_BROKER_URL"), worker)
    journal = for_worker(os.environ.get("JOBPLATFORM_TEST_JOURNAL_URL"), worker)
    if not journal and broker and broker.startswith(("redis://", "rediss://", "unix://")):
        journal = broker
    if not broker or not journal:
        from jobplatform.embedded import EmbeddedRedis

        server = EmbeddedRedis(temp / "redis", persistent=False)
        embedded = server.start()
        config.stash[EMBEDDED_REDIS] = server
        broker, journal = broker or embedded, journal or embedded
    # Provider simulators on loopback, started before any process reads its settings.
    from jobplatform.simulators import FubSimulator, RezenSimulator

    fub = FubSimulator(seed=7, **FUB_DEFAULTS).start()
    rezen = RezenSimulator(seed=7, **REZEN_DEFAULTS).start()
    config.stash[SIMULATORS] = (fub, rezen)
    os.environ.update(JOBPLATFORM_FUB_BASE_URL=fub.base_url,
                      JOBPLATFORM_REZEN_ARRAKIS_URL=rezen.arrakis_url,
                      JOBPLATFORM_REZEN_YENTA_URL=rezen.yenta_url)
    database = (for_worker(os.environ.get("JOBPLATFORM_TEST_DATABASE_URL"), worker)
                or f"sqlite:///{temp}/test.db")
    os.environ.update(
        JOBPLATFORM_BROKER_URL=broker,
        JOBPLATFORM_JOURNAL_URL=journal,
        JOBPLATFORM_DATABASE_URL=database,
        JOBPLATFORM_INSTANCE_PATH=str(temp / "instance"),
        JOBPLATFORM_SECRET_KEY="test-secret-key",
        # A provider that hangs fails a test's sync in seconds, not minutes.
        JOBPLATFORM_PROVIDER_TIMEOUT="2",
    )


# Tests of what only a Redis broker has: messages read out of its queue lists, and a restart
# that loses its data. On RabbitMQ the reaper's look is the coarser one of
# jobs/lost_messages.py, which tests/test_celery_cli.py covers on either broker.
REDIS_BROKER_ONLY = {
    "tests/test_scheduling.py::"
    "test_the_broker_scan_finds_messages_waiting_in_a_queue_and_taken_by_a_worker":
        "reads message ids out of Redis queue lists; RabbitMQ cannot be read without consuming",
    "tests/test_scheduling.py::"
    "test_the_reaper_publishes_again_a_pending_job_whose_message_was_lost":
        "a Redis broker that lost its data; on RabbitMQ (durable messages) a pending job "
        "with no message was purged, and ends cancelled",
    "tests/test_scheduling.py::test_a_job_whose_message_keeps_getting_lost_ends_in_error":
        "waits on the Redis broker scan (held_job_ids) between looks",
}


def backends_under_test() -> set[str]:
    """What this run changes from the default configuration (SQLite, a Redis broker): the
    `database`, the `broker`, or neither."""
    changed = set()
    if os.environ.get("JOBPLATFORM_TEST_DATABASE_URL"):
        changed.add("database")
    if not broker_is_redis():
        changed.add("broker")
    return changed


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On another database or broker, only the tests marked as touching it run (the rest,
    browser tests among them, ran in the default configuration); on RabbitMQ, the Redis-only
    ones are skipped."""
    changed = backends_under_test()
    if changed:
        kept, left = [], []
        for item in items:
            (kept if changed & {m.name for m in item.iter_markers()} else left).append(item)
        config.hook.pytest_deselected(items=left)
        items[:] = kept
    if broker_is_redis():
        return
    for item in items:
        reason = REDIS_BROKER_ONLY.get(item.nodeid)
        if reason:
            item.add_marker(pytest.mark.skip(reason=f"Redis broker only: {reason}"))


def pytest_unconfigure(config: pytest.Config) -> None:
    for simulator in config.stash.get(SIMULATORS, ()):
        simulator.stop()
    server = config.stash.get(EMBEDDED_REDIS, None)
    if server is not None:
        server.stop()
    shutil.rmtree(config.stash.get(TEMP_DIR, ""), ignore_errors=True)


def pytest_report_header(config: pytest.Config) -> list[str]:
    if not runs_tests(config):
        defaults = {"broker": "an embedded Redis", "journal": "the broker's Redis",
                    "database": "SQLite in a temporary folder"}
        given = {name: os.environ.get(f"JOBPLATFORM_TEST_{name.upper()}_URL", default)
                 for name, default in defaults.items()}
        return [f"jobplatform {name}: {url.split('@')[-1]}, one per xdist worker"
                for name, url in given.items()]
    return [
        f"jobplatform broker: {os.environ['JOBPLATFORM_BROKER_URL'].split('@')[-1]}",
        f"jobplatform journal: {os.environ['JOBPLATFORM_JOURNAL_URL']}",
        f"jobplatform database: {os.environ['JOBPLATFORM_DATABASE_URL'].split('@')[-1]}",
    ]


def broker_is_redis() -> bool:
    """Whether the tests' broker is Redis (else RabbitMQ, with the journal on a Redis)."""
    return os.environ["JOBPLATFORM_BROKER_URL"].startswith(("redis://", "rediss://", "unix://"))


@pytest.fixture(scope="session")
def redis_client() -> redis.Redis:
    """The journal's Redis (also the broker's, unless the broker is RabbitMQ)."""
    return redis.Redis.from_url(os.environ["JOBPLATFORM_JOURNAL_URL"])


@pytest.fixture(scope="session")
def migrated_database(redis_client: redis.Redis) -> str:
    """A database emptied of everything, then migrated; a Redis database emptied, and the
    platform's queues on any other broker purged of what earlier runs left."""
    from jobplatform import celery, create_app, database
    from jobplatform.extensions import db
    from jobplatform.queues import QUEUE_NAMES

    redis_client.flushdb()
    if not broker_is_redis():
        with celery.connection_for_write() as connection:
            channel = connection.default_channel
            for name in QUEUE_NAMES:
                celery.amqp.queues[name](channel).declare()
                channel.queue_purge(name)
    app = create_app()
    with app.app_context():
        existing = sa.MetaData()
        existing.reflect(db.engine)
        existing.drop_all(db.engine)
    database.upgrade(app)
    with app.app_context():
        db.engine.dispose()
    return os.environ["JOBPLATFORM_DATABASE_URL"]


@pytest.fixture
def app(migrated_database: str):
    from jobplatform import create_app
    from jobplatform.extensions import db
    from tests import worker_tasks  # noqa: F401  (the worker's test jobs, startable by API)

    app = create_app({"TESTING": True})
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def store(app) -> Store:
    return Store(app)


def _subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


@pytest.fixture(scope="session")
def applier(migrated_database: str, tmp_path_factory: pytest.TempPathFactory) -> ManagedProcess:
    """The journal applier, as `jobplatform applier` runs it."""
    process = ManagedProcess(
        "applier",
        [sys.executable, "-m", "jobplatform", "applier"],
        env=_subprocess_env(),
        log_path=tmp_path_factory.mktemp("logs") / "applier.log",
    )
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def worker(applier: ManagedProcess, tmp_path_factory: pytest.TempPathFactory) -> ManagedProcess:
    """A prefork worker (-c 2) consuming all four queues, with the test tasks loaded."""
    from jobplatform import celery
    from jobplatform.queues import QUEUE_NAMES

    name = f"tests-{uuid.uuid4().hex[:6]}@localhost"
    process = ManagedProcess(
        "worker",
        [sys.executable, "-m", "celery", "-A", "jobplatform", "worker",
         "-Q", ",".join(QUEUE_NAMES), "-c", "2", "-n", name, "-I", "tests.worker_tasks",
         # JOBPLATFORM_TEST_WORKER_POOL=threads runs the same tests on the sync workers' pool.
         "-P", os.environ.get("JOBPLATFORM_TEST_WORKER_POOL", "prefork"),
         "-l", "info", "--without-mingle", "--without-gossip"],
        env=_subprocess_env(),
        log_path=tmp_path_factory.mktemp("logs") / "worker.log",
        stop_timeout=30,
    )
    process.start()
    process.node_name = name
    wait_for(lambda: celery.control.ping(destination=[name], timeout=0.5),
             timeout=60, message=f"worker {name} answering ping", process=process)
    yield process
    process.stop()


@pytest.fixture(scope="session")
def subprocess_env() -> dict[str, str]:
    return _subprocess_env()


@pytest.fixture
def user_id() -> int:
    """A user id no other test uses, so each test's jobs and counts are its own."""
    return uuid.uuid4().int % 1_000_000_000 + 1



class FreshSessionClient(FlaskClient):
    """Requests reuse the app context the `app` fixture holds open, so, as in production where
    each request has its own, every request starts with a fresh database transaction."""

    def open(self, *args, **kwargs):
        from jobplatform.extensions import db

        db.session.rollback()
        return super().open(*args, **kwargs)


@pytest.fixture
def client(app):
    app.test_client_class = FreshSessionClient
    return app.test_client()


@pytest.fixture
def make_user(app) -> Callable[..., ApiUser]:
    """A new user with a real API token: `make_user()`, `make_user(admin=True)`."""
    from jobplatform.database import begin_write
    from jobplatform.extensions import db
    from jobplatform.users.tokens import create_user, issue_token

    def make(*, admin: bool = False) -> ApiUser:
        email = f"{uuid.uuid4().hex[:12]}@example.com"
        # As a writer from the start: on SQLite, a write from a read transaction whose snapshot
        # the applier has since moved past fails at once with "database is locked".
        begin_write(db.session)
        user = create_user(db.session, email, admin=admin)
        token = issue_token(db.session, user)
        db.session.commit()
        return ApiUser(user.id, email, token)

    return make


@pytest.fixture
def fub(request: pytest.FixtureRequest):
    """The FUB simulator the worker talks to; settings a test changes are put back after."""
    simulator = request.config.stash[SIMULATORS][0]
    yield simulator
    simulator.configure(**FUB_DEFAULTS, **FAULTS_OFF)


@pytest.fixture
def rezen(request: pytest.FixtureRequest):
    simulator = request.config.stash[SIMULATORS][1]
    yield simulator
    simulator.configure(**REZEN_DEFAULTS, **FAULTS_OFF)


@pytest.fixture
def api_key() -> str:
    """A provider key no other test uses: its own agent, with its own data."""
    return f"key-{uuid.uuid4().hex[:16]}"


@pytest.fixture(scope="session")
def web_server(worker: ManagedProcess, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The web app under gunicorn on a free loopback port, as `jobplatform up` runs it; its
    base URL. Tests may stop and start it (an outage) through `web_process`."""
    from jobplatform.embedded import free_port

    port = free_port()
    process = ManagedProcess(
        "web",
        [sys.executable, "-m", "gunicorn", "-c", "python:jobplatform.gunicorn_config",
         "--bind", f"127.0.0.1:{port}", "--workers", "2",
         "--threads", "4", "--graceful-timeout", "2", "tests.web_app:app"],
        env=_subprocess_env(),
        log_path=tmp_path_factory.mktemp("logs") / "web.log",
    )
    process.start()
    base = f"http://127.0.0.1:{port}"
    _wait_http(f"{base}/healthz", process)
    process.base_url = base
    yield process
    process.stop()


def _wait_http(url: str, process: ManagedProcess) -> None:
    import httpx

    def answers() -> bool:
        try:
            return httpx.get(url, timeout=1).status_code < 500
        except httpx.TransportError:
            return False

    wait_for(answers, timeout=30, message=f"{url} to answer", process=process)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    from tests.browser import launch

    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def dashboard(browser, web_server):
    """A fresh browser context (no storage, desktop size) on the served dashboard."""
    from tests.browser import DESKTOP, Dashboard

    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield Dashboard(page, web_server.base_url)
    context.close()
