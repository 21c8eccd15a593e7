"""reZEN jobs: the transactions sync."""

from __future__ import annotations

from ..celery_app import celery
from ..jobs.task import JobTask, Outcome
from ..sync import rezen, runner


@celery.task(bind=True, name="jobplatform.rezen.sync", job_type="rezen_sync",
             idempotent=True)
def sync(self: JobTask, user_id: int) -> Outcome:
    """Fetch the user's reZEN transactions (open, closed, terminated) that changed."""
    return runner.run(self, user_id, "rezen", rezen.sync)
