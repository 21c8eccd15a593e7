"""The Flask app factory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from . import database, web
from .config import Settings


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    settings = Settings.from_env()
    app = Flask(__name__, instance_path=str(settings.instance_path))
    app.config.from_mapping(settings.flask_config())
    if test_config:
        app.config.from_mapping(test_config)
    database.init_app(app)

    from .celery_app import celery

    celery.init_app(app)
    web.init_app(app)
    return app
