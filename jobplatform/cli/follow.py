"""Following a job from the command line: a progress bar until the job ends."""

from __future__ import annotations

import contextlib
import sys
import time

import click
from sqlalchemy.orm import Session

from ..jobs.models import Job
from ..jobs.status import ENDED, JobStatus

POLL_SECONDS = 0.5


def follow_job(session: Session, job_id: str, *, poll: float = POLL_SECONDS) -> Job:
    """Show the job's progress until it ends, one bar per unit (a job may count people, then
    deals); returns the ended job. The job runs on whether or not anyone follows it."""
    unit: str | None = None
    with contextlib.ExitStack() as bars:
        bar = None
        while True:
            session.rollback()  # a fresh snapshot: the applier moves the job on
            job = session.get(Job, job_id)
            if job is None:
                raise click.ClickException(f"no job {job_id}")
            total = job.progress_total or 0
            if total and (bar is None or job.progress_unit != unit):
                bars.close()  # ends the last unit's line
                unit = job.progress_unit
                bar = bars.enter_context(click.progressbar(
                    length=total, label=f"{job.type}: {unit or ''}", show_pos=True,
                    file=sys.stderr))
            if bar is not None:
                bar.length = max(bar.length or 0, total)  # a total learnt page by page grows
                bar.update(max(0, min(job.progress_current or 0, bar.length) - bar.pos))
            if job.status in ENDED:
                return job
            time.sleep(poll)


def report_end(job: Job) -> None:
    """Say how the job ended; exit non-zero unless it completed."""
    if job.status == JobStatus.COMPLETE:
        click.echo(job.summary or f"job {job.id} complete")
        return
    reason = job.error_message or job.status
    raise click.ClickException(f"job {job.id} ended {job.status}: {reason}")
