"""Provider clients for a user's integration, configured from the settings."""

from __future__ import annotations

from typing import Any

import httpx
import redis
from flask import current_app

from ..config import Settings
from ..integrations.fub import FubClient
from ..integrations.http import RetryPolicy
from ..integrations.rezen import RezenClient
from . import crypto
from .models import Integration

PROVIDERS = ("fub", "rezen")
LABELS = {"fub": "FUB", "rezen": "reZEN"}
#: A key check answers a web request: one attempt. Retries with back-off belong to jobs.
KEY_CHECK_RETRY = RetryPolicy(max_retries=0, max_rate_limit_retries=0)


def _settings() -> Settings:
    return current_app.config["JOBPLATFORM_SETTINGS"]


def api_key(integration: Integration) -> str:
    return crypto.decrypt(current_app.config["SECRET_KEY"], integration.api_key_encrypted)


def _shared_limit() -> redis.Redis:
    """Where every process keeps the providers' rate-limit windows: the journal's Redis."""
    return current_app.extensions["celery"].journal.client


def _timeout(settings: Settings) -> httpx.Timeout:
    return httpx.Timeout(settings.provider_timeout, connect=min(10.0, settings.provider_timeout))


def _options(settings: Settings, key_check: bool) -> dict[str, Any]:
    """A job's client: `provider_timeout`, retries, and the account's shared rate limit.
    A key check's: one request, each phase of it (connect, send, answer) given
    `key_check_timeout`, and no rate-limit window or pacing to wait for."""
    if key_check:
        return {"timeout": httpx.Timeout(settings.key_check_timeout), "retry": KEY_CHECK_RETRY,
                "pace": False}
    return {"timeout": _timeout(settings), "shared_limit": _shared_limit()}


def fub_client(key: str, *, key_check: bool = False) -> FubClient:
    settings = _settings()
    return FubClient(key, settings.fub_base_url, system=settings.fub_system,
                     system_key=settings.fub_system_key, **_options(settings, key_check))


def rezen_client(key: str, *, key_check: bool = False) -> RezenClient:
    settings = _settings()
    return RezenClient(key, settings.rezen_arrakis_url, settings.rezen_yenta_url,
                       **_options(settings, key_check))


def client_for(provider: str, key: str, *, key_check: bool = False) -> FubClient | RezenClient:
    """A job's client for `provider`, or with `key_check` one for checking a key in a request."""
    client = fub_client if provider == "fub" else rezen_client
    return client(key, key_check=key_check)
