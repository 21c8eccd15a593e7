"""The web layer: JSON API, operations endpoints and the dashboard."""

from __future__ import annotations

from flask import Flask

from .ops import ops


def init_app(app: Flask) -> None:
    app.register_blueprint(ops)
