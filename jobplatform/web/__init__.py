"""The web layer: the JSON API, the dashboard, operations endpoints and error handling."""

from __future__ import annotations

from flask import Flask

from . import errors
from .api import api
from .dashboard import dashboard
from .ops import ops


def init_app(app: Flask) -> None:
    errors.init_app(app)
    app.register_blueprint(ops)
    app.register_blueprint(api)
    app.register_blueprint(dashboard)
