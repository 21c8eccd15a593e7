"""Provider clients for a user's integration, configured from the settings."""

from __future__ import annotations

import httpx
import redis
from flask import current_app

from ..config import Settings
from ..integrations.fub import FubClient
from ..integrations.rezen import RezenClient
from . import crypto
from .models import Integration

PROVIDERS = ("fub", "rezen")
LABELS = {"fub": "FUB", "rezen": "reZEN"}


def _settings() -> Settings:
    return current_app.config["JOBPLATFORM_SETTINGS"]


def api_key(integration: Integration) -> str:
    return crypto.decrypt(current_app.config["SECRET_KEY"], integration.api_key_encrypted)


def _shared_limit() -> redis.Redis:
    """Where every process keeps the providers' rate-limit windows: the journal's Redis."""
    return current_app.extensions["celery"].journal.client


def _timeout(settings: Settings) -> httpx.Timeout:
    return httpx.Timeout(settings.provider_timeout, connect=min(10.0, settings.provider_timeout))


def fub_client(key: str) -> FubClient:
    settings = _settings()
    return FubClient(key, settings.fub_base_url, system=settings.fub_system,
                     system_key=settings.fub_system_key, shared_limit=_shared_limit(),
                     timeout=_timeout(settings))


def rezen_client(key: str) -> RezenClient:
    settings = _settings()
    return RezenClient(key, settings.rezen_arrakis_url, settings.rezen_yenta_url,
                       shared_limit=_shared_limit(), timeout=_timeout(settings))


def client_for(provider: str, key: str) -> FubClient | RezenClient:
    return fub_client(key) if provider == "fub" else rezen_client(key)
