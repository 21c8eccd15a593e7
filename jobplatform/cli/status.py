"""`jobplatform status`: the queue table and the recent jobs, once or redrawn in place."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import click
from flask.cli import with_appcontext
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ..extensions import db
from ..jobs import queries
from ..jobs.counts import queue_summary
from ..jobs.scope import Scope
from ..jobs.status import STATUS_ORDER
from ..web.schemas import QueueStatusOut
from ..web.serialize import job_json
from .jobs import jobs_table
from .operator import current_operator
from .output import STATUS_STYLES, console, print_json


def snapshot(scope: Scope, recent: int) -> dict[str, Any]:
    """What `GET /job-queue-status` answers for the scope, plus its `recent_jobs`."""
    db.session.rollback()  # a fresh snapshot each time round
    queues, totals = queue_summary(db.session, scope.counter_scopes)
    status = QueueStatusOut(
        queues=queues,
        totals=totals,
        generated_at=datetime.now(UTC),
        user_id=scope.user_id,
        include_system=scope.include_system,
    )
    where = queries.JobFilter(user_id=scope.user_id, include_system=scope.include_system)
    found, _ = queries.list_jobs(db.session, where, limit=recent) if recent else ([], None)
    return {"status": status, "recent": found}


def view(data: dict[str, Any], *, watching: bool) -> Group:
    """The queue table (a row per queue and the totals) above the recent jobs."""
    status: QueueStatusOut = data["status"]
    whose = f"user {status.user_id}" if status.user_id is not None else "all users"
    if status.include_system:
        whose += " and system jobs"
    stamp = status.generated_at.astimezone().strftime("%H:%M:%S")
    title = f"Job queues: {whose} · {stamp}" + (" · Ctrl-C to stop" if watching else "")
    table = Table(title=title, title_justify="left", show_footer=True)
    table.add_column("queue", footer="total")
    totals = status.totals.model_dump()
    for state in STATUS_ORDER:
        table.add_column(
            state.value,
            justify="right",
            header_style=STATUS_STYLES[state],
            footer=f"{totals[state.value]:,}",
        )
    for queue in status.queues:
        counts = queue.model_dump()
        table.add_row(queue.label, *(f"{counts[s.value]:,}" for s in STATUS_ORDER))
    parts: list[Any] = [table]
    if data["recent"]:
        parts.append(jobs_table(data["recent"], title="Recent jobs"))
    else:
        parts.append(Text("no jobs yet"))
    return Group(*parts)


def as_json(data: dict[str, Any]) -> dict[str, Any]:
    return {
        **data["status"].model_dump(mode="json"),
        "recent_jobs": [job_json(job) for job in data["recent"]],
    }


@click.command()
@click.option(
    "--user",
    type=click.IntRange(1),
    metavar="ID",
    help="One user's jobs (operators; others see only their own).",
)
@click.option("--system", is_flag=True, help="Include system jobs (operators only).")
@click.option(
    "--recent",
    type=click.IntRange(0, 200),
    default=10,
    show_default=True,
    help="Recent jobs shown under the queues.",
)
@click.option("--watch", "-w", is_flag=True, help="Redraw in place until Ctrl-C.")
@click.option(
    "--interval",
    type=click.FloatRange(0.2, 3600),
    default=1.0,
    show_default=True,
    help="Seconds between redraws with --watch.",
)
@click.option(
    "--json",
    "json_out",
    is_flag=True,
    help="The API's /job-queue-status JSON plus recent_jobs; with --watch, one "
    "line of it per redraw.",
)
@with_appcontext
def status(
    user: int | None, system: bool, recent: int, watch: bool, interval: float, json_out: bool
) -> None:
    """The queue table (pending … cancelled per queue) and the recent jobs; --watch: live."""
    scope = current_operator().scope(user, system)
    if not watch:
        data = snapshot(scope, recent)
        if json_out:
            print_json(as_json(data))
        else:
            console().print(view(data, watching=False))
        return
    try:
        if json_out:
            while True:
                print_json(as_json(snapshot(scope, recent)), compact=True)
                time.sleep(interval)
        with Live(
            view(snapshot(scope, recent), watching=True), console=console(), auto_refresh=False
        ) as live:
            while True:
                time.sleep(interval)
                live.update(view(snapshot(scope, recent), watching=True), refresh=True)
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a watch ends: exit 0
