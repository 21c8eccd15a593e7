"""jobplatform: background jobs with tracking, an API and a dashboard.

`celery -A jobplatform ...` finds `celery`; `flask --app jobplatform` and
`gunicorn "jobplatform:create_app()"` find `create_app`.
"""

from .app import create_app
from .celery_app import celery

__all__ = ["celery", "create_app"]
