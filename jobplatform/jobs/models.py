"""The job store's tables: jobs, their event history and log, and the per-queue counters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .status import JobStatus


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every database, SQLite included."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; jobplatform stores only UTC-aware times")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


JSONValue = sa.JSON(none_as_null=True).with_variant(
    postgresql.JSONB(none_as_null=True), "postgresql"
)
STATUS_CHECK = "status IN ({})".format(", ".join(f"'{s.value}'" for s in JobStatus))


class Job(db.Model):
    """One background job; its id is also the Celery task id."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    type: Mapped[str] = mapped_column(sa.String(64))
    queue: Mapped[str] = mapped_column(sa.String(32))
    task: Mapped[str] = mapped_column(sa.String(200))
    user_id: Mapped[int | None] = mapped_column(sa.Integer)
    status: Mapped[str] = mapped_column(sa.String(16))
    progress_current: Mapped[int | None] = mapped_column(sa.BigInteger)
    progress_total: Mapped[int | None] = mapped_column(sa.BigInteger)
    progress_unit: Mapped[str | None] = mapped_column(sa.String(32))
    #: Units per second over the job's recent progress, as its worker measured it.
    progress_rate: Mapped[float | None] = mapped_column(sa.Float)
    message: Mapped[str | None] = mapped_column(sa.String(500))
    summary: Mapped[str | None] = mapped_column(sa.String(500))
    result: Mapped[Any] = mapped_column(JSONValue, nullable=True)
    error_type: Mapped[str | None] = mapped_column(sa.String(200))
    error_message: Mapped[str | None] = mapped_column(sa.Text)
    traceback: Mapped[str | None] = mapped_column(sa.Text)
    retries: Mapped[int] = mapped_column(sa.Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    params: Mapped[Any] = mapped_column(JSONValue, nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(200))
    retry_of: Mapped[str | None] = mapped_column(sa.String(36))
    worker: Mapped[str | None] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: When a job published with an ETA or countdown (a retry's back-off) may start. Only
    #: its message carried it: kept here so a copy published again keeps it too.
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # Every list view pages newest first on (created_at, id), optionally narrowed by one of
    # these columns: an index per filter keeps each page a short index range scan.
    __table_args__ = (
        sa.CheckConstraint(STATUS_CHECK, name="ck_jobs_status"),
        sa.Index("ix_jobs_created", "created_at", "id"),
        sa.Index("ix_jobs_user_created", "user_id", "created_at", "id"),
        sa.Index("ix_jobs_status_created", "status", "created_at", "id"),
        sa.Index("ix_jobs_queue_created", "queue", "created_at", "id"),
        sa.Index("ix_jobs_type_created", "type", "created_at", "id"),
        sa.Index("uq_jobs_user_idempotency_key", "user_id", "idempotency_key", unique=True),
        # Finds the retries of a job (few jobs have one, so only those are indexed).
        sa.Index("ix_jobs_retry_of", "retry_of", postgresql_where=sa.text("retry_of IS NOT NULL"),
                 sqlite_where=sa.text("retry_of IS NOT NULL")),
    )


class JobEvent(db.Model):
    """One transition in a job's history: when, from and to which status, who, and why."""

    __tablename__ = "job_events"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    job_id: Mapped[str] = mapped_column(sa.ForeignKey("jobs.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    from_status: Mapped[str | None] = mapped_column(sa.String(16))
    to_status: Mapped[str] = mapped_column(sa.String(16))
    actor: Mapped[str] = mapped_column(sa.String(200))
    reason: Mapped[str | None] = mapped_column(sa.Text)
    # When the store recorded it: `recorded_at - at` is how far tracking lags behind the work.
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (sa.Index("ix_job_events_job", "job_id", "id"),)


class JobLog(db.Model):
    """A line a task logged while it ran."""

    __tablename__ = "job_logs"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    job_id: Mapped[str] = mapped_column(sa.ForeignKey("jobs.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    level: Mapped[str] = mapped_column(sa.String(10))
    message: Mapped[str] = mapped_column(sa.Text)

    __table_args__ = (sa.Index("ix_job_logs_job", "job_id", "id"),)


class QueueCount(db.Model):
    """How many jobs of one scope are in one queue and status, kept by every transition.

    Scopes: ``all`` (every user's jobs), ``user:<id>`` (one user's) and ``system``
    (maintenance jobs with no user), so counts never need a scan of ``jobs``.
    """

    __tablename__ = "queue_counts"

    scope: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    queue: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    status: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    count: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class JournalPosition(db.Model):
    """How far the journal has been applied, and by which applier term (see jobs/applier.py)."""

    __tablename__ = "journal_position"

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    last_entry_id: Mapped[str] = mapped_column(sa.String(64), default="0-0")
    term: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class JobDuration(db.Model):
    """How many jobs of a queue ended with a duration in one histogram bucket (for /metrics);
    kept by the applier with the rows, like the counters."""

    __tablename__ = "job_durations"

    queue: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    bucket: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    count: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    total_ms: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class QueueMinute(db.Model):
    """How many jobs of one scope and queue ended in each status during one minute, kept by
    every transition that ends a job (for the dashboard's charts; see jobs/minutes.py)."""

    __tablename__ = "queue_minutes"

    scope: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    queue: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    #: Whole minutes since the epoch (UTC).
    minute: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    complete: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    error: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    cancelled: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class ScopeVersion(db.Model):
    """A number that moves whenever any job of a scope changes, in the same transaction: the
    API's ETags, so an unchanged view answers 304 without querying jobs (jobs/versions.py)."""

    __tablename__ = "scope_versions"

    scope: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    version: Mapped[int] = mapped_column(sa.BigInteger, default=0)
