"""`celery -A jobplatform jobs`: the job store's queue summary and recent failures, beside
Celery's own `inspect`, `purge` and `control` (registered under `celery.commands`)."""

from __future__ import annotations

import click
from celery.bin.base import CeleryCommand, CLIContext

# Celery loads this module for every `celery` command run where jobplatform is installed
# (workers, beat, Flower, other apps' too), so it imports the job store only when `jobs` runs.
FAILURES_DEFAULT = 10


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
    import orjson
    import sqlalchemy as sa

    from . import store_errors
    from .cli.job_report import failures_text, job_report, table
    from .config import Settings
    from .jobs.scope import Scope

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
    click.echo(table(report))
    click.echo("")
    click.echo(failures_text(report))
