"""The filters of `GET /jobs` as command-line options, shared by listing and bulk actions."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from ..jobs.queries import JobFilter
from ..jobs.status import JobStatus
from ..queues import QUEUE_NAMES
from .operator import Operator

FILTER_NAMES = ("queue", "job_type", "status", "user", "search", "since")
_AGO = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class Since(click.ParamType):
    """A moment: ISO 8601 (UTC unless it says), or an age such as 30m, 2h, 7d."""

    name = "since"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        if match := _AGO.match(text):
            return datetime.now(UTC) - timedelta(**{_UNITS[match[2]]: int(match[1])})
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            self.fail(f"{text!r} is neither an age (30m, 2h, 7d) nor an ISO 8601 time", param, ctx)
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def filter_options(statuses: tuple[str, ...] = tuple(s.value for s in JobStatus)) -> Callable:
    """--queue --type --status --user --search --since --system, as on `GET /jobs`."""
    options = (
        click.option("--queue", type=click.Choice(QUEUE_NAMES), help="One queue."),
        click.option(
            "--type",
            "job_type",
            metavar="TYPE",
            help="One job type (fub_sync, contacts_export, ...).",
        ),
        click.option("--status", type=click.Choice(statuses), help="One status."),
        click.option(
            "--user",
            type=click.IntRange(1),
            metavar="ID",
            help="One user's jobs (operators; others see only their own).",
        ),
        click.option(
            "--search", "-q", metavar="TEXT", help="Text in the summary or error message, any case."
        ),
        click.option(
            "--since",
            type=Since(),
            metavar="WHEN",
            help="Created since: an age (30m, 2h, 7d) or an ISO 8601 time.",
        ),
        click.option(
            "--system", is_flag=True, help="Include system jobs (maintenance; operators only)."
        ),
    )

    def decorate(command: Callable) -> Callable:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def job_filter(operator: Operator, values: dict[str, Any]) -> JobFilter:
    """The jobs the options select, within what the operator may see."""
    scope = operator.scope(values.get("user"), values.get("system", False))
    search = values.get("search")
    if search is not None and not 1 <= len(search) <= 200:
        raise click.BadParameter("give 1 to 200 characters", param_hint="--search")
    return JobFilter(
        user_id=scope.user_id,
        include_system=scope.include_system,
        queue=values.get("queue"),
        type=values.get("job_type"),
        status=values.get("status"),
        q=search,
        since=values.get("since"),
    )


def describe(where: JobFilter) -> str:
    """The filter in words, for a confirmation question."""
    parts = [
        f"{name} {value}"
        for name, value in (
            ("queue", where.queue),
            ("type", where.type),
            ("status", where.status),
            ("user", where.user_id),
            ("matching", where.q and repr(where.q)),
            ("created since", where.since and where.since.isoformat(timespec="seconds")),
        )
        if value is not None
    ]
    if where.user_id is None:
        parts.append("every user" + (" and system jobs" if where.include_system else ""))
    return ", ".join(parts)
