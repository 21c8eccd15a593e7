"""Follow Up Boss jobs: the onboarding (a full import) and the incremental sync."""

from __future__ import annotations

from ..celery_app import celery
from ..jobs.task import JobTask, Outcome
from ..sync import fub, runner


@celery.task(bind=True, name="jobplatform.fub.onboard", job_type="fub_onboarding",
             idempotent=True)
def onboard(self: JobTask, user_id: int) -> Outcome:
    """Import all of the user's FUB people and deals."""
    return runner.run(self, user_id, "fub", fub.onboard)


@celery.task(bind=True, name="jobplatform.fub.sync", job_type="fub_sync",
             idempotent=True)
def sync(self: JobTask, user_id: int) -> Outcome:
    """Fetch what changed in the user's FUB since the last sync."""
    return runner.run(self, user_id, "fub", fub.sync)
