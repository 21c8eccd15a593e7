"""The JSON API under /api/v2 (docs/contracts.md "HTTP API"); every call needs a bearer token."""

from __future__ import annotations

from flask import Blueprint

from ..auth import authenticate

api = Blueprint("api", __name__, url_prefix="/api/v2")
api.before_request(authenticate)

# The route modules attach their views to `api`.
from . import bulk, files, imports, integrations, jobs, me, schedules, status, users  # noqa: E402, F401
