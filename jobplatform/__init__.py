"""jobplatform: background jobs with tracking, an API and a dashboard.

`celery -A jobplatform ...` finds `celery`; `flask --app jobplatform` and
`gunicorn "jobplatform:create_app()"` find `create_app`.
"""

from . import tasks  # noqa: F401  (registers every task with `celery`)
from .app import create_app
from .celery_app import celery

__all__ = ["celery", "create_app"]
