"""The web layer: the JSON API, operations endpoints and error handling."""

from __future__ import annotations

from flask import Flask

from . import errors
from .api import api
from .ops import ops


def init_app(app: Flask) -> None:
    errors.init_app(app)
    app.register_blueprint(ops)
    app.register_blueprint(api)
