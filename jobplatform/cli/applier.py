"""`jobplatform applier`: apply the job journal to the SQL job store until stopped."""

from __future__ import annotations

import logging
import signal
import threading

import click
from flask import current_app
from flask.cli import with_appcontext

from ..extensions import db
from ..jobs.applier import Applier
from ..jobs.journal import connect


@click.command()
@click.option("--batch-size", default=1000, show_default=True, help="Most entries per transaction.")
@click.option(
    "--linger-ms",
    default=100,
    show_default=True,
    help="Under load, how long entries gather before a batch is applied.",
)
@with_appcontext
def applier(batch_size: int, linger_ms: int) -> None:
    """Apply job transitions from the journal to the job store (run one or more)."""
    logging.basicConfig(
        level=logging.INFO, format="[%(asctime)s: %(levelname)s/applier] %(message)s"
    )
    settings = current_app.config["JOBPLATFORM_SETTINGS"]
    worker = Applier(
        connect(settings.journal_url),
        db.engine,
        batch_size=batch_size,
        linger_ms=linger_ms,
    )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    click.echo(f"applier {worker.token[:8]} applying {settings.journal_url.split('@')[-1]}")
    worker.run(stop)
