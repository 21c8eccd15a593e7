"""The worker-side request of a jobplatform task: journals a lost worker's requeue, and
acknowledges unrun a stale redelivery (jobs/redelivery.py)."""

from __future__ import annotations

import logging
from typing import Any

from billiard.einfo import ExceptionWithTraceback
from billiard.exceptions import WorkerLostError
from celery.worker.request import Request
from celery.worker.state import task_ready

from .journal import EntryKind, entry
from .redelivery import GENERATION_HEADER, is_redelivery

log = logging.getLogger(__name__)

LOST_COUNT_KEY = "jobplatform:lost:{}"
#: A job whose worker dies this many times is ended in error rather than requeued again, so a
#: task that kills its process (out of memory, a crash in C code) cannot loop for ever.
MAX_WORKER_LOSSES = 3


class JobRequest(Request):
    """Celery requeues a job whose pool process died (acks_late + reject_on_worker_lost) and
    fires no signal for it; this records the requeue before the message goes back. And a
    message delivered again for a job that ended, or was published again since, is
    acknowledged without running, and the job's history says so."""

    def revoked(self) -> bool:
        # Celery asks this before it hands a message to the pool; True skips the task.
        if super().revoked():
            return True
        if not is_redelivery(self.delivery_info, self._request_dict):
            return False
        try:
            reason = self.task.app.stale_deliveries.reason(
                self.id, int(self._request_dict.get(GENERATION_HEADER) or 0))
        except Exception as exc:  # Redis or the database down: run it rather than lose it
            log.warning("job %s redelivered; could not tell whether it moved on (%s): "
                        "running it", self.id, exc)
            return False
        if reason is None:
            return False
        log.warning("job %s: %s", self.id, reason)
        self.task.app.journal.append(entry(self.id, EntryKind.NOTE,
                                           actor=f"worker:{self.hostname}", reason=reason))
        task_ready(self)
        self.send_event("task-rejected", requeue=False)
        self.acknowledge()
        self._already_revoked = True
        return True

    def on_failure(self, exc_info: Any, send_failed_event: bool = True,
                   return_ok: bool = False) -> Any:
        if self._is_worker_lost(exc_info.exception) and self._will_requeue():
            journal = self.task.app.journal
            losses = journal.client.incr(LOST_COUNT_KEY.format(self.id))
            journal.client.expire(LOST_COUNT_KEY.format(self.id), 24 * 3600)
            if losses >= MAX_WORKER_LOSSES:
                log.error("job %s lost its worker %d times; ending it in error", self.id, losses)
                # Not requeued: Celery acknowledges the message and fires task_failure, which
                # journals the error (jobs/tracking.py).
                return self._fail_without_requeue(exc_info, send_failed_event, return_ok)
            journal.append(entry(
                self.id, EntryKind.REQUEUED, actor=f"worker:{self.hostname}",
                reason=f"worker lost ({exc_info.exception}); requeued, attempt {losses + 1}",
                started=self._start_entry(),
            ))
        return super().on_failure(exc_info, send_failed_event, return_ok)

    def _start_entry(self) -> dict[str, Any] | None:
        """The job's start as this process saw it: the pool process may have died before
        its own (held) start entry went out."""
        if not self.time_start:
            return None
        actor = f"worker:{self.hostname}"
        return entry(self.id, EntryKind.PROCESSING, at=self.time_start, actor=actor,
                     worker=self.hostname)

    def _fail_without_requeue(self, exc_info: Any, send_failed_event: bool,
                              return_ok: bool) -> Any:
        task = self.task
        saved = task.reject_on_worker_lost
        task.reject_on_worker_lost = False
        try:
            return super().on_failure(exc_info, send_failed_event, return_ok)
        finally:
            task.reject_on_worker_lost = saved

    def _is_worker_lost(self, exc: BaseException) -> bool:
        if isinstance(exc, ExceptionWithTraceback):
            exc = exc.exc
        if isinstance(exc, SystemExit | KeyboardInterrupt):
            return not (self._already_cancelled or self._already_revoked)
        return isinstance(exc, WorkerLostError)

    def _will_requeue(self) -> bool:
        task = self.task
        # With retry_on_worker_lost Celery publishes a retry instead, which the publish
        # receiver journals like any retry.
        return task.acks_late and task.reject_on_worker_lost and not task.retry_on_worker_lost
