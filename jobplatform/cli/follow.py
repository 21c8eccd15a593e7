"""Following a job from the command line: its new history and log lines as they come, and a
live progress bar (one per unit: a job may count people, then deals) until the job ends."""

from __future__ import annotations

import time

import click
import sqlalchemy as sa
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from sqlalchemy.orm import Session

from ..jobs.models import Job, JobEvent, JobLog
from ..jobs.status import ENDED, JobStatus
from .output import when

POLL_SECONDS = 0.5


def event_line(event: JobEvent) -> str:
    """One entry of a job's timeline: time, from → to, who, why."""
    moved = f"{event.from_status or '-'} → {event.to_status}"
    why = f"  {event.reason}" if event.reason else ""
    return f"{when(event.at)}  {moved:<24} {event.actor or '-'}{why}"


def log_line(line: JobLog) -> str:
    return f"{when(line.at)}  {line.level:<7} {line.message}"


def follow_job(
    session: Session,
    job_id: str,
    *,
    console: Console,
    after_event: int = 0,
    after_log: int = 0,
    poll: float = POLL_SECONDS,
) -> Job:
    """Show the job's progress until it ends, printing the events and log lines after the ids
    given; returns the ended job. The job runs on whether or not anyone follows it."""
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[unit]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )
    bars: dict[str | None, TaskID] = {}
    with Progress(*columns, console=console, transient=False) as progress:
        while True:
            session.rollback()  # a fresh snapshot: the applier moves the job on
            job = session.get(Job, job_id)
            if job is None:
                raise click.ClickException(f"no job {job_id} (pruned while followed?)")
            for event in session.scalars(
                sa.select(JobEvent)
                .where(JobEvent.job_id == job_id, JobEvent.id > after_event)
                .order_by(JobEvent.id)
            ):
                progress.console.print(event_line(event), markup=False)
                after_event = event.id
            for line in session.scalars(
                sa.select(JobLog)
                .where(JobLog.job_id == job_id, JobLog.id > after_log)
                .order_by(JobLog.id)
            ):
                progress.console.print(log_line(line), markup=False)
                after_log = line.id
            unit = job.progress_unit
            if unit not in bars:
                if list(bars) == [None]:  # the bar of a job yet to count anything: reuse it
                    bars[unit] = bars.pop(None)
                    progress.update(bars[unit], unit=unit or "")
                else:
                    for earlier in bars.values():
                        progress.stop_task(earlier)
                    bars[unit] = progress.add_task(job.type, total=None, unit=unit or "")
            progress.update(
                bars[unit],
                completed=job.progress_current or 0,
                total=job.progress_total or None,
                description=f"{job.type} {job.status}",
            )
            if job.status in ENDED:
                if job.status == JobStatus.COMPLETE and job.progress_total:
                    progress.update(bars[unit], completed=job.progress_total)
                return job
            time.sleep(poll)


def report_end(job: Job) -> None:
    """Say how the job ended; exit non-zero unless it completed."""
    if job.status == JobStatus.COMPLETE:
        click.echo(job.summary or f"job {job.id} complete")
        return
    if job.status == JobStatus.CANCELLED:
        raise click.ClickException(f"job {job.id} was cancelled")
    reason = f"{job.error_type}: {job.error_message}" if job.error_type else job.status
    raise click.ClickException(f"job {job.id} ended {job.status}: {reason}")


def follow_until_end(
    session: Session, job_id: str, *, console: Console, after_event: int = 0, after_log: int = 0
) -> None:
    """`follow_job` then `report_end`; Ctrl-C stops following (exit 130), not the job."""
    try:
        job = follow_job(
            session, job_id, console=console, after_event=after_event, after_log=after_log
        )
    except KeyboardInterrupt:
        click.echo(f"\nstopped following; job {job_id} runs on", err=True)
        raise click.exceptions.Exit(130) from None
    report_end(job)
