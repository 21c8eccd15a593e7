"""The caller's provider connections: list, connect (checks the key), disconnect, sync now."""

from __future__ import annotations

import math

from flask import jsonify

from ...extensions import db
from ...jobs.enqueue import EnqueueFailed
from ...jobs.models import Job
from ...sync import integrations as service
from ...sync.models import Integration
from ...sync.providers import LABELS, PROVIDERS
from ...sync.scheduling import ensure_sync
from ..auth import current_user
from ..errors import ApiError, NotFound, Unavailable, error_response
from ..schemas import ConnectRequest, IntegrationOut, NoQuery
from ..serialize import job_json
from . import api
from .requests import parse_body, parse_query


def integration_json(integration: Integration) -> dict:
    return IntegrationOut(
        provider=integration.provider, label=LABELS[integration.provider],
        enabled=integration.enabled, account_id=integration.account_id,
        key_fingerprint=integration.key_fingerprint, onboarded_at=integration.onboarded_at,
        last_success_at=integration.last_success_at, last_error=integration.last_error,
        sync_cursor=integration.sync_cursor, created_at=integration.created_at,
    ).model_dump(mode="json")


def _provider(provider: str) -> str:
    if provider not in PROVIDERS:
        raise NotFound(f"No provider {provider[:32]!r}; use one of {', '.join(PROVIDERS)}.")
    return provider


@api.get("/integrations")
def list_integrations():
    parse_query(NoQuery)
    return jsonify([integration_json(i)
                    for i in service.integrations_of(db.session, current_user().id)])


@api.post("/integrations")
def connect_integration():
    parse_query(NoQuery)
    body = parse_body(ConnectRequest)
    user = current_user()
    try:
        integration, job_id = service.connect(db.session, user.id, body.provider, body.api_key,
                                              actor=f"user:{user.id}")
    except service.KeyRejected as exc:
        raise ApiError(f"{exc}; check the key and connect again.", status=422,
                       code="key_rejected",
                       details=[{"field": "api_key", "problem": str(exc)}]) from None
    except service.ProviderBadAnswer as exc:
        raise ApiError(str(exc), status=502, code="provider_unreachable") from None
    except service.ProviderUnreachable as exc:
        # Down, timed out or rate limiting: temporary, so a 503 that says when to ask again.
        response = error_response(503, "provider_unreachable", str(exc))
        if exc.retry_after:
            response.headers["Retry-After"] = str(math.ceil(exc.retry_after))
        return response
    except EnqueueFailed as exc:
        raise Unavailable(f"Connected, but the first sync could not be queued: {exc}") from None
    return jsonify(integration=integration_json(integration),
                   job=job_json(db.session.get(Job, job_id))), 201


@api.delete("/integrations/<provider>")
def disconnect_integration(provider: str):
    parse_query(NoQuery)
    if not service.disconnect(db.session, current_user().id, _provider(provider)):
        raise NotFound(f"{LABELS[provider]} is not connected.")
    return jsonify(deleted=True)


@api.post("/integrations/<provider>/sync")
def sync_now(provider: str):
    """Start a sync, or return the one pending or running (FUB's first sync is onboarding)."""
    parse_query(NoQuery)
    user = current_user()
    provider = _provider(provider)  # before the lookup: with nothing connected it never runs
    integration = next((i for i in service.integrations_of(db.session, user.id)
                        if i.provider == provider), None)
    if integration is None or not integration.enabled:
        raise NotFound(f"{LABELS[provider]} is not connected; connect it first.")
    try:
        job_id, new = ensure_sync(db.session, integration.id, actor=f"user:{user.id}")
    except EnqueueFailed as exc:
        raise Unavailable(f"The sync could not be queued: {exc}") from None
    return jsonify(job_json(db.session.get(Job, job_id))), 202 if new else 200
