"""`jobplatform up`: the whole platform on one machine until Ctrl-C."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import click
from flask import Flask

from .. import database
from ..config import EMBEDDED_REDIS_FILE, PREFIX, Settings
from ..database import begin_write
from ..embedded import EmbeddedRedis
from ..extensions import db
from ..queues import QUEUE_NAMES
from ..supervisor import Supervisor
from ..users.tokens import FIRST_ADMIN_EMAIL, create_first_admin

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlatformOptions:
    port: int = 8000
    flower: bool = False
    flower_port: int = 5555
    concurrency: int = 2


def platform_options(command: click.Command) -> click.Command:
    """The options `up` and `demo` share."""
    for option in reversed((
        click.option("--port", default=8000, show_default=True, help="Port of the web app."),
        click.option("--flower", is_flag=True, help="Also run Flower."),
        click.option("--flower-port", default=5555, show_default=True),
        click.option("--concurrency", "-c", default=2, show_default=True,
                     help="Worker processes."),
    )):
        command = option(command)
    return command


@contextlib.contextmanager
def broker_environment(settings: Settings) -> Iterator[dict[str, str]]:
    """The environment the platform's processes share: the configured broker, or else an
    embedded Redis started for the duration, advertised in the instance folder."""
    env = dict(os.environ)
    env[PREFIX + "INSTANCE_PATH"] = str(settings.instance_path)
    env[PREFIX + "DATABASE_URL"] = settings.database_url
    if os.environ.get(PREFIX + "BROKER_URL"):
        yield env
        return
    advert = settings.instance_path / EMBEDDED_REDIS_FILE
    with EmbeddedRedis(settings.instance_path / "redis") as redis_server:
        env[PREFIX + "BROKER_URL"] = redis_server.url
        redis_server.advertise(advert, redis_server.process.pid)
        try:
            yield env
        finally:
            advert.unlink(missing_ok=True)


def platform_commands(options: PlatformOptions, settings: Settings) -> list[tuple[str, list[str]]]:
    """Each process of the platform and its command line, in starting order."""
    python = sys.executable
    celery = [python, "-m", "celery", "-A", "jobplatform"]
    commands = [
        ("applier", [python, "-m", "jobplatform", "applier"]),
        ("worker", [*celery, "worker", "-Q", ",".join(QUEUE_NAMES), "-c",
                    str(options.concurrency), "-n", "worker@%h", "-l", "info"]),
        ("beat", [*celery, "beat", "-l", "info",
                  "-s", str(settings.instance_path / "celerybeat-schedule")]),
        # Threads: a dashboard asks a few small questions a second over kept-alive
        # connections, which gunicorn's sync workers would close after every answer.
        ("web", [python, "-m", "gunicorn", "--bind", f"127.0.0.1:{options.port}",
                 "--workers", "2", "--threads", "4", "--access-logfile", "-",
                 "jobplatform:create_app()"]),
    ]
    if options.flower:
        commands.append(("flower", [*celery, "flower", "--address=127.0.0.1",
                                    f"--port={options.flower_port}"]))
    return commands


def run_platform(options: PlatformOptions, banner_extra: str = "") -> int:
    """Start everything, wait for Ctrl-C (or a process dying), stop everything."""
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s: %(levelname)s/up] %(message)s")
    settings = Settings.from_env()
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with broker_environment(settings) as env:
        os.environ.update(env)  # so this process's app and Celery see the same broker
        from ..app import create_app

        click.echo("applying database migrations ...")
        app = create_app()
        database.upgrade(app)
        first_admin = first_admin_token(app)
        supervisor = Supervisor(env)
        try:
            for name, argv in platform_commands(options, settings):
                supervisor.start(name, argv, stop_timeout=60 if name == "worker" else 20)
            click.echo(banner(options, env, settings, first_admin) + banner_extra)
            died = supervisor.watch(stop)
            if died is not None:
                click.echo(f"{died.name} exited unexpectedly; stopping the platform", err=True)
                return 1
            return 0
        finally:
            click.echo("stopping ...")
            supervisor.stop_all()


def first_admin_token(app: Flask) -> str | None:
    """The first start of an instance makes an operator, so that whoever started it can sign
    in at once; their token is returned to be shown this once (only its hash is kept)."""
    with app.app_context():
        begin_write(db.session)
        made = create_first_admin(db.session)
        db.session.commit()
    return made[1] if made else None


def banner(options: PlatformOptions, env: dict[str, str], settings: Settings,
           first_admin: str | None = None) -> str:
    web = f"http://127.0.0.1:{options.port}"
    lines = [
        "",
        "jobplatform is up (Ctrl-C stops everything):",
        f"  dashboard  {web}/dashboard",
    ]
    if first_admin:
        lines += [
            f"  sign in    with the operator token {first_admin}",
            f"             (shown only now; '{FIRST_ADMIN_EMAIL}' can get another with",
            f"             'jobplatform users token {FIRST_ADMIN_EMAIL}')",
        ]
    else:
        lines.append("  a token    jobplatform users token EMAIL  (users list shows who exists)")
    lines += [
        f"  API        {web}/api/v2   (reference: {web}/api/v2/openapi.json)",
        f"  health     {web}/healthz   metrics {web}/metrics",
        f"  broker     {env[PREFIX + 'BROKER_URL']}",
        f"  database   {settings.database_url}",
    ]
    if options.flower:
        lines.append(f"  flower     http://127.0.0.1:{options.flower_port}")
    lines.append("  inspect    celery -A jobplatform inspect active_queues")
    return "\n".join(lines) + "\n"


@click.command()
@platform_options
def up(port: int, flower: bool, flower_port: int, concurrency: int) -> None:
    """Run the whole platform on this machine: broker (embedded unless
    JOBPLATFORM_BROKER_URL is set), migrations, applier, worker, beat and web."""
    sys.exit(run_platform(PlatformOptions(port, flower, flower_port, concurrency)))
