"""`jobplatform jobs list|show|cancel|retry`: the API's job views and actions, for operators."""

from __future__ import annotations

import time
from typing import Any

import click
from flask.cli import with_appcontext
from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..extensions import db
from ..jobs import actions, bulk, queries
from ..jobs.enqueue import EnqueueFailed
from ..jobs.models import Job, JobEvent, JobLog
from ..jobs.status import ENDED
from ..web.schemas import BulkOut
from ..web.serialize import job_detail_json, job_json
from .filters import FILTER_NAMES, describe, filter_options, job_filter
from .follow import POLL_SECONDS, event_line, follow_until_end, log_line, report_end
from .group import OrderedGroup
from .operator import Operator, current_operator
from .output import ago, console, job_line, print_json, progress_line, status_text, when

json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print JSON, in the API's shapes (for scripts)."
)


@click.group(cls=OrderedGroup)
def jobs() -> None:
    """List, show, cancel and retry jobs (as the API does; history names cli:<user>)."""


def jobs_table(found: list[Job], *, title: str | None = None) -> Table:
    """Jobs newest first: id, type, queue, user, status, created, and what each is at."""
    table = Table(title=title, title_justify="left", expand=False)
    for name in ("id", "type", "queue", "user", "status", "created"):
        table.add_column(name, no_wrap=True)
    table.add_column("summary / progress / error", overflow="ellipsis", no_wrap=True)
    for job in found:
        table.add_row(
            job.id,
            job.type,
            job.queue,
            str(job.user_id or "system"),
            status_text(job.status),
            ago(job.created_at),
            job_line(job),
        )
    return table


@jobs.command("list")
@filter_options()
@click.option(
    "--limit",
    type=click.IntRange(1, 200),
    default=20,
    show_default=True,
    help="Jobs on a page (newest first).",
)
@click.option("--cursor", help="The next page: the cursor a previous page printed.")
@json_option
@with_appcontext
def list_jobs(limit: int, cursor: str | None, as_json: bool, **filters: Any) -> None:
    """Recent jobs, newest first, with their errors (the filters of GET /jobs)."""
    where = job_filter(current_operator(), filters)
    after = None
    if cursor:
        try:
            after = queries.decode_cursor(cursor)
        except queries.BadCursor:
            raise click.BadParameter(
                "not a cursor this command printed", param_hint="--cursor"
            ) from None
    found, next_key = queries.list_jobs(db.session, where, limit=limit, after=after)
    next_cursor = queries.encode_cursor(next_key) if next_key else None
    if as_json:
        print_json({"jobs": [job_json(job) for job in found], "next_cursor": next_cursor})
        return
    out = console()
    if not found:
        out.print("no jobs match")
        return
    out.print(jobs_table(found))
    if next_cursor:
        console(stderr=True).print(f"more: add --cursor {next_cursor}", markup=False)


def job_view(
    job: Job,
    events: list[JobEvent],
    logs: list[JobLog],
    retried_as: list[str],
    *,
    show_traceback: bool,
) -> Group:
    """One job as `jobs show` prints it: the record, the timeline, the log."""
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    rows: list[tuple[str, Any]] = [
        ("job", job.id),
        ("type", f"{job.type}  ({job.task})"),
        ("queue", job.queue),
        ("user", str(job.user_id or "system")),
        ("status", status_text(job.status)),
    ]
    if job.progress_current is not None:
        rows.append(("progress", progress_line(job)))
    if job.message and job.status not in ENDED:
        rows.append(("message", job.message))
    if job.summary:
        rows.append(("summary", job.summary))
    if job.error_type:
        rows.append(("error", f"{job.error_type}: {job.error_message or ''}"))
    if job.retries:
        rows.append(("retries", str(job.retries)))
    if job.cancel_requested and job.status not in ENDED:
        rows.append(("cancel", "requested; stops at its next check"))
    rows += [
        ("created", when(job.created_at)),
        ("started", when(job.started_at)),
        ("finished", when(job.finished_at)),
    ]
    if job.worker:
        rows.append(("worker", job.worker))
    if job.params:
        rows.append(("params", ", ".join(f"{k}={v}" for k, v in job.params.items())))
    if job.retry_of:
        rows.append(("retry of", job.retry_of))
    if retried_as:
        rows.append(("retried as", ", ".join(retried_as)))
    for name, value in rows:
        facts.add_row(name, value if isinstance(value, Text) else Text(str(value)))
    parts: list[Any] = [facts, Text("\nhistory", style="bold")]
    parts += [Text(event_line(event)) for event in events] or [Text("(none)")]
    parts.append(Text("\nlog", style="bold"))
    parts += [Text(log_line(line)) for line in logs] or [Text("(empty)")]
    if show_traceback and job.traceback:
        parts += [Text("\ntraceback", style="bold"), Text(job.traceback.rstrip())]
    return Group(*parts)


@jobs.command("show")
@click.argument("job_id", metavar="ID")
@click.option(
    "--follow",
    "-f",
    is_flag=True,
    help="Then follow it live (its history, log and progress) until it ends; exit "
    "non-zero unless it completes.",
)
@json_option
@with_appcontext
def show(job_id: str, follow: bool, as_json: bool) -> None:
    """One job: its record, history and log; --follow: live until it ends.

    The history is a timeline: time, from → to, who, why.
    """
    operator = current_operator()
    job = operator.job(db.session, job_id)
    if follow and as_json:
        job = _wait_quietly(job.id)
    events, logs = queries.job_history(db.session, job.id)
    retried_as = queries.retries_of(db.session, job.id)
    if as_json:
        print_json(
            job_detail_json(
                job, events, logs, retried_as=retried_as, show_traceback=operator.is_admin
            )
        )
        if follow:
            report_end(job)
        return
    out = console()
    out.print(job_view(job, events, logs, retried_as, show_traceback=operator.is_admin))
    if not follow:
        return
    out.print()
    follow_until_end(
        db.session,
        job.id,
        console=out,
        after_event=events[-1].id if events else 0,
        after_log=logs[-1].id if logs else 0,
    )


def _wait_quietly(job_id: str) -> Job:
    """The job once it has ended, polled without output (for `--follow --json`)."""
    while True:
        db.session.rollback()
        job = db.session.get(Job, job_id)
        if job is None:
            raise click.ClickException(f"no job {job_id} (pruned while followed?)")
        if job.status in ENDED:
            return job
        time.sleep(POLL_SECONDS)


def bulk_options(command: Any) -> Any:
    """--all --dry-run --yes --json, for the bulk forms of cancel and retry."""
    for option in reversed(
        (
            click.option(
                "--all",
                "every",
                is_flag=True,
                help="With no filter: every job the action applies to.",
            ),
            click.option("--dry-run", is_flag=True, help="Only say how many jobs it would touch."),
            click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation."),
            json_option,
        )
    ):
        command = option(command)
    return command


def _one_by_one(operator: Operator, job_ids: tuple[str, ...], action: str, as_json: bool) -> None:
    """Cancel or retry each job by id; report each; exit 1 if any could not be."""
    out = console()
    failures: list[str] = []
    shown: list[dict] = []
    for job_id in job_ids:
        try:
            job = operator.job(db.session, job_id)
            if action == "cancel":
                actions.cancel(db.session, job, actor=operator.actor)
                db.session.expire_all()
                done = db.session.get(Job, job.id)
                line = (
                    f"cancelled {done.id}"
                    if done.status in ENDED
                    else f"asked {done.id} to stop (running; it stops at its next check)"
                )
            else:
                new_id = actions.retry(db.session, job, actor=operator.actor)
                done = db.session.get(Job, new_id)
                line = f"retried {job.id} as {new_id}"
        except actions.ActionRefused as exc:
            failures.append(str(exc))
            continue
        except EnqueueFailed as exc:
            failures.append(f"the retry was recorded but could not be queued: {exc}")
            continue
        except click.ClickException as exc:
            failures.append(exc.format_message())
            continue
        if as_json:
            shown.append(job_json(done))
        else:
            out.print(line, markup=False)
    if as_json:
        print_json(shown)
    if len(failures) == 1 and len(job_ids) == 1:
        raise click.ClickException(failures[0])
    for failure in failures:
        click.echo(f"Error: {failure}", err=True)
    if failures:
        raise click.exceptions.Exit(1)


def _bulk(
    operator: Operator,
    action: str,
    filters: dict[str, Any],
    *,
    every: bool,
    dry_run: bool,
    yes: bool,
    as_json: bool,
) -> None:
    """The bulk form: the same bounded functions as POST /jobs/bulk/<action>."""
    given = [name for name in FILTER_NAMES if filters.get(name) is not None]
    if not given and not every:
        raise click.UsageError(
            f"give job ids, or filters (--queue --type --status --user --search --since) "
            f"for a bulk {action}, or --all for every job it applies to"
        )
    where = job_filter(operator, filters)
    run = bulk.bulk_retry if action == "retry" else bulk.bulk_cancel
    try:
        if not dry_run and not yes:
            matched = run(db.session, where, actor=operator.actor, dry_run=True).matched
            if matched:
                click.confirm(
                    f"{action.capitalize()} {matched:,} job"
                    f"{'s' if matched != 1 else ''} ({describe(where)})?",
                    abort=True,
                    err=True,
                )
        outcome = run(db.session, where, actor=operator.actor, dry_run=dry_run)
    except bulk.StatusNotActionable as exc:
        raise click.BadParameter(str(exc), param_hint="--status") from None
    except bulk.TooManyJobs as exc:
        raise click.ClickException(
            f"this filter matches more than {exc.limit:,} jobs; a bulk {action} takes at most "
            f"{exc.limit:,} at a time: narrow it (--queue, --type, --since) and repeat"
        ) from None
    if as_json:
        print_json(
            BulkOut(
                action=action,
                dry_run=dry_run,
                matched=outcome.matched,
                acted=outcome.acted,
                failed_to_queue=outcome.failed_to_queue,
                limit=bulk.BULK_LIMIT,
            ).model_dump(mode="json")
        )
        return
    noun = f"job{'s' if outcome.matched != 1 else ''}"
    past = "cancelled" if action == "cancel" else "retried"
    if dry_run:
        click.echo(f"would {action} {outcome.matched:,} {noun} ({describe(where)})")
    elif not outcome.matched:
        click.echo(f"no jobs to {action} ({describe(where)})")
    else:
        click.echo(f"{past} {outcome.acted:,} {noun}")
    if outcome.failed_to_queue:
        raise click.ClickException(
            f"{outcome.failed_to_queue:,} retries could not be queued "
            "(the broker refused them; they ended in error)"
        )


@jobs.command("cancel")
@click.argument("job_ids", nargs=-1, metavar="[ID]...")
@filter_options(statuses=bulk.CANCELLABLE)
@bulk_options
@with_appcontext
def cancel(
    job_ids: tuple[str, ...], every: bool, dry_run: bool, yes: bool, as_json: bool, **filters: Any
) -> None:
    """Cancel jobs by id, or in bulk by filter.

    A pending job is cancelled at once, a running one stops at its next check. The bulk
    form says how many jobs match and asks first (unless --yes), e.g.
    `jobplatform jobs cancel --status pending --queue fub_sync`; at most 10,000 a time.
    """
    _dispatch("cancel", job_ids, filters, every=every, dry_run=dry_run, yes=yes, as_json=as_json)


@jobs.command("retry")
@click.argument("job_ids", nargs=-1, metavar="[ID]...")
@filter_options(statuses=bulk.RETRYABLE)
@bulk_options
@with_appcontext
def retry(
    job_ids: tuple[str, ...], every: bool, dry_run: bool, yes: bool, as_json: bool, **filters: Any
) -> None:
    """Retry failed or cancelled jobs by id, or in bulk by filter.

    Each is retried as a new job linked to it. The bulk form leaves alone a job already
    retried, says how many jobs match and asks first (unless --yes), e.g.
    `jobplatform jobs retry --status error --queue fub_sync`; at most 10,000 a time.
    """
    _dispatch("retry", job_ids, filters, every=every, dry_run=dry_run, yes=yes, as_json=as_json)


def _dispatch(
    action: str,
    job_ids: tuple[str, ...],
    filters: dict[str, Any],
    *,
    every: bool,
    dry_run: bool,
    yes: bool,
    as_json: bool,
) -> None:
    operator = current_operator()
    if job_ids:
        used = [name for name in FILTER_NAMES if filters.get(name) is not None]
        if used or every or dry_run or filters.get("system"):
            raise click.UsageError("give job ids or filters, not both")
        _one_by_one(operator, job_ids, action, as_json)
    else:
        _bulk(operator, action, filters, every=every, dry_run=dry_run, yes=yes, as_json=as_json)
