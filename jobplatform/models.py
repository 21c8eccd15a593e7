"""Every table, imported in one place so the metadata (and so migrations) see them all."""

from .jobs.models import Job, JobEvent, JobLog, JournalPosition, QueueCount
from .sync.models import Contact

__all__ = ["Contact", "Job", "JobEvent", "JobLog", "JournalPosition", "QueueCount"]
