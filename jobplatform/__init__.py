"""jobplatform: background jobs with tracking, an API and a dashboard.

`celery -A jobplatform ...` finds `celery`; `flask --app jobplatform` and
`gunicorn "jobplatform:create_app()"` find `create_app`. Both are made on first use, so that
importing a module of the package (a simulator, the lifecycle rules) reads no settings and
connects to nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import create_app
    from .celery_app import celery

__all__ = ["celery", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "celery":
        from . import tasks  # noqa: F401  (registers every task with `celery`)
        from .celery_app import celery

        return celery
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(f"module 'jobplatform' has no attribute {name!r}")
