"""`jobplatform up`: the whole platform on one machine until Ctrl-C."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import secrets
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from flask import Flask

from .. import database, running
from ..config import EMBEDDED_REDIS_FILE, PREFIX, Settings, instance_path
from ..database import begin_write
from ..embedded import EmbeddedRedis
from ..extensions import db
from ..supervisor import Supervisor
from ..topology import GENERAL_WORKERS, SYNC_WORKERS, WORKER_GROUPS
from ..users.tokens import FIRST_ADMIN_EMAIL, create_first_admin
from .ports import ensure_port_free

log = logging.getLogger(__name__)

Command = tuple[str, list[str]]


@dataclass(frozen=True)
class PlatformOptions:
    port: int = 8000
    flower: bool = False
    flower_port: int = 5555
    concurrency: int = GENERAL_WORKERS.concurrency
    sync_threads: int = SYNC_WORKERS.concurrency
    log_to_terminal: bool = False


@dataclass
class Extras:
    """What the demo adds to `up`: processes started first (stopped last), a step once they
    all run (given the app and the web's URL), returning lines for the banner."""

    commands: Sequence[Command] = ()
    on_ready: Callable[[Flask, str], list[str]] | None = None


def platform_options(command: Callable[[PlatformOptions], None]) -> Callable[..., None]:
    """The options `up` and `demo` share, given to the command as one `PlatformOptions`."""

    @functools.wraps(command)
    def with_options(**values: Any) -> None:
        command(PlatformOptions(**values))

    wrapped: Callable[..., None] = with_options
    for option in reversed(
        (
            click.option("--port", default=8000, show_default=True, help="Port of the web app."),
            click.option("--flower", is_flag=True, help="Also run Flower."),
            click.option("--flower-port", default=5555, show_default=True),
            click.option(
                "--concurrency",
                "-c",
                default=GENERAL_WORKERS.concurrency,
                show_default=True,
                help="Processes of the `general` worker.",
            ),
            click.option(
                "--sync-threads",
                default=SYNC_WORKERS.concurrency,
                show_default=True,
                help="Threads of each sync worker (the FUB and reZEN queues).",
            ),
            click.option(
                "--log-to-terminal",
                is_flag=True,
                help="Show every process's output here, each line behind its name, "
                "instead of in the instance's logs/ folder.",
            ),
        )
    ):
        wrapped = option(wrapped)
    return wrapped


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


def platform_commands(options: PlatformOptions, settings: Settings) -> list[Command]:
    """Each process of the platform and its command line, in starting order."""
    python = sys.executable
    celery = [python, "-m", "celery", "-A", "jobplatform"]
    worker = [*celery, "worker", "-l", "info"]
    syncs = [
        (
            SYNC_WORKERS.node(copy),
            [*worker, *SYNC_WORKERS.celery_args(concurrency=options.sync_threads, copy=copy)],
        )
        for copy in range(1, SYNC_WORKERS.processes + 1)
    ]
    commands = [
        ("applier", [python, "-m", "jobplatform", "applier"]),
        *syncs,
        ("general", [*worker, *GENERAL_WORKERS.celery_args(concurrency=options.concurrency)]),
        (
            "beat",
            [
                *celery,
                "beat",
                "-l",
                "info",
                "-s",
                str(settings.instance_path / "celerybeat-schedule"),
            ],
        ),
        # Threads: a dashboard asks a few small questions a second over kept-alive
        # connections, which gunicorn's sync workers would close after every answer.
        (
            "web",
            [
                python,
                "-m",
                "gunicorn",
                "-c",
                "python:jobplatform.gunicorn_config",
                "--bind",
                f"127.0.0.1:{options.port}",
                "--workers",
                "2",
                "--threads",
                "4",
                "--access-logfile",
                "-",
                "jobplatform:create_app()",
            ],
        ),
    ]
    if options.flower:
        commands.append(
            # Persistent: the task history survives a restart of the platform.
            (
                "flower",
                [
                    *celery,
                    "flower",
                    "--address=127.0.0.1",
                    f"--port={options.flower_port}",
                    "--persistent=True",
                    f"--db={settings.instance_path / 'flower.db'}",
                ],
            )
        )
    return commands


WORKER_NAMES = frozenset(
    group.node(copy) for group in WORKER_GROUPS for copy in range(1, group.processes + 1)
)


def stop_timeout(name: str) -> float:
    """A worker gets a minute to finish its running jobs; the rest stop at once."""
    return 60.0 if name in WORKER_NAMES else 20.0


def run_platform(options: PlatformOptions, extras: Extras | None = None) -> int:
    """Start everything, wait for Ctrl-C (or a process dying), stop everything."""
    extras = extras or Extras()
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s: %(levelname)s/up] %(message)s")
    for chatty in ("alembic", "httpx"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    ensure_port_free(options.port)
    if options.flower:
        ensure_port_free(options.flower_port, option="--flower-port")
    # Its own instance (the default one, unless told), never the advert of one running here.
    os.environ.setdefault(PREFIX + "INSTANCE_PATH", str(instance_path()))
    settings = Settings.from_env()
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with broker_environment(settings) as env:
        # Flower's own sign-in: made for this run, told only to Flower and the banner.
        flower_env = {"FLOWER_BASIC_AUTH": f"operator:{secrets.token_urlsafe(12)}"}
        if options.flower:
            env[PREFIX + "FLOWER_URL"] = f"http://127.0.0.1:{options.flower_port}"
        os.environ.update(env)  # so this process's app and Celery see the same broker
        from ..app import create_app

        click.echo("applying database migrations ...")
        app = create_app()
        database.upgrade(app)
        first_admin = first_admin_token(app)
        log_dir = None if options.log_to_terminal else settings.instance_path / "logs"
        supervisor = Supervisor(env, log_dir=log_dir)
        web_url = f"http://127.0.0.1:{options.port}"
        # Commands started in this folder (`jobplatform status`, `celery -A jobplatform
        # inspect`) reach this platform through the advert, whatever its instance.
        advert = running.advertise(instance_path({}), Settings.from_env(env).model_dump(), web_url)
        try:
            for name, argv in [*extras.commands, *platform_commands(options, settings)]:
                supervisor.start(
                    name,
                    argv,
                    stop_timeout=stop_timeout(name),
                    env=flower_env if name == "flower" else None,
                )
            extra_lines = extras.on_ready(app, web_url) if extras.on_ready else []
            flower_login = flower_env["FLOWER_BASIC_AUTH"] if options.flower else None
            click.echo(
                banner(options, env, settings, first_admin, log_dir, extra_lines, flower_login)
            )
            died = supervisor.watch(stop)
            if died is not None:
                click.echo(
                    f"{died.name} keeps exiting (code {died.process.returncode}, "
                    f"{len(died.exits)} times in a few minutes); stopping the platform. "
                    "Its last lines:",
                    err=True,
                )
                for line in died.last_lines():
                    click.echo(f"  {line}", err=True)
                return 1
            return 0
        finally:
            click.echo("stopping ...")
            supervisor.stop_all()
            running.withdraw(advert)
            click.echo("stopped.")


def first_admin_token(app: Flask) -> str | None:
    """The first start of an instance makes an operator, so that whoever started it can sign
    in at once; their token is returned to be shown this once (only its hash is kept)."""
    with app.app_context():
        begin_write(db.session)
        made = create_first_admin(db.session)
        db.session.commit()
    return made[1] if made else None


def banner(
    options: PlatformOptions,
    env: dict[str, str],
    settings: Settings,
    first_admin: str | None = None,
    log_dir: Path | None = None,
    extra_lines: Sequence[str] = (),
    flower_login: str | None = None,
) -> str:
    web = f"http://127.0.0.1:{options.port}"
    lines = [
        "",
        "jobplatform is up (Ctrl-C stops everything):",
        f"  dashboard  {web}/dashboard",
    ]
    if first_admin and not extra_lines:
        lines += [
            f"  sign in    with the operator token {first_admin}",
            f"             (shown only now; '{FIRST_ADMIN_EMAIL}' can get another with",
            f"             'jobplatform users token {FIRST_ADMIN_EMAIL}')",
        ]
    elif not extra_lines:
        lines.append("  a token    jobplatform users token EMAIL  (users list shows who exists)")
    lines += list(extra_lines)
    lines += [
        f"  API        {web}/api/v2   (reference: {web}/api/v2/openapi.json)",
        f"  health     {web}/healthz   metrics {web}/metrics",
        f"  broker     {env[PREFIX + 'BROKER_URL']}",
        f"  database   {settings.database_url}",
    ]
    if flower_login:
        user, password = flower_login.split(":", 1)
        lines.append(
            f"  flower     http://127.0.0.1:{options.flower_port}   "
            f"(user {user}, password {password})"
        )
    if log_dir is not None:
        lines.append(f"  logs       {log_dir}/<process>.log")
    lines.append("  inspect    celery -A jobplatform inspect active_queues")
    return "\n".join(lines) + "\n"


@click.command()
@platform_options
def up(options: PlatformOptions) -> None:
    """Run the whole platform on this machine: broker (embedded unless
    JOBPLATFORM_BROKER_URL is set), migrations, applier, workers, beat and web."""
    sys.exit(run_platform(options))
