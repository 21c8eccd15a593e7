"""The worker groups the platform runs: which queues, on which pool, how many at once.

The sync queues wait on HTTP almost all the time, so one process with many threads serves
them; `general` parses and writes CSV files (CPU), so it runs on processes. `up`, the demo,
the benchmarks and every file in deploy/ take their worker command lines from here.

Many syncs of one provider account at once stay under its rate limit together: the clients
share the account's window in Redis (integrations/ratelimit.py), across threads, processes
and hosts, so the thread count is bounded by the database's connections, not the providers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WorkerGroup:
    """One kind of worker process: `celery -A jobplatform worker <celery_args()>`."""

    name: str
    queues: tuple[str, ...]
    pool: str
    concurrency: int
    options: tuple[str, ...] = ()
    """More worker options, the same for every copy of the group."""

    def celery_args(self, *, concurrency: int | None = None) -> list[str]:
        """The arguments after `celery -A jobplatform worker`."""
        return ["-Q", ",".join(self.queues), "-P", self.pool,
                "-c", str(concurrency or self.concurrency), "-n", f"{self.name}@%h",
                *self.options]


# A sync takes minutes: a worker holds no more than it runs (prefetch 1 per thread), so the
# others, on other hosts, get the rest of the queue.
SYNC_WORKERS = WorkerGroup("sync", ("fub_onboarding", "fub_sync", "rezen_sync"), "threads", 32,
                           ("--prefetch-multiplier", "1"))
GENERAL_WORKERS = WorkerGroup("general", ("general",), "prefork", 2)
WORKER_GROUPS: tuple[WorkerGroup, ...] = (SYNC_WORKERS, GENERAL_WORKERS)
