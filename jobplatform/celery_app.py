"""The Celery app that `celery -A jobplatform` finds, made once by `create_celery`; its
settings come from celeryconfig.py."""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

from celery import Celery, signals
from celery.result import AsyncResult
from kombu.exceptions import OperationalError as BrokerError

from .jobs.ids import new_job_id
from .jobs.journal import EntryKind, Journal, connect, entry
from .jobs.tracking import RECORDED_HEADER, Tracker, is_tracked

if TYPE_CHECKING:
    from celery.worker import WorkController
    from flask import Flask

    from .jobs.redelivery import StaleDeliveries

TASK_MODULES = ["jobplatform.tasks"]


class JobPlatformCelery(Celery):
    """Celery, plus the two things every jobplatform process needs from it: the Flask app
    tasks run in (built on first use, so importing builds nothing) and the journal client."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._flask_app: Flask | None = None
        self._journal: Journal | None = None
        self._journal_pid: int | None = None
        self._stale_deliveries: StaleDeliveries | None = None
        # A threads pool's tasks start together: one of them builds, the others wait.
        self._build_lock = threading.Lock()

    @property
    def flask_app(self) -> Flask:
        if self._flask_app is None:
            with self._build_lock:
                if self._flask_app is None:
                    from .app import create_app

                    self._flask_app = create_app(web=False)  # a worker serves no requests
        return self._flask_app

    def init_app(self, app: Flask) -> None:
        """Let tasks run in `app` unless this process already has an app for them."""
        app.extensions["celery"] = self
        if self._flask_app is None:
            self._flask_app = app

    def send_task(self, name: str, args: Any = None, kwargs: Any = None, countdown: Any = None,
                  eta: Any = None, task_id: str | None = None, *rest: Any,
                  **options: Any) -> AsyncResult:
        """Celery's, with a time-ordered id for every task it names (see jobs/ids.py):
        `.delay()`, beat and `celery call` all publish through here."""
        task_id = task_id or new_job_id()
        try:
            return super().send_task(name, args, kwargs, countdown, eta, task_id, *rest,
                                     **options)
        except BrokerError as exc:
            # Its `pending` is journaled already (before the send, see jobs/tracking.py); say
            # it ended, or it would wait for the reaper's lost-message look (10 minutes).
            # (A job the platform recorded itself is ended by `jobs.enqueue.publish`.)
            if is_tracked(name) and not (options.get("headers") or {}).get(RECORDED_HEADER):
                self.journal.append(entry(
                    task_id, EntryKind.ERROR, actor="publisher", error_type="EnqueueFailed",
                    error_message=f"The broker did not accept the job: {exc}"))
            raise

    @property
    def stale_deliveries(self) -> StaleDeliveries:
        """The judge of redelivered messages (a worker's main process asks it)."""
        if self._stale_deliveries is None:
            from .config import Settings
            from .jobs.redelivery import StaleDeliveries

            self._stale_deliveries = StaleDeliveries(self.journal.client,
                                                     Settings.from_env().database_url)
        return self._stale_deliveries

    @property
    def journal(self) -> Journal:
        # One client per process: a forked pool process must not share its parent's sockets.
        if self._journal is None or self._journal_pid != os.getpid():
            with self._build_lock:
                if self._journal is None or self._journal_pid != os.getpid():
                    self._journal = Journal(connect(self.conf.jobplatform_journal_url))
                    self._journal_pid = os.getpid()
        return self._journal


def create_celery() -> JobPlatformCelery:
    """The platform's Celery app: its settings from celeryconfig.py (read when first used,
    not on import) and the tracker connected to its signals."""
    app = JobPlatformCelery(
        "jobplatform", task_cls="jobplatform.jobs.task:JobTask", include=TASK_MODULES
    )
    app.config_from_object("celeryconfig")
    Tracker(app).connect()
    return app


#: The one app: `celery -A jobplatform` finds it, every task is registered on it.
celery = create_celery()


def celery_init_app(app: Flask) -> JobPlatformCelery:
    """Flask's Celery pattern: Celery becomes the app's extension, and tasks run in the app
    (unless this process has one for them already)."""
    celery.init_app(app)
    return celery


@signals.worker_process_init.connect(weak=False)
def enter_app_context(**_: object) -> None:
    """A prefork (or solo) pool process runs its tasks in one Flask app context; a threads
    pool's thread enters its own on its first task (see JobTask.__call__)."""
    celery.flask_app.app_context().push()


@signals.worker_init.connect(weak=False)
def build_for_threads(sender: WorkController, **_: object) -> None:
    """A threads (or gevent) pool runs all of its `-c N` tasks in this process, each with a
    database session of its own: build the Flask app now with a connection for each."""
    pool = sender.pool_cls
    name = pool if isinstance(pool, str) else getattr(pool, "__module__", "")
    if not any(kind in name for kind in ("thread", "gevent", "eventlet")):
        return  # prefork builds the app in each pool process, after the fork
    from .app import create_app
    from .config import Settings
    from .database import engine_options

    settings = Settings.from_env()
    options = {**engine_options(settings.database_url, lock_wait=settings.sqlite_lock_wait),
               "pool_size": max(5, int(sender.concurrency or 0)), "max_overflow": 10}
    celery.init_app(create_app({"SQLALCHEMY_ENGINE_OPTIONS": options}, web=False))
