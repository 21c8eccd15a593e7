"""The base class of every jobplatform task: progress, log, cancellation, retries."""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable
from time import monotonic
from typing import Any, NamedTuple, ParamSpec, TypeVar

from celery import Task
from celery._state import _task_stack  # the thread's current task, as Celery keeps it
from celery.exceptions import Ignore, SoftTimeLimitExceeded
from flask import has_app_context
from pydantic import BaseModel

from ..errors import JobCancelled, describe_exception
from ..extensions import db
from .journal import EntryKind, entry

LOG_LINES_PER_JOB = 1000
# A job's rate is its progress over about the last half minute of its current phase.
RATE_WINDOW_SECONDS = 30.0
RATE_SAMPLE_SECONDS = 0.25
P = ParamSpec("P")
R = TypeVar("R")


class Outcome(NamedTuple):
    """What a task returns: its result (JSON) and one human line, "Synced 45 contacts"."""

    result: dict[str, Any]
    summary: str


class JobTask(Task):
    """A tracked task. Subclasses (or `@celery.task` functions) call `self.progress(...)`,
    `self.log(...)` and `self.check_cancelled()`, and return an `Outcome`."""

    #: The job's short `type`; the last part of the task name when not set.
    job_type: str | None = None
    #: The parameters `POST /api/v2/jobs` accepts for this job (a pydantic model), or None
    #: if users cannot start it that way.
    api_params: type[BaseModel] | None = None
    #: Whether running the job again does no harm (a sync): a job whose worker vanished is
    #: then run again rather than ended in error (see the reaper in tasks/maintenance.py).
    idempotent: bool = False
    Request = "jobplatform.jobs.request:JobRequest"
    #: At most this many progress writes per second reach the journal; the last is kept.
    progress_per_second = 4
    #: How often, at most, `check_cancelled` asks Redis (seconds).
    cancel_check_interval = 0.5

    @property
    def type_name(self) -> str:
        return self.job_type or self.name.rsplit(".", 1)[-1]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # A worker enters the Flask app context once per prefork pool process (celery_app.py)
        # or per threads-pool thread (here, on its first task), not once per task, which costs
        # a worker about a tenth of its throughput on short jobs. Flask keeps the context per
        # thread, and Flask-SQLAlchemy a session per context, so every thread has its own
        # session, and each task still starts with a fresh one. Keep per-task state out of
        # `flask.g`, which lives as long as the context.
        if not has_app_context():
            if self.request.called_directly or self.request.is_eager:
                with self.app.flask_app.app_context():
                    return self.__call__(*args, **kwargs)
            self.app.flask_app.app_context().push()  # for the rest of this thread's life
        self.request.jobplatform_started = monotonic()  # for the time limit on threads
        try:
            if _task_stack.top is self and not self.request.called_directly:
                # Celery's tracer has pushed this task and its request already; Task.__call__
                # would build and push a second copy of the request, ~40 µs a task.
                return self.run(*args, **kwargs)
            return super().__call__(*args, **kwargs)
        except JobCancelled as exc:
            self._record(EntryKind.CANCELLED, reason=str(exc) or "stopped on request")
            raise Ignore() from exc
        finally:
            db.session.remove()

    # -- the task-facing API -------------------------------------------------------------

    def progress(
        self,
        current: int,
        total: int | None = None,
        *,
        unit: str | None = None,
        message: str | None = None,
    ) -> None:
        """Report how far the job is ("234 of 567 transactions"); also checks for cancel."""
        state = self._job_state()
        now = monotonic()
        state["progress"] = {
            "current": current,
            "total": total,
            "unit": unit,
            "rate": _rate(state, current, unit, now),
        }
        if message is not None:
            state["progress"]["message"] = message
        finished = total is not None and current >= total
        if finished or now - state["progress_sent"] >= 1 / self.progress_per_second:
            state["progress_sent"] = now
            self._record(EntryKind.PROGRESS, **state["progress"])
        self.check_cancelled()

    def log(self, message: str, level: str = "INFO") -> None:
        """Add a line to the job's log (plain `logging` inside a task lands here too)."""
        state = self._job_state()
        state["log_lines"] += 1
        if state["log_lines"] > LOG_LINES_PER_JOB:
            if state["log_lines"] == LOG_LINES_PER_JOB + 1:
                self._record(
                    EntryKind.LOG,
                    level="WARNING",
                    message=f"log truncated after {LOG_LINES_PER_JOB} lines",
                )
            return
        self._record(EntryKind.LOG, level=level.upper(), message=str(message))

    def check_cancelled(self) -> None:
        """Raise JobCancelled if someone asked this job to stop; call it between steps. Past
        its soft time limit, raise SoftTimeLimitExceeded: a threads pool enforces no time
        limits, so there they hold at every step (prefork's signal comes first anyway)."""
        state = self._job_state()
        now = monotonic()
        if now - state["cancel_checked"] < self.cancel_check_interval:
            return
        state["cancel_checked"] = now
        soft_limit = (self.request.timelimit or (None, None))[1] or self.soft_time_limit
        if soft_limit and now - state["started"] > soft_limit:
            raise SoftTimeLimitExceeded(f"soft time limit ({soft_limit}s) exceeded")
        if self.request.id and self.app.journal.cancel_requested(self.request.id):
            raise JobCancelled("cancelled on request")

    def retry(
        self,
        args: Any = None,
        kwargs: Any = None,
        exc: BaseException | None = None,
        *rest: Any,
        **options: Any,
    ) -> Any:
        """Celery's retry, remembering the error so the job's history says why it retried."""
        cause = exc if exc is not None else sys.exc_info()[1]
        if cause is not None:
            self.request.jobplatform_retry_error = describe_exception(cause)
        return super().retry(args, kwargs, exc, *rest, **options)

    def in_context(self, fn: Callable[P, R]) -> Callable[P, R]:
        """`fn`, to run in another thread as part of this job: what it logs, and its progress,
        land in this job (Celery keeps the current task per thread)."""
        request = self.request

        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            _task_stack.push(self)
            self.request_stack.push(request)
            try:
                return fn(*args, **kwargs)
            finally:
                self.request_stack.pop()
                _task_stack.pop()

        return run

    # -- internals -------------------------------------------------------------------------

    def _job_state(self) -> dict[str, Any]:
        """Per-run bookkeeping, kept on the request so it never leaks between runs."""
        request = self.request
        state = getattr(request, "jobplatform_state", None)
        if state is None:
            state = {
                "progress": None,
                "progress_sent": 0.0,
                "cancel_checked": 0.0,
                "started": getattr(request, "jobplatform_started", None) or monotonic(),
                "log_lines": 0,
                "phase": None,
                "samples": deque(),
            }
            request.jobplatform_state = state
        return state

    def final_progress(self) -> dict[str, Any]:
        state = getattr(self.request, "jobplatform_state", None)
        return (state or {}).get("progress") or {}

    def _record(self, kind: EntryKind, **fields: Any) -> None:
        actor = f"worker:{self.request.hostname}" if self.request.hostname else "worker"
        self.app.journal.append(entry(self.request.id, kind, actor=actor, **fields), wait=False)


def _rate(state: dict[str, Any], current: int, unit: str | None, now: float) -> float | None:
    """Units per second over the recent progress of the job's current phase (a new unit, or a
    count that went back, starts a new phase; a total learnt as the job goes does not); None
    until there is a second of it."""
    samples: deque[tuple[float, int]] = state["samples"]
    if state["phase"] != unit or (samples and current < samples[-1][1]):
        state["phase"] = unit
        samples.clear()
    if not samples or now - samples[-1][0] >= RATE_SAMPLE_SECONDS:
        samples.append((now, current))
    while len(samples) > 2 and now - samples[1][0] >= RATE_WINDOW_SECONDS:
        samples.popleft()
    since, then = samples[0]
    if now - since < 1.0 or current <= then:
        return None
    return round((current - then) / (now - since), 3)
