"""Running a provider sync as a job: the integration, its client, the error policy, and the
checkpoint a cancelled or failed run leaves for the next one to resume from."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ..database import begin_write
from ..errors import JobPlatformError
from ..extensions import db
from ..integrations.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderUnavailable,
    RateLimitExceeded,
)
from ..jobs.task import JobTask, Outcome
from .models import Integration
from .providers import LABELS, api_key, client_for

RETRY_LIMIT = 3
CHECKPOINT_MAX_AGE = timedelta(hours=6)


class NotConnected(JobPlatformError):
    """The user has no enabled integration with the provider."""


Procedure = Callable[[JobTask, Integration, Any], Outcome]


def integration_for(user_id: int, provider: str) -> Integration:
    integration = db.session.scalar(
        sa.select(Integration).where(Integration.user_id == user_id,
                                     Integration.provider == provider)
    )
    label = LABELS[provider]
    if integration is None:
        raise NotConnected(f"{label} is not connected for user {user_id}")
    if not integration.enabled:
        raise NotConnected(f"{label} is disconnected for user {user_id}: "
                           f"{integration.last_error or 'reconnect it'}")
    return integration


def run(task: JobTask, user_id: int, provider: str, procedure: Procedure) -> Outcome:
    """Run `procedure` with the user's client. A rejected key disables the integration and
    ends the job at once; rate limits and outages retry the job (resuming from its
    checkpoint) and end it in error once the retries are used up."""
    integration = integration_for(user_id, provider)
    with client_for(provider, api_key(integration)) as client:
        try:
            outcome = procedure(task, integration, client)
        except ProviderAuthError as exc:
            _record_error(user_id, provider, str(exc), disable=True)
            raise
        except (RateLimitExceeded, ProviderUnavailable) as exc:
            _record_error(user_id, provider, str(exc))
            countdown = min(300, 15 * 2 ** task.request.retries)
            raise task.retry(exc=exc, countdown=countdown, max_retries=RETRY_LIMIT) from exc
        except ProviderError as exc:  # an answer it cannot use: the integration shows it too
            _record_error(user_id, provider, str(exc))
            raise
        finally:
            stats = client.stats
            task.log(f"{LABELS[provider]}: {stats.requests} requests, {stats.retries} retries, "
                     f"{stats.rate_limited} answered 429, waited {stats.paced_seconds:.1f}s "
                     "for the rate limit")
    return outcome


def _record_error(user_id: int, provider: str, message: str, *, disable: bool = False) -> None:
    db.session.rollback()  # whatever the failed page left unfinished
    begin_write(db.session)
    integration = db.session.scalar(
        sa.select(Integration).where(Integration.user_id == user_id,
                                     Integration.provider == provider)
    )
    if integration is not None:
        integration.last_error = message[:2000]
        integration.enabled = integration.enabled and not disable
        integration.updated_at = datetime.now(UTC)
    db.session.commit()


def load_checkpoint(integration: Integration, kind: str) -> dict[str, Any]:
    """Where an unfinished run of `kind` stopped, if recent enough to resume from."""
    checkpoint = integration.checkpoint or {}
    if checkpoint.get("kind") != kind:
        return {}
    saved = datetime.fromisoformat(checkpoint["saved_at"])
    return checkpoint if datetime.now(UTC) - saved < CHECKPOINT_MAX_AGE else {}


def save_checkpoint(integration: Integration, kind: str, **state: Any) -> None:
    """Record progress in the caller's transaction, with the data it describes."""
    integration.checkpoint = {**state, "kind": kind,
                              "saved_at": datetime.now(UTC).isoformat()}
    integration.updated_at = datetime.now(UTC)


def finish(integration: Integration, *, cursor: datetime | None,
           onboarded: bool = False) -> None:
    """A successful run: the cursor moves on, the checkpoint goes, the error clears."""
    begin_write(db.session)
    integration = db.session.get(Integration, integration.id)
    now = datetime.now(UTC)
    if cursor is not None:
        integration.sync_cursor = max(cursor, integration.sync_cursor or cursor)
    if onboarded:
        integration.onboarded_at = now
    integration.checkpoint = None
    integration.last_success_at = now
    integration.last_error = None
    integration.updated_at = now
    db.session.commit()
