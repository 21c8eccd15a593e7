"""Every table, imported in one place so the metadata (and so migrations) see them all."""

from .jobs.models import (
    Job,
    JobDuration,
    JobEvent,
    JobLog,
    JournalPosition,
    QueueCount,
    QueueMinute,
    ScopeVersion,
)
from .sync.models import Contact, Deal, Integration, Transaction
from .users.models import ApiToken, User

__all__ = [
    "ApiToken", "Contact", "Deal", "Integration", "Job", "JobDuration", "JobEvent", "JobLog",
    "JournalPosition", "QueueCount", "QueueMinute", "ScopeVersion", "Transaction", "User",
]
