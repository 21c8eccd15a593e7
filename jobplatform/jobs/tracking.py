"""Celery signal receivers that journal every job transition where it happens.

- publish (any process: `.delay()`, beat, `celery call`): `pending`, before the message is sent,
  so no worker can start a job whose publish is not yet recorded;
- the worker's pool process: `processing`, `complete`, `error`, and `cancelled` on request;
- the worker's main process: `cancelled` on revoke, `error` on a hard time limit or a lost
  worker, `requeued` when a lost worker's job goes back to the queue (jobs/request.py).

Each is one XADD and nothing else; the applier does the SQL.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

from celery import Celery, signals
from celery.app.task import Context, Task

from ..errors import describe_exception
from ..queues import queue_for_task
from .journal import EntryKind, entry
from .task import JobTask

# A header on messages whose pending row the API already wrote (read-your-writes).
RECORDED_HEADER = "jobplatform_recorded"
# A header naming who published, when the publisher knows better than "client@host".
ACTOR_HEADER = "jobplatform_actor"
# How long a job's start may wait to travel with its next entry; with the applier's linger,
# a start still shows within the 250 ms the API promises.
START_HOLD_SECONDS = 0.05
CAPTURE_EXCLUDED_LOGGERS = (
    "celery", "kombu", "amqp", "billiard", "jobplatform.jobs",
    "httpx", "httpcore",  # a line per HTTP request: transport noise, not the job's story
)


def is_tracked(task_name: str) -> bool:
    return not task_name.startswith("celery.")


def job_type_for(app: Celery, task_name: str) -> str:
    task = app.tasks.get(task_name)
    if isinstance(task, JobTask):
        return task.type_name
    return task_name.rsplit(".", 1)[-1]


def _user_id(kwargs: Any) -> int | None:
    value = kwargs.get("user_id") if isinstance(kwargs, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class Tracker:
    """Connects the receivers for one Celery app."""

    def __init__(self, app: Celery) -> None:
        self.app = app
        self.client_actor = f"client@{socket.gethostname()}"

    def connect(self) -> None:
        signals.before_task_publish.connect(self.on_publish, weak=False)
        signals.task_prerun.connect(self.on_prerun, weak=False)
        signals.task_success.connect(self.on_success, weak=False)
        signals.task_failure.connect(self.on_failure, weak=False)
        signals.task_revoked.connect(self.on_revoked, weak=False)
        signals.task_unknown.connect(self.on_dropped, weak=False)
        signals.task_rejected.connect(self.on_dropped, weak=False)
        signals.worker_process_init.connect(self.on_worker_process_start, weak=False)
        # A threads pool runs tasks in the worker's own process, whose logging Celery sets up
        # (dropping the root logger's handlers) after `worker_init`: capture after that.
        signals.after_setup_task_logger.connect(self.on_worker_process_start, weak=False)

    def on_publish(self, sender: str | None = None, body: Any = None, routing_key: str = "",
                   headers: dict | None = None, **_: Any) -> None:
        headers = headers or {}
        task_name = headers.get("task") or sender or ""
        retries = int(headers.get("retries") or 0)
        # A retry carries the first publish's headers, "already recorded" included; its
        # going back to pending is news all the same.
        if not is_tracked(task_name) or (headers.get(RECORDED_HEADER) and not retries):
            return
        args, kwargs = (body[0], body[1]) if isinstance(body, list | tuple) else ((), {})
        kwargs = kwargs if isinstance(kwargs, dict) else {}
        fields: dict[str, Any] = {
            "task": task_name,
            "type": job_type_for(self.app, task_name),
            "queue": routing_key or queue_for_task(task_name),
            "user_id": _user_id(kwargs),
            "params": {k: v for k, v in kwargs.items() if k != "user_id"}
            | ({"args": list(args)} if args else {}),
            "retries": retries,
            "actor": headers.get(ACTOR_HEADER) or self._publisher(headers),
        }
        if retries:
            fields.update(self._retry_fields(headers["id"]))
        if headers.get("eta"):
            fields["eta"] = headers["eta"]
            why = fields.get("reason") or ("published" if not retries else f"retry {retries}")
            fields["reason"] = f"{why}; due at {headers['eta']}"
        self.app.journal.append(entry(headers["id"], EntryKind.PENDING, **fields))

    def _publisher(self, headers: dict) -> str:
        parent = headers.get("parent_id")
        return f"task:{parent}" if parent and parent != headers.get("id") else self.client_actor

    def _retry_fields(self, job_id: str) -> dict[str, Any]:
        """The error that made the running task retry itself (JobTask.retry stores it)."""
        from celery import current_task

        request = getattr(current_task, "request", None)
        error = getattr(request, "jobplatform_retry_error", None)
        if request is None or request.id != job_id or not error:
            return {}
        error_type, message = error
        return {"error_type": error_type, "error_message": message,
                "reason": f"retry {int(request.retries) + 1}: {error_type}: {message}"}

    def on_prerun(self, sender: Task | None = None, task_id: str = "", task: Task | None = None,
                  kwargs: dict | None = None, **_: Any) -> None:
        if task is None or not is_tracked(task.name):
            return
        request = task.request
        # Held briefly: a short job's start travels with its end (Journal.hold).
        self.app.journal.hold(entry(
            task_id, EntryKind.PROCESSING,
            actor=f"worker:{request.hostname}", worker=request.hostname,
            task=task.name, type=job_type_for(self.app, task.name),
            queue=(request.delivery_info or {}).get("routing_key") or queue_for_task(task.name),
            user_id=_user_id(kwargs), retries=request.retries or 0,
        ), START_HOLD_SECONDS)

    def on_success(self, sender: Task | None = None, result: Any = None, **_: Any) -> None:
        if sender is None or not is_tracked(sender.name):
            return
        if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], str):
            value, summary = result
        else:
            value, summary = result, None
        progress = sender.final_progress() if isinstance(sender, JobTask) else {}
        self.app.journal.append(entry(
            sender.request.id, EntryKind.COMPLETE, actor=f"worker:{sender.request.hostname}",
            result=value, summary=summary, **progress,
        ), wait=False)  # written before the worker acknowledges the message; see Journal

    def on_failure(self, sender: Task | None = None, task_id: str = "",
                   exception: BaseException | None = None, einfo: Any = None, **_: Any) -> None:
        if sender is None or not is_tracked(sender.name) or exception is None:
            return
        error_type, message = describe_exception(exception)
        hostname = getattr(sender.request, "hostname", None)
        self.app.journal.append(entry(
            task_id, EntryKind.ERROR, actor=f"worker:{hostname}" if hostname else "worker",
            error_type=error_type, error_message=message,
            traceback=getattr(einfo, "traceback", None),
        ))

    def on_revoked(self, sender: Task | None = None, request: Context | None = None,
                   terminated: bool = False, signum: Any = None, expired: bool = False,
                   **_: Any) -> None:
        if request is None or sender is None or not is_tracked(sender.name):
            return
        worker = f"worker:{request.hostname}"
        # Only a `revoke` control command (`celery control revoke`, Flower, or the API's
        # cancel, which records its own actor first) puts an id in a worker's revoked set.
        actor = worker if expired else f"celery control revoke (seen by {worker})"
        if expired:
            reason = "expired before it ran"
        elif terminated:
            reason = f"revoked and terminated (signal {signum})"
        else:
            reason = "revoked"
        self.app.journal.append(entry(request.id, EntryKind.CANCELLED, actor=actor,
                                      reason=reason))

    def on_dropped(self, sender: Any = None, message: Any = None, id: str | None = None,
                   **_: Any) -> None:
        """A worker threw away a job's message unrun (a task it does not know, a message it
        cannot decode): the job is lost, not purged, so the reaper publishes it again."""
        from .lost_messages import mark_dropped

        job_id = id or (getattr(message, "headers", None) or {}).get("id")
        if job_id:
            mark_dropped(self.app.journal.client, str(job_id))

    def on_worker_process_start(self, **_: Any) -> None:
        capture_task_logging()


class JobLogHandler(logging.Handler):
    """Copies what a running task logs with plain `logging` into its job's log."""

    def emit(self, record: logging.LogRecord) -> None:
        from celery import current_task

        if record.name.startswith(CAPTURE_EXCLUDED_LOGGERS):
            return
        task = current_task
        if not isinstance(task, JobTask) or not task.request.id:
            return
        try:
            task.log(self.format(record), level=record.levelname)
        except Exception:  # logging must never break the task; report it the logging way
            self.handleError(record)


def capture_task_logging() -> None:
    """Route INFO and up from task code into job logs without changing what the console shows.

    The root logger goes down to INFO for the capture's sake; the platform's own loggers
    (Celery's "received"/"succeeded" lines for every task, kombu's, billiard's) stay at the
    console's level, so their INFO lines are still dropped at the first, cheapest check
    instead of being built and offered to every handler.
    """
    root = logging.getLogger()
    if any(isinstance(h, JobLogHandler) for h in root.handlers):
        return
    console_level = root.level or logging.WARNING
    for handler in root.handlers:
        if handler.level == logging.NOTSET:
            handler.setLevel(console_level)
    for name in CAPTURE_EXCLUDED_LOGGERS:
        quiet = logging.getLogger(name)
        if quiet.level == logging.NOTSET:
            quiet.setLevel(console_level)
    # Loggers from celery.utils.log.get_task_logger hang below "celery.task": task code.
    logging.getLogger("celery.task").setLevel(min(console_level, logging.INFO))
    root.setLevel(min(console_level, logging.INFO))
    handler = JobLogHandler(level=logging.INFO)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root.addHandler(handler)
