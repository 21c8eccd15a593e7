"""The web app as gunicorn serves it in production, with the test worker's tasks registered
(as `celery worker -I tests.worker_tasks` has them), so the browser tests can start them."""

from jobplatform import create_app
from tests import worker_tasks  # noqa: F401

app = create_app()
