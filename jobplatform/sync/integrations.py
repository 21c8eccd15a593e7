"""Connecting and disconnecting a user's providers (the API and the CLI both come here)."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

import httpx
import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from ..database import begin_write
from ..errors import JobPlatformError
from ..integrations.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderUnavailable,
    RateLimitExceeded,
)
from . import crypto
from .models import Integration
from .providers import LABELS, PROVIDERS, client_for
from .scheduling import ensure_sync


class KeyRejected(JobPlatformError):
    """The provider refused the key; the message is the provider's, in plain words."""


class ProviderUnreachable(JobPlatformError):
    """The provider could not be asked whether the key is good (down, timed out, failing,
    rate limiting); asking again after `retry_after` seconds (None: a few) may work."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ProviderBadAnswer(ProviderUnreachable):
    """The provider answered the check with nothing usable (not JSON, a 404, no id)."""


def _timed_out_until() -> dict[str, float]:
    """Per provider, in this app: until when (monotonic) a check answers at once that the
    provider timed out a moment ago. Without it, connects queued behind one to a hung provider
    would each hold a web thread for the whole timeout in turn, and every request behind them."""
    return current_app.extensions.setdefault("jobplatform.key_check_timed_out", {})


def account_for_key(provider: str, api_key: str) -> str:
    """Check the key with the provider, in one brief attempt (`client_for(key_check=True)`);
    the account it belongs to (FUB user, reZEN yentaId). Nothing is retried: that is for jobs.
    For `key_check_timeout` seconds after a check timed out, later ones say so at once."""
    label = LABELS[provider]
    timeout = current_app.config["JOBPLATFORM_SETTINGS"].key_check_timeout
    if (left := _timed_out_until().get(provider, 0.0) - time.monotonic()) > 0:
        raise ProviderUnreachable(f"Could not reach {label} a moment ago (timed out after "
                                  f"{timeout:g} s); nothing was saved. Try again in "
                                  f"{math.ceil(left)} s.", retry_after=left)
    try:
        with client_for(provider, api_key, key_check=True) as client:
            me = client.me()
    except ProviderAuthError as exc:
        raise KeyRejected(str(exc)) from None
    except RateLimitExceeded as exc:
        when = f"in {math.ceil(exc.retry_after)} s" if exc.retry_after else "shortly"
        raise ProviderUnreachable(f"{label} is rate limiting requests with this key (429); "
                                  f"nothing was saved. Try again {when}.",
                                  retry_after=exc.retry_after) from None
    except ProviderUnavailable as exc:
        if exc.status is not None:
            why = f"it answered {exc.status}"
        elif isinstance(exc.__cause__, httpx.TimeoutException):
            why = f"timed out after {timeout:g} s"
            _timed_out_until()[provider] = time.monotonic() + timeout
        else:
            why = "could not connect"
        raise ProviderUnreachable(f"Could not reach {label} ({why}); nothing was saved. "
                                  f"Try again shortly.") from None
    except ProviderError as exc:
        raise ProviderBadAnswer(f"Could not check the key with {label}: {exc}. Nothing was "
                                f"saved; try again shortly.") from None
    return str(me["id"]) if isinstance(me, dict) else str(me)


def connect(session: Session, user_id: int, provider: str, api_key: str, *,
            actor: str) -> tuple[Integration, str]:
    """Store the (checked) key and start the first job: FUB's onboarding or reZEN's sync.
    A key for a different account than before starts over from scratch."""
    if provider not in PROVIDERS:
        raise ValueError(f"unknown provider {provider!r}")
    account = account_for_key(provider, api_key)
    now = datetime.now(UTC)
    begin_write(session)
    integration = session.scalar(sa.select(Integration).where(
        Integration.user_id == user_id, Integration.provider == provider))
    if integration is None:
        integration = Integration(user_id=user_id, provider=provider, created_at=now)
        session.add(integration)
    elif integration.account_id != account:
        integration.sync_cursor = integration.onboarded_at = integration.checkpoint = None
    integration.api_key_encrypted = crypto.encrypt(current_app.config["SECRET_KEY"], api_key)
    integration.key_fingerprint = crypto.fingerprint(api_key)
    integration.account_id = account
    integration.enabled = True
    integration.last_error = None
    integration.updated_at = now
    session.commit()
    job_id, _ = ensure_sync(session, integration.id, actor=actor)
    return integration, job_id


def disconnect(session: Session, user_id: int, provider: str) -> bool:
    """Forget the key; the data already synced stays. Whether there was a connection."""
    begin_write(session)
    deleted = session.execute(sa.delete(Integration).where(
        Integration.user_id == user_id, Integration.provider == provider)).rowcount
    session.commit()
    return bool(deleted)


def integrations_of(session: Session, user_id: int) -> list[Integration]:
    return list(session.scalars(sa.select(Integration).where(Integration.user_id == user_id)
                                .order_by(Integration.provider)))
