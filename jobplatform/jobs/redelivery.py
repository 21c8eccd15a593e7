"""A message delivered again for a job that has moved on is not run twice.

A broker hands a message out again when it was not acknowledged: Redis once its visibility
timeout passes, RabbitMQ when the consumer's connection drops. By then the job may have
ended, or the reaper may have published it again because its worker died (a new copy of the
message, a later *generation*). Such a delivery is stale: the worker acknowledges it without
running it and the job's history says so. Only redelivered messages are checked, so a first
delivery costs nothing.
"""

from __future__ import annotations

from typing import Any

import redis
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from .status import ENDED

#: Which copy of a job's message this is: the reaper's republish counts up from 1.
GENERATION_HEADER = "jobplatform_generation"
GENERATION_KEY = "jobplatform:generation:{}"
GENERATION_TTL_SECONDS = 7 * 24 * 3600  # longer than any message waits


def next_generation(client: redis.Redis, job_id: str) -> int:
    """The generation of a copy about to be published again (every older copy is stale)."""
    key = GENERATION_KEY.format(job_id)
    pipe = client.pipeline()
    pipe.incr(key)
    pipe.expire(key, GENERATION_TTL_SECONDS)
    return int(pipe.execute()[0])


def is_redelivery(delivery_info: dict[str, Any] | None, headers: dict[str, Any]) -> bool:
    """Whether the broker delivered this message before (kombu marks Redis restores in the
    headers, RabbitMQ in the delivery info)."""
    return bool((delivery_info or {}).get("redelivered") or headers.get("redelivered"))


class StaleDeliveries:
    """Judges redelivered messages against the newest generation and the job store.

    Runs in a worker's main process, which must not hold database connections its pool's
    future processes would inherit: each look opens and closes its own (NullPool)."""

    def __init__(self, client: redis.Redis, database_url: str) -> None:
        self.client = client
        self.engine = sa.create_engine(database_url, poolclass=NullPool)  # connects when used

    def reason(self, job_id: str, generation: int) -> str | None:
        """Why this delivery must not run, or None to run it."""
        newest = int(self.client.get(GENERATION_KEY.format(job_id)) or 0)
        if generation < newest:
            return (f"a stale copy of its message was delivered again (copy {generation}, "
                    f"copy {newest} was published since); not run")
        from .models import Job  # the models only where a delivery is judged

        with self.engine.connect() as connection:
            status = connection.scalar(sa.select(Job.status).where(Job.id == job_id))
        if status in {s.value for s in ENDED}:
            return f"its message was delivered again after it ended {status}; not run"
        return None
