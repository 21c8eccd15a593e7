"""The platform's exceptions, and how an exception is described on a job."""

from __future__ import annotations

from billiard.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded, WorkerLostError


class JobPlatformError(Exception):
    """Base of every error the platform raises on purpose."""


class JobCancelled(JobPlatformError):
    """Raised inside a task by `check_cancelled` when someone asked the job to stop."""


class ConfigurationError(JobPlatformError):
    """The settings cannot work; the message says which and how to fix it."""


def describe_exception(exc: BaseException) -> tuple[str, str]:
    """A job's `error_type` and `error_message` for `exc`, in words a person can act on."""
    if isinstance(exc, TimeLimitExceeded):
        limit = exc.args[0] if exc.args else "?"
        return "TimeLimitExceeded", f"Hard time limit ({limit}s) exceeded; the task was killed"
    if isinstance(exc, SoftTimeLimitExceeded):
        return "SoftTimeLimitExceeded", "Soft time limit exceeded"
    if isinstance(exc, WorkerLostError):
        return "WorkerLost", str(exc) or "The worker running this job was lost"
    return type(exc).__name__, str(exc) or repr(exc)
