"""Reading jobs for the API and dashboard: filtered pages newest first, one job's history."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from .models import Job, JobEvent, JobLog
from .search import contains, search_page
from .status import ACTIVE

ACTIVE_WINDOW = timedelta(hours=1)
RECENTLY_FINISHED = timedelta(minutes=5)
ACTIVE_LIMIT = 500
LOG_LIMIT = 1000

PageKey = tuple[datetime, str]  # (created_at, id) of the last job on a page


@dataclass(frozen=True)
class JobFilter:
    """Which jobs a listing covers. `user_id=None` means every user's (admins)."""

    user_id: int | None = None
    include_system: bool = False
    queue: str | None = None
    type: str | None = None
    status: str | None = None
    q: str | None = None
    since: datetime | None = None

    def conditions(self, *, text: bool = True) -> list[sa.ColumnElement[bool]]:
        """The WHERE terms of this filter; `text=False` leaves out `q` (search.py's part)."""
        where: list[sa.ColumnElement[bool]] = []
        if self.user_id is not None:
            where.append(Job.user_id == self.user_id)
        elif not self.include_system:
            where.append(Job.user_id.is_not(None))
        for column, value in ((Job.queue, self.queue), (Job.type, self.type),
                              (Job.status, self.status)):
            if value is not None:
                where.append(column == value)
        if self.since is not None:
            where.append(Job.created_at >= self.since)
        if self.q and text:
            where.append(contains(self.q))
        return where


class BadCursor(ValueError):
    """A cursor this API did not issue."""


def encode_cursor(key: PageKey) -> str:
    created, job_id = key
    raw = f"{created.astimezone(UTC).isoformat()}|{job_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> PageKey:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, job_id = raw.split("|")
        moment = datetime.fromisoformat(created)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise BadCursor(cursor) from exc
    if moment.tzinfo is None or not 0 < len(job_id) <= 36:
        raise BadCursor(cursor)
    return moment, job_id


def list_jobs(session: Session, where: JobFilter, *, limit: int,
              after: PageKey | None = None) -> tuple[list[Job], PageKey | None]:
    """A page of jobs newest first, and the key of the next page (None on the last).

    Keyset paging on (created_at, id): a page stays the same however many jobs arrive
    meanwhile, and a deep page costs what the first does. A text (`q`) is searched through
    its index (search.py).
    """
    if where.q:
        return search_page(session, where, limit=limit, after=after)
    stmt = sa.select(Job).where(*where.conditions())
    if after is not None:
        stmt = stmt.where(sa.tuple_(Job.created_at, Job.id) < sa.tuple_(*after))
    stmt = stmt.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit + 1)
    jobs = list(session.scalars(stmt))
    if len(jobs) <= limit:
        return jobs, None
    last = jobs[limit - 1]
    return jobs[:limit], (last.created_at, last.id)


def active_jobs(session: Session, where: JobFilter, now: datetime | None = None) -> list[Job]:
    """Jobs of the last hour that are pending or processing, or finished in the last minutes."""
    now = now or datetime.now(UTC)
    stmt = (
        sa.select(Job)
        .where(*where.conditions(), Job.created_at >= now - ACTIVE_WINDOW)
        .where(sa.or_(Job.status.in_([s.value for s in ACTIVE]),
                      Job.finished_at >= now - RECENTLY_FINISHED))
        .order_by(Job.created_at.desc(), Job.id.desc())
        .limit(ACTIVE_LIMIT)
    )
    return list(session.scalars(stmt))


def retries_of(session: Session, job_id: str) -> list[str]:
    """The ids of the jobs that retried this one, oldest first."""
    return list(session.scalars(
        sa.select(Job.id).where(Job.retry_of == job_id).order_by(Job.created_at, Job.id)
    ))


def job_history(session: Session, job_id: str) -> tuple[list[JobEvent], list[JobLog]]:
    events = session.scalars(
        sa.select(JobEvent).where(JobEvent.job_id == job_id).order_by(JobEvent.id)
    )
    logs = session.scalars(
        sa.select(JobLog).where(JobLog.job_id == job_id).order_by(JobLog.id).limit(LOG_LIMIT)
    )
    return list(events), list(logs)
