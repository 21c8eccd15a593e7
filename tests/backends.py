"""The services a test run uses, one set per pytest-xdist worker.

Each worker (`gw0`, `gw1`, ...) runs its own platform processes (applier, worker, web) against
services no other worker touches, since tests judge their rows and counts in one store and
queues: the machine's PostgreSQL gets a database per worker (`test_gw0`, ...), its Redis a
database number per worker (counting down from the one given: /15, /14, ...), RabbitMQ a
virtual host per worker. Without xdist the services are used as given.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import httpx
import sqlalchemy as sa

REDIS_DATABASES = 16


def xdist_worker() -> str | None:
    """This process's xdist worker id ("gw0", ...), or None outside xdist."""
    return os.environ.get("PYTEST_XDIST_WORKER")


def worker_number(worker: str) -> int:
    return int(worker.removeprefix("gw"))


def redis_url_for(url: str, worker: str) -> str:
    """The same Redis, on a database number of the worker's own."""
    parts = urlsplit(url)
    base = int(parts.path.strip("/") or 0)
    number = (base - worker_number(worker)) % REDIS_DATABASES
    return urlunsplit(parts._replace(path=f"/{number}"))


def postgres_url_for(url: str, worker: str) -> str:
    """The same server, on a database of the worker's own, created if it is missing."""
    target = sa.engine.make_url(url)
    own = target.set(database=f"{target.database}_{worker}")
    server = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as connection:
            exists = connection.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                       {"n": own.database})
            if not exists:
                connection.exec_driver_sql(f'CREATE DATABASE "{own.database}"')
    finally:
        server.dispose()
    return own.render_as_string(hide_password=False)


def amqp_url_for(url: str, worker: str) -> str:
    """The same RabbitMQ, on a virtual host of the worker's own, created if it is missing."""
    parts = urlsplit(url)
    vhost = f"jobplatform-tests-{worker}"
    _ensure_vhost(parts.hostname or "localhost", unquote(parts.username or "guest"),
                  unquote(parts.password or "guest"), vhost)
    return urlunsplit(parts._replace(path=f"/{quote(vhost, safe='')}"))


def _ensure_vhost(host: str, user: str, password: str, vhost: str) -> None:
    """Through the management API when it answers, else `rabbitmqctl` on this machine."""
    api = f"http://{host}:15672/api"
    grant = {"configure": ".*", "write": ".*", "read": ".*"}
    try:
        with httpx.Client(auth=(user, password), timeout=10) as client:
            client.put(f"{api}/vhosts/{quote(vhost, safe='')}").raise_for_status()
            client.put(f"{api}/permissions/{quote(vhost, safe='')}/{quote(user, safe='')}",
                       json=grant).raise_for_status()
        return
    except httpx.HTTPError:
        pass
    if shutil.which("rabbitmqctl") is None:
        raise RuntimeError(
            f"cannot create the RabbitMQ virtual host {vhost!r} for this test worker: neither "
            f"the management API ({api}) nor rabbitmqctl is available; run pytest with -n 0")
    listed = subprocess.run(["rabbitmqctl", "-q", "list_vhosts"], capture_output=True,
                            text=True, check=True).stdout.split()
    if vhost not in listed:
        subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], capture_output=True, check=True)
    subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", vhost, user,
                    *grant.values()], capture_output=True, check=True)


def for_worker(url: str | None, worker: str | None) -> str | None:
    """`url` made the worker's own (see the module); unchanged outside xdist."""
    if not url or worker is None:
        return url
    if url.startswith(("redis://", "rediss://")):
        return redis_url_for(url, worker)
    if url.startswith("postgresql"):
        return postgres_url_for(url, worker)
    if url.startswith(("amqp://", "amqps://", "pyamqp://")):
        return amqp_url_for(url, worker)
    return url
