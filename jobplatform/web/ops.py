"""Operations endpoints: health."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, jsonify

from ..celery_app import celery
from ..extensions import db

ops = Blueprint("ops", __name__)


@ops.get("/healthz")
def healthz():
    """200 when the database and the broker answer; 503 naming what is down."""
    checks: dict[str, str] = {}
    try:
        db.session.execute(sa.text("SELECT 1"))
        checks["database"] = "ok"
    except sa.exc.SQLAlchemyError as exc:
        checks["database"] = f"down: {type(exc).__name__}"
    try:
        celery.journal.client.ping()
        checks["broker"] = "ok"
    except Exception as exc:  # any failure to reach Redis means down, whatever its class
        checks["broker"] = f"down: {type(exc).__name__}"
    healthy = all(v == "ok" for v in checks.values())
    return jsonify(status="ok" if healthy else "down", checks=checks), 200 if healthy else 503
