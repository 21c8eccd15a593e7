"""`celery -A jobplatform jobs`: the job store's queue summary and recent failures, beside
Celery's own `inspect`, `purge` and `control` (registered under `celery.commands`)."""

from __future__ import annotations

from typing import Any

import click
import orjson
import sqlalchemy as sa
from celery.bin.base import CeleryCommand, CLIContext

from . import store_errors
from .config import Settings
from .jobs.counts import queue_summary
from .jobs.queries import JobFilter, list_jobs
from .jobs.scope import Scope
from .jobs.status import STATUS_ORDER, JobStatus

FAILURES_DEFAULT = 10


def job_report(scope: Scope, failures: int) -> dict[str, Any]:
    """What `GET /job-queue-status` and `GET /jobs?status=error` answer for `scope`."""
    from .extensions import db
    from .web.serialize import job_json

    queues, totals = queue_summary(db.session, scope.counter_scopes)
    # Statuses as plain strings, as the API's JSON has them (the counters key them by enum).
    queues = [{str(key): value for key, value in queue.items()} for queue in queues]
    totals = {str(key): value for key, value in totals.items()}
    where = JobFilter(
        user_id=scope.user_id, include_system=scope.include_system, status=JobStatus.ERROR.value
    )
    failed, _ = list_jobs(db.session, where, limit=failures) if failures else ([], None)
    db.session.rollback()
    return {
        "queues": queues,
        "totals": totals,
        "failures": [job_json(job) for job in failed],
        "user_id": scope.user_id,
        "include_system": scope.include_system,
    }


def _table(report: dict[str, Any]) -> str:
    statuses = [s.value for s in STATUS_ORDER]
    rows = [["queue", *statuses]]
    rows += [[q["label"], *(f"{q[s]:,}" for s in statuses)] for q in report["queues"]]
    rows.append(["total", *(f"{report['totals'][s]:,}" for s in statuses)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    )


def _failures(report: dict[str, Any]) -> str:
    if not report["failures"]:
        return "Recent failures: none"
    lines = ["Recent failures (newest first):"]
    for job in report["failures"]:
        error = job["error"] or {}
        ended = (job["finished_at"] or job["created_at"])[:19].replace("T", " ")
        owner = f"user {job['user_id']}" if job["user_id"] is not None else "system"
        lines.append(f"  {ended}  {job['id']}  {job['type']} ({job['queue']}, {owner})")
        lines.append(f"      {error.get('type') or 'error'}: {error.get('message') or ''}")
    return "\n".join(lines)


@click.command(cls=CeleryCommand, name="jobs")
@click.option("--user-id", type=int, default=None, help="One user's jobs (default: all users).")
@click.option(
    "--system",
    "include_system",
    is_flag=True,
    help="Count system jobs (the reaper, pruning, the sync fan-out) too.",
)
@click.option(
    "--failures",
    type=click.IntRange(0, 100),
    default=FAILURES_DEFAULT,
    show_default=True,
    help="How many recent failures to list.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def jobs(
    ctx: click.Context, user_id: int | None, include_system: bool, failures: int, as_json: bool
) -> None:
    """The job store's per-queue counts and recent failures (as the API gives them)."""
    cli: CLIContext = ctx.obj
    app = cli.app
    if not hasattr(type(app), "flask_app"):  # asked of the class: building the app has effects
        raise click.UsageError(
            "`celery jobs` needs the jobplatform app: celery -A jobplatform jobs"
        )
    url = Settings.from_env().database_url
    problem = store_errors.missing_database(url)  # before connecting, which would create it
    if problem:
        raise click.ClickException(problem)
    scope = Scope(user_id, include_system and user_id is None)
    try:
        with app.flask_app.app_context():
            report = job_report(scope, failures)
    except (sa.exc.OperationalError, sa.exc.ProgrammingError) as exc:
        raise click.ClickException(store_errors.describe(exc, url)) from None
    if as_json:
        click.echo(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
        return
    whose = f"user {user_id}" if user_id is not None else "all users"
    click.echo(f"Job queues ({whose}{', with system jobs' if scope.include_system else ''}):")
    click.echo(_table(report))
    click.echo("")
    click.echo(_failures(report))
