"""Connecting and disconnecting a user's providers (the API and the CLI both come here)."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from ..database import begin_write
from ..errors import JobPlatformError
from ..integrations.errors import ProviderAuthError, ProviderError
from . import crypto
from .models import Integration
from .providers import LABELS, PROVIDERS, client_for
from .scheduling import ensure_sync


class KeyRejected(JobPlatformError):
    """The provider refused the key; the message is the provider's, in plain words."""


class ProviderUnreachable(JobPlatformError):
    """The provider could not be asked whether the key is good (down, rate limited)."""


def account_for_key(provider: str, api_key: str) -> str:
    """Check the key with the provider; the account it belongs to (FUB user, reZEN yentaId)."""
    try:
        with client_for(provider, api_key) as client:
            me = client.me()
    except ProviderAuthError as exc:
        raise KeyRejected(str(exc)) from None
    except ProviderError as exc:
        raise ProviderUnreachable(f"could not check the key with {LABELS[provider]}: "
                                  f"{exc}") from None
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
