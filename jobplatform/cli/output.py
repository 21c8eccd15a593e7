"""How commands print: rich tables for people, the API's JSON for scripts."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from typing import Any

import click
from rich.console import Console
from rich.text import Text

from ..jobs.models import Job
from ..jobs.status import JobStatus

STATUS_STYLES = {
    JobStatus.PENDING: "yellow",
    JobStatus.PROCESSING: "cyan",
    JobStatus.COMPLETE: "green",
    JobStatus.ERROR: "bold red",
    JobStatus.CANCELLED: "dim",
}
# Piped output is read by grep and people's scripts: wide rows, not folded at 80 columns.
PIPED_WIDTH = 200


def console(*, stderr: bool = False) -> Console:
    """A console on the current stdout (or stderr), as wide as the terminal or PIPED_WIDTH."""
    stream = sys.stderr if stderr else sys.stdout
    width = None
    if not stream.isatty() and "COLUMNS" not in os.environ:
        width = PIPED_WIDTH
    return Console(file=stream, width=width, highlight=False, soft_wrap=False)


def print_json(data: Any, *, compact: bool = False) -> None:
    """`data` as JSON on stdout: indented, or one line (for streams of objects)."""
    if compact:
        click.echo(json.dumps(data, separators=(",", ":")))
    else:
        click.echo(json.dumps(data, indent=2))


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLES.get(status, ""))


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """ "12s ago", "5m ago", "3h ago", "2d ago" (or "-")."""
    if moment is None:
        return "-"
    seconds = max(0, int(((now or datetime.now(UTC)) - moment).total_seconds()))
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def when(moment: datetime | None) -> str:
    """An exact time, UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "-"


def progress_line(job: Job) -> str:
    """ "234 of 567 transactions (41%)" for a job that reports progress, else ""."""
    if job.progress_current is None:
        return ""
    unit = f" {job.progress_unit}" if job.progress_unit else ""
    if not job.progress_total:
        return f"{job.progress_current:,}{unit}"
    percent = 100 * job.progress_current / job.progress_total
    return f"{job.progress_current:,} of {job.progress_total:,}{unit} ({percent:.0f}%)"


def job_line(job: Job) -> str:
    """What a job is at: its summary, its error, its progress, or its message."""
    if job.status == JobStatus.COMPLETE:
        return job.summary or ""
    if job.status == JobStatus.ERROR:
        return f"{job.error_type or 'error'}: {job.error_message or ''}".strip()
    if job.status == JobStatus.CANCELLED:
        return "cancelled"
    parts = [progress_line(job), job.message or ""]
    if job.cancel_requested:
        parts.append("cancel requested")
    if job.retries:
        parts.append(f"retry {job.retries}: {job.error_message or ''}".rstrip(": "))
    return " · ".join(p for p in parts if p)
