"""The worker groups the platform runs: which queues, on which pool, how many at once.

The sync queues wait on HTTP almost all the time, so a process with many threads serves
them; a threads pool uses at most one core, though (the interpreter's lock), and a sync's own
work (parsing pages, comparing records, tracking) is a tenth of its time, so a host runs one
such process per core. `general` parses and writes CSV files (CPU), so it runs on processes.
`up`, the demo, the benchmarks and every file in deploy/ take their worker command lines
from here.

Many syncs of one provider account at once stay under its rate limit together: the clients
share the account's window in Redis (integrations/ratelimit.py), across threads, processes
and hosts, so the thread count is bounded by the database's connections, not the providers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WorkerGroup:
    """One kind of worker: `celery -A jobplatform worker <celery_args()>`, `processes` of
    them on a host."""

    name: str
    queues: tuple[str, ...]
    pool: str
    concurrency: int
    options: tuple[str, ...] = ()
    """More worker options, the same for every copy of the group."""
    processes: int = 1
    """How many of these workers one host runs, each with its own node name."""

    def node(self, copy: int = 1) -> str:
        """The node name (before `@host`) of the group's `copy`-th worker on a host."""
        return self.name if copy == 1 else f"{self.name}{copy}"

    def celery_args(self, *, concurrency: int | None = None, copy: int = 1) -> list[str]:
        """The arguments after `celery -A jobplatform worker` for the `copy`-th worker."""
        return [
            "-Q",
            ",".join(self.queues),
            "-P",
            self.pool,
            "-c",
            str(concurrency or self.concurrency),
            "-n",
            f"{self.node(copy)}@%h",
            *self.options,
        ]


# A sync takes minutes: a worker holds no more than it runs (prefetch 1 per thread), so the
# others, on other hosts, get the rest of the queue. Two processes: one per core of the
# 2-core hosts this is measured on (bench/README.md, "topology"); each thread holds a
# database connection, so a host takes processes x concurrency of them.
SYNC_WORKERS = WorkerGroup(
    "sync",
    ("fub_onboarding", "fub_sync", "rezen_sync"),
    "threads",
    32,
    ("--prefetch-multiplier", "1"),
    processes=2,
)
GENERAL_WORKERS = WorkerGroup("general", ("general",), "prefork", 2)
WORKER_GROUPS: tuple[WorkerGroup, ...] = (SYNC_WORKERS, GENERAL_WORKERS)
