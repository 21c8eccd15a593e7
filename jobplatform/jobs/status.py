"""Job statuses and which transitions between them are allowed."""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETE = "complete"
    ERROR = "error"
    CANCELLED = "cancelled"

    @property
    def ended(self) -> bool:
        return self in ENDED


ENDED = frozenset({JobStatus.COMPLETE, JobStatus.ERROR, JobStatus.CANCELLED})
ACTIVE = frozenset({JobStatus.PENDING, JobStatus.PROCESSING})
# The order every count is reported in.
STATUS_ORDER: tuple[JobStatus, ...] = tuple(JobStatus)
