"""The four queues, the tasks routed to each, and their time limits."""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any


@dataclass(frozen=True)
class QueueSpec:
    name: str
    label: str
    task_patterns: tuple[str, ...]
    soft_time_limit: int
    time_limit: int


# The order here is the order every view shows the queues in.
QUEUES: tuple[QueueSpec, ...] = (
    QueueSpec("fub_onboarding", "FUB Onboard", ("jobplatform.fub.onboard",), 3300, 3600),
    QueueSpec("fub_sync", "FUB Sync", ("jobplatform.fub.sync",), 840, 900),
    QueueSpec("rezen_sync", "reZEN Sync", ("jobplatform.rezen.*",), 840, 900),
    QueueSpec("general", "General", ("jobplatform.general.*",), 1740, 1800),
)
QUEUE_NAMES: tuple[str, ...] = tuple(q.name for q in QUEUES)
DEFAULT_QUEUE = "general"
QUEUES_BY_NAME: dict[str, QueueSpec] = {q.name: q for q in QUEUES}


def queue_for_task(task_name: str) -> str:
    """The queue a task is routed to by its name."""
    for spec in QUEUES:
        if any(fnmatchcase(task_name, pattern) for pattern in spec.task_patterns):
            return spec.name
    return DEFAULT_QUEUE


def task_routes() -> dict[str, dict[str, str]]:
    """Celery's `task_routes`: each task pattern to its queue."""
    return {p: {"queue": spec.name} for spec in QUEUES for p in spec.task_patterns}


class QueueTimeLimits:
    """Celery task annotation giving each task its queue's time limits unless it sets its own."""

    def annotate(self, task: Any) -> dict[str, int] | None:
        if task.name.startswith("celery."):
            return None
        spec = QUEUES_BY_NAME[queue_for_task(task.name)]
        if task.time_limit is not None:
            return None  # the task chose its hard limit, and a soft one if it wants one
        if task.soft_time_limit is None:
            return {"soft_time_limit": spec.soft_time_limit, "time_limit": spec.time_limit}
        return {"time_limit": max(spec.time_limit, task.soft_time_limit + 60)}


def visibility_timeout() -> int:
    """How long Redis keeps a delivered, unacknowledged task before giving it to another worker.

    It must outlast the longest hard time limit, or a slow task would run twice.
    """
    return max(q.time_limit for q in QUEUES) + 300
