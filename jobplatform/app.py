"""The Flask app factory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from . import database
from .config import Settings


def create_app(test_config: Mapping[str, Any] | None = None, *, web: bool = True) -> Flask:
    """The app: its settings, the database and Celery; with `web`, the API and dashboard
    too (a worker needs only the app context its tasks run in)."""
    settings = Settings.from_env()
    app = Flask(__name__, instance_path=str(settings.instance_path))
    app.config.from_mapping(settings.flask_config())
    if test_config:
        app.config.from_mapping(test_config)
    database.init_app(app, lock_wait=settings.sqlite_web_lock_wait if web
                      else settings.sqlite_lock_wait)

    from . import tasks  # noqa: F401  (a process that publishes knows every task's job type)
    from .celery_app import celery_init_app

    celery_init_app(app)
    if web:
        from . import web as web_layer

        web_layer.init_app(app)
    return app
