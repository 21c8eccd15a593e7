"""The jobs list's free-text search (`q`): the newest jobs whose summary or error message
contains a text, any case, found through the trigram indexes of migration 0005 (pg_trgm GIN
indexes on PostgreSQL, the FTS5 table `jobs_search` on SQLite) instead of a scan.

A trigram index answers "which jobs contain this text", not "which of them are the newest".
For a text in most jobs, reading its matches from the index costs far more than walking the
jobs newest first until the page is full; for a rare text it is the other way round; no
planner estimate tells the two apart reliably. So a page is found in steps, each with a bound
on the rows it reads, each exact: `contains` decides every job listed, the indexes only choose
which jobs it looks at (their matches are a superset of its own).

1. The newest `RECENT` jobs of the filter, in order (always on PostgreSQL; on SQLite only when
   the filter narrows the jobs, which its index cannot): a text in a few percent of recent
   jobs ends here, and so does a scope this small, one user's jobs say.
2. Older than that, through the index:
   - PostgreSQL, whose index gives its matches in no useful order, choosing by step 1's hit
     rate: read on in order if that fills the page within `PG_READ_ON` jobs; else, if the
     rate says the text is in few jobs, all its matches (`PG_FETCH_CAP` at most), sorted;
     else windows of creation time going back, each sized to hold about three times what the
     page still needs, each the index's matches ANDed with the created_at index's range.
   - SQLite: FTS5's matches newest rowid first (rowids follow insertion, so nearly creation
     order) until the page is full, then one read of the created_at index's range for the
     jobs out of that order (created after the page's oldest job, inserted before the rows
     walked); if that range is long (a text in few jobs), all the matches instead, sorted.
3. If a step's bound is reached without an answer, the plain newest-first scan.

A text no trigram can narrow (under 3 characters, or on PostgreSQL no run of 3 letters or
digits) is scanned newest first over at most `SHORT_SCAN` jobs a request: its page may hold
fewer jobs than asked for and still have a next cursor, which goes on from the last job read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from .models import Job

if TYPE_CHECKING:
    from .queries import JobFilter

Key = tuple[datetime, str]  # (created_at, id): the order of every list, newest first

MIN_LENGTH = 3  # a trigram index knows nothing of shorter texts
SHORT_SCAN = 2000  # jobs a request reads for a text the index cannot narrow
RECENT = 500  # step 1's jobs
PG_READ_ON = 4000  # PostgreSQL: jobs read on in order when step 1's hit rate fills the page
PG_FETCH_ALL = 1500  # PostgreSQL: most matches expected for fetching them all, then sorting,
PG_FETCH_CAP = 2500  # and most fetched before giving up on that (~4 µs each, a heap visit)
PG_WINDOW_CAP = 1000  # a window with more matches than this is scanned in order instead
SQLITE_LATE_ROWS = 60_000  # SQLite: most rows the late read goes through (~0.2 µs each) ...
SQLITE_FETCH_ALL = 800  # ... unless there are no more matches than this, fetched (~10 µs each)
SQLITE_WALK_LIMIT = 1000  # SQLite: most matches read newest rowid first before giving up
SQLITE_WALK_SLACK = 16  # SQLite: matches read beyond the page at first (some fail the filter)

_ALNUM_RUN = re.compile(r"[^\W_]{3}")
# The table, not the entity, in subqueries: SQLAlchemy derives an ORM subquery's columns much
# more slowly (milliseconds a request, for a subquery of every column).
_jobs = Job.__table__
_fts = sa.table("jobs_search", sa.column("rowid", sa.Integer))
_rowid = sa.literal_column("jobs.rowid", sa.Integer)
# The unary + keeps SQLite from reading a range of the table by rowid for these terms: they
# are tested on the entries of the created_at index the query reads instead.
_rowid_unindexed = sa.literal_column("+jobs.rowid", sa.Integer)


def contains(text: str, columns: Any = _jobs.c) -> sa.ColumnElement[bool]:
    """The exact test: `text` in the job's summary or error message, any case, `%` and `_`
    taken literally. `columns`: those of the jobs table, or of a subquery of it."""
    return sa.or_(columns.summary.icontains(text, autoescape=True),
                  columns.error_message.icontains(text, autoescape=True))


def search_page(session: Session, where: JobFilter, *, limit: int,
                after: Key | None) -> tuple[list[Job], Key | None]:
    """A page of the jobs `where` matches (its `q` set), newest first, and the key the next
    page starts after (None on the last)."""
    text = where.q or ""
    filters = where.conditions(text=False)
    need = limit + 1
    dialect = session.connection().dialect.name
    if not _indexable(text, dialect):
        scan = _scan(session, dialect, filters, text, after, SHORT_SCAN, need)
        if len(scan.jobs) >= need or scan.boundary is None:
            return _paged(scan.jobs, limit)
        return scan.jobs, scan.boundary
    found: list[Job] = []
    scan = None
    if dialect == "postgresql" or _narrowed(where):
        scan = _scan(session, dialect, filters, text, after, RECENT, need)
        if len(scan.jobs) >= need or scan.boundary is None:
            return _paged(scan.jobs, limit)
        found, after = scan.jobs, scan.boundary
    rest = need - len(found)
    more: list[Job] | None = None
    if dialect == "postgresql" and scan is not None and after is not None:
        more = _postgres(session, filters, text, after, rest, scan)
    elif dialect == "sqlite":
        more = _sqlite(session, filters, text, after, rest)
    if more is None:
        more = _in_order(session, dialect, [*filters, *_older(after)], text, rest)
    return _paged(found + more, limit)


def _indexable(text: str, dialect: str) -> bool:
    if "\x00" in text or len(text) < MIN_LENGTH:
        return False
    if dialect == "postgresql":
        # pg_trgm takes trigrams from the words of a pattern only: letters and digits.
        return _ALNUM_RUN.search(text) is not None
    return dialect == "sqlite"


def _narrowed(where: JobFilter) -> bool:
    return where.user_id is not None or any(
        value is not None for value in (where.queue, where.type, where.status, where.since))


def _paged(jobs: list[Job], limit: int) -> tuple[list[Job], Key | None]:
    if len(jobs) <= limit:
        return jobs, None
    return jobs[:limit], _key(jobs[limit - 1])


def _key(job: Job) -> Key:
    return job.created_at, job.id


def _older(key: Key | None) -> list[sa.ColumnElement[bool]]:
    """Jobs listed after `key`. With the plain bound on created_at too: PostgreSQL cannot
    estimate how many rows a row comparison keeps (it guesses a third), which, where a range
    of the created_at index should be ANDed with a trigram index, makes it read every match."""
    if key is None:
        return []
    return [Job.created_at <= key[0], sa.tuple_(Job.created_at, Job.id) < sa.tuple_(*key)]


def _newer(key: Key) -> sa.ColumnElement[bool]:
    return sa.tuple_(Job.created_at, Job.id) > sa.tuple_(*key)


def _newest_first(stmt: sa.Select) -> sa.Select:
    return stmt.order_by(Job.created_at.desc(), Job.id.desc())


def _newest(session: Session, conditions: Sequence[sa.ColumnElement[bool]],
            count: int) -> list[Job]:
    """The newest `count` jobs meeting `conditions`, read in order (the plain scan)."""
    return list(session.scalars(_newest_first(sa.select(Job).where(*conditions)).limit(count)))


@dataclass(frozen=True)
class _Scan:
    jobs: list[Job]  # the matches among the jobs read, newest first
    boundary: Key | None  # the oldest job read, if older ones remain
    newest: datetime | None = None  # when the newest job read was created
    oldest: datetime | None = None  # when the oldest job of all was


def _scan(session: Session, dialect: str, filters: list[sa.ColumnElement[bool]], text: str,
          after: Key | None, rows: int, need: int) -> _Scan:
    """The matches among the newest `rows` jobs of the filter (at most `need` of them)."""
    listed = [*filters, *_older(after)]
    if dialect == "postgresql":
        return _pg_scan(session, listed, text, rows, need)
    # The oldest of the jobs to read first, so that the scan is a range of the index in its
    # order, which stops once `need` match (as a subquery with LIMIT, SQLite sorts it again).
    newest = _newest_first(sa.select(Job.created_at).where(*listed)).limit(1).scalar_subquery()
    edge = session.execute(
        _newest_first(sa.select(Job.created_at, Job.id, newest).where(*listed))
        .offset(rows - 1).limit(1)
    ).first()
    if edge is not None:
        listed.append(sa.tuple_(Job.created_at, Job.id) >= sa.tuple_(edge[0], edge[1]))
    jobs = _in_order(session, dialect, listed, text, need)
    if len(jobs) >= need or edge is None:
        return _Scan(jobs, None)
    return _Scan(jobs, (edge[0], edge[1]), edge[2])


def _pg_scan(session: Session, listed: list[sa.ColumnElement[bool]], text: str, rows: int,
             need: int) -> _Scan:
    """`_scan` in one statement: the matches, and the first and last job read (by their
    place in the read, which PostgreSQL numbers as it goes, in the index's order)."""
    place = sa.func.row_number().over(order_by=(Job.created_at.desc(), Job.id.desc()))
    recent = (_newest_first(sa.select(_jobs, place.label("place")).where(*listed))
              .limit(rows).subquery())
    hit = contains(text, recent.c)
    oldest = sa.select(sa.func.min(Job.created_at)).scalar_subquery()
    found = session.execute(
        sa.select(aliased(Job, recent), recent.c.place, hit, oldest)
        .where(sa.or_(hit, recent.c.place.in_((1, rows))))
        .order_by(recent.c.created_at.desc(), recent.c.id.desc()).limit(need + 2)
    ).all()
    jobs = [row[0] for row in found if row[2]][:need]
    last = found[-1] if found else None
    if len(jobs) >= need or last is None or last[1] != rows:
        return _Scan(jobs, None)
    return _Scan(jobs, _key(last[0]), found[0][0].created_at, last[3])


def _in_order(session: Session, dialect: str, listed: list[sa.ColumnElement[bool]], text: str,
              count: int) -> list[Job]:
    """The newest `count` jobs meeting `listed` that contain `text`, found by reading those jobs
    newest first. On PostgreSQL behind a subquery: given the text's condition, the planner may
    take its trigram index, which for a text in many jobs costs far more than this read (300
    ms to list the 900,000 jobs with "contacts", to keep the newest 50)."""
    if dialect != "postgresql":
        return _newest(session, [*listed, contains(text)], count)
    # OFFSET 0 keeps PostgreSQL from merging the subquery into the query around it.
    recent = _newest_first(sa.select(_jobs).where(*listed)).offset(0).subquery()
    return list(session.scalars(
        sa.select(aliased(Job, recent)).where(contains(text, recent.c))
        .order_by(recent.c.created_at.desc(), recent.c.id.desc()).limit(count)
    ))


# -- PostgreSQL ------------------------------------------------------------------------------


def _postgres(session: Session, filters: list[sa.ColumnElement[bool]], text: str,
              after: Key, rest: int, scan: _Scan) -> list[Job] | None:
    """The newest `rest` matches older than `after` (step 1's boundary), through pg_trgm;
    None where reading on in order is the quicker way."""
    hits = len(scan.jobs)
    if rest * RECENT <= PG_READ_ON * hits or scan.newest is None or scan.oldest is None:
        return None  # at step 1's hit rate, the page is full within PG_READ_ON more jobs
    match = contains(text)
    seen = max(scan.newest - after[0], timedelta(seconds=1))
    with _index_plans(session):
        # Step 1's hits over its time, carried over all of history.
        if hits * ((scan.newest - scan.oldest) / seen) <= PG_FETCH_ALL:
            every = _pg_matches(session, [*filters, *_older(after), match], rest, PG_FETCH_CAP)
            if every is not None:
                return every
        found: list[Job] = []
        upper, spent = after, seen  # the time read so far, by step 1 and the windows
        # Each window: three times what the page still needs at the rate of matches over the
        # time read so far (a rate from a few matches is rough), and at least twice the last.
        window = spent * (3 * rest / max(hits, 1))
        while True:
            needed = rest - len(found)
            bounded = upper[0] - scan.oldest > window
            bounds = [*filters, *_older(upper)]
            if bounded:
                lower = upper[0] - window
                bounds.append(Job.created_at >= lower)
            got = _pg_matches(session, [*bounds, match], needed, PG_WINDOW_CAP)
            if got is None:  # a window this full of matches is quicker read in order
                got = _in_order(session, "postgresql", bounds, text, needed)
            found += got
            if len(found) >= rest or not bounded:
                return found
            upper = (lower, "")  # created before `lower`: no id sorts below ""
            spent += window
            matched = hits + len(found)
            window = max(window * 2, spent * (3 * (rest - len(found)) / max(matched, 1)))


def _pg_matches(session: Session, conditions: list[sa.ColumnElement[bool]], count: int,
                cap: int) -> list[Job] | None:
    """The newest `count` jobs meeting `conditions`, found by reading all of them (through
    the trigram indexes) and sorting; None if more than `cap` meet them."""
    hits = (sa.select(Job.id, Job.created_at).where(*conditions).limit(cap + 1)
            .cte("hits").prefix_with("MATERIALIZED"))
    top = (sa.select(hits.c.id, hits.c.created_at)
           .order_by(hits.c.created_at.desc(), hits.c.id.desc()).limit(count).subquery())
    total = sa.select(sa.func.count()).select_from(hits).scalar_subquery()
    rows = session.execute(
        sa.select(Job, total).join(top, Job.id == top.c.id)
        .order_by(top.c.created_at.desc(), top.c.id.desc())
    ).all()
    if rows and rows[0][1] > cap:
        return None
    return [row[0] for row in rows]


@contextmanager
def _index_plans(session: Session) -> Iterator[None]:
    """For the statements in the block: no sequential scan (one that stops after `cap` rows
    looks cheap to the planner, and reads the whole table for a rare text), and a plan made
    for each statement's values (the generic plan a prepared statement gets after five runs is
    costed without the text and the window, so cannot tell a rare text from a common one).
    Both `SET LOCAL`, put back after the block; after an error, the transaction's rollback
    does that."""
    previous = session.execute(sa.text(
        "SELECT current_setting('enable_seqscan'), current_setting('plan_cache_mode'), "
        "set_config('enable_seqscan', 'off', true), "
        "set_config('plan_cache_mode', 'force_custom_plan', true)"
    )).one()
    yield
    session.execute(sa.text("SELECT set_config('enable_seqscan', :seqscan, true), "
                            "set_config('plan_cache_mode', :plans, true)"),
                    {"seqscan": previous[0], "plans": previous[1]})


# -- SQLite ----------------------------------------------------------------------------------


def _sqlite(session: Session, filters: list[sa.ColumnElement[bool]], text: str,
            after: Key | None, rest: int) -> list[Job] | None:
    """The newest `rest` matches older than `after`, through FTS5; None if the walk's bound is
    reached first."""
    match = sa.literal_column("jobs_search").op("MATCH")(sa.bindparam("query", _fts_query(text)))
    return _walk(session, match, [*filters, *_older(after), contains(text)], after, rest)


def _fts_query(text: str) -> str:
    """An FTS5 query for the jobs that may contain `text`: all of its words of 3 characters or
    more (a trigram spanning a space, such as "ed " or "s, ", is in a great many jobs, and
    would make FTS5 read its long list for every match), else the whole text. Each is an FTS5
    string, in which every character stands for itself."""
    words = [word for word in text.split() if len(word) >= MIN_LENGTH] or [text]
    return " AND ".join('"' + word.replace('"', '""') + '"' for word in words)


def _walk(session: Session, match: sa.ColumnElement[bool], exact: list[sa.ColumnElement[bool]],
          after: Key | None, rest: int) -> list[Job] | None:
    """FTS5's matches newest rowid first, from the rowid of the newest job older than `after`,
    until `rest` are found; then the jobs out of rowid order, which the walk cannot see."""
    start = None  # the walk's upper rowid bound (exclusive), on a page after the first
    if after is not None:
        newest = session.scalar(_newest_first(sa.select(_rowid).where(*_older(after))).limit(1))
        if newest is None:
            return []
        start = newest + 1
    found: list[tuple[Key, Job]] = []  # the matches walked
    upper = top = start  # every match with a rowid in [upper, start) is in `found`
    chunk = rest + SQLITE_WALK_SLACK
    read = 0
    while True:
        ask = sa.select(_fts.c.rowid).where(match)
        if upper is not None:
            ask = ask.where(_fts.c.rowid < upper)
        walked = ask.order_by(_fts.c.rowid.desc()).limit(chunk).subquery()
        highest = sa.select(sa.func.max(_rowid)).select_from(_jobs).scalar_subquery()
        rows = session.execute(
            sa.select(Job, walked.c.rowid, sa.and_(*exact), highest)
            .join(walked, _rowid == walked.c.rowid)
        ).all()
        read += len(rows)
        found += [(_key(row[0]), row[0]) for row in rows if row[2]]
        if rows:
            upper = min(row[1] for row in rows)
            top = rows[0][3] if top is None else top
        finished = len(rows) < chunk  # no match left below `upper`
        if finished or len(found) >= rest:
            break
        if read >= SQLITE_WALK_LIMIT:
            return None
        chunk *= 2
    found.sort(key=lambda pair: pair[0], reverse=True)
    if not finished and top - upper > SQLITE_LATE_ROWS:
        # The page's jobs are spread over many rows, all of which the late read below would
        # go through: if the text is in few jobs, fetching them all is quicker.
        capped = sa.select(sa.literal(1)).select_from(_fts).where(match)
        count = session.scalar(sa.select(sa.func.count()).select_from(
            capped.limit(SQLITE_FETCH_ALL + 1).subquery()))
        if count <= SQLITE_FETCH_ALL:
            return _newest(session, [_rowid.in_(sa.select(_fts.c.rowid).where(match)), *exact],
                           rest)
    if not finished or start is not None:
        # The jobs not walked (below `upper` unless the walk finished, at or above `start`)
        # that could still enter the page: one read of the created_at index's range.
        outside = []
        if not finished:
            outside.append(_rowid_unindexed < upper)
        if start is not None:
            outside.append(_rowid_unindexed >= start)
        late = [*exact, sa.or_(*outside)]
        if len(found) >= rest:
            late.append(_newer(found[rest - 1][0]))
        found += [(_key(job), job) for job in session.scalars(sa.select(Job).where(*late))]
        found.sort(key=lambda pair: pair[0], reverse=True)
    return [job for _, job in found[:rest]]
