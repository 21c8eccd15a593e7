"""What the benchmarks share: an embedded Redis, managed subprocesses, the databases to try."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from jobplatform.embedded import free_port  # noqa: F401  (re-exported for the benchmarks)

if TYPE_CHECKING:
    from jobplatform.embedded import EmbeddedRedis

ROOT = Path(__file__).resolve().parents[1]
# A database of the benchmarks' own: they drop every table in it (never the tests' `test`).
POSTGRES_URL = os.environ.get(
    "JOBPLATFORM_BENCH_POSTGRES_URL",
    "postgresql+psycopg://postgres@127.0.0.1:5432/jobplatform_bench",
)


def postgres_reachable(url: str = POSTGRES_URL) -> bool:
    """Whether the server at `url` answers; its database is created if it is missing."""
    import sqlalchemy as sa

    target = sa.engine.make_url(url)
    server = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT",
                              connect_args={"connect_timeout": 2})
    try:
        with server.connect() as connection:
            exists = connection.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                       {"n": target.database})
            if not exists:
                connection.exec_driver_sql(f'CREATE DATABASE "{target.database}"')
            return True
    except sa.exc.OperationalError:
        return False
    finally:
        server.dispose()


@contextlib.contextmanager
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="jobplatform-bench-") as path:
        yield Path(path)


@contextlib.contextmanager
def embedded_redis(data_dir: Path) -> Iterator[str]:
    with redis_server(data_dir) as server:
        yield server.url


@contextlib.contextmanager
def redis_server(data_dir: Path) -> Iterator[EmbeddedRedis]:
    """The embedded Redis itself (its `url`, and its `process` for CPU accounting)."""
    from jobplatform.embedded import EmbeddedRedis

    with EmbeddedRedis(data_dir, persistent=False) as server:
        yield server


@contextlib.contextmanager
def process(argv: Sequence[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """A subprocess for the duration, stopped with SIGTERM (then SIGKILL) afterwards."""
    env = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))}
    with log.open("ab") as out:
        proc = subprocess.Popen(list(argv), env=env, cwd=ROOT, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def worker_argv(app: str, queues: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", app, "worker", "-Q", queues, "-c", "2",
            "-l", "warning", "--without-mingle", "--without-gossip", *extra]


def celery_worker(app: str, queues: str, env: dict[str, str], log: Path,
                  *extra: str) -> contextlib.AbstractContextManager[subprocess.Popen]:
    return process(worker_argv(app, queues, *extra), env, log)


def wait_until(check: Callable[[], bool], timeout: float, what: str,
               interval: float = 0.01) -> float:
    """Poll until `check()`; returns the perf_counter time it first held."""
    deadline = time.perf_counter() + timeout
    while not check():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(interval)
    return time.perf_counter()


def percentile(values: Sequence[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def mean(values: Sequence[float]) -> float:
    return statistics.fmean(values)


def fresh_database(url: str) -> None:
    """Drop every table at `url` and migrate it from scratch."""
    import sqlalchemy as sa

    from jobplatform import create_app, database
    from jobplatform.extensions import db

    os.environ["JOBPLATFORM_DATABASE_URL"] = url
    app = create_app()
    with app.app_context():
        existing = sa.MetaData()
        existing.reflect(db.engine)
        existing.drop_all(db.engine)
        db.engine.dispose()
    logging.disable(logging.INFO)  # the migrations' lines, once a round, in every benchmark
    try:
        database.upgrade(app)
    finally:
        logging.disable(logging.NOTSET)
    with app.app_context():
        db.engine.dispose()
