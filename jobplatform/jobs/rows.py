"""Driver-level reads and writes of job rows for the applier's hot path.

The applier writes every transition of every job, so its statements skip SQLAlchemy's
per-parameter machinery: values are converted once, by the functions here, into what the
DBAPI driver stores for the column types in models.py (the same stored form SQLAlchemy uses),
and each statement is one `executemany`. Columns and tables still come from the models.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa

from .models import Job, JobEvent, JobLog, UTCDateTime

JSON_COLUMNS = frozenset({"result", "params"})
TIME_COLUMNS = frozenset(
    {"created_at", "started_at", "finished_at", "heartbeat_at", "due_at", "at", "recorded_at"}
)
# What the lifecycle rules decide on (lifecycle.fold); the rest of a row is only written.
DECISION_COLUMNS = (
    "id", "type", "queue", "task", "user_id", "status", "retries", "cancel_requested",
    "started_at", "finished_at",
)
JOB_COLUMNS = tuple(c.name for c in Job.__table__.columns)
EVENT_COLUMNS = ("job_id", "at", "from_status", "to_status", "actor", "reason", "recorded_at")
LOG_COLUMNS = ("job_id", "at", "level", "message")


def _pg_array_type(column: sa.Column) -> str:
    """The PostgreSQL array type that carries a column's values (JSON travels as text)."""
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return "boolean[]"
    if isinstance(kind, sa.Integer):
        return "bigint[]"
    if isinstance(kind, sa.Float):
        return "double precision[]"
    if isinstance(kind, sa.DateTime | UTCDateTime):
        return "timestamp[]"
    return "text[]"


def _json_text(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


class RowWriter:
    """Statements and value conversion for one database dialect."""

    def __init__(self, dialect_name: str) -> None:
        self.postgres = dialect_name == "postgresql"
        self._converter_cache: dict[tuple[str, ...], tuple[tuple[str, Any], ...]] = {}

    # -- SQL ---------------------------------------------------------------------------

    def param(self, name: str) -> str:
        """The driver's placeholder for the named parameter `name`."""
        if self.postgres:
            cast = "::jsonb" if name in JSON_COLUMNS else ""
            return f"%({name})s{cast}"
        return f":{name}"

    def insert_sql(self, table: str, columns: Sequence[str]) -> str:
        values = ", ".join(self.param(c) for c in columns)
        return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values})"

    def update_sql(self, columns: Sequence[str]) -> str:
        sets = ", ".join(f"{c} = {self.param(c)}" for c in columns)
        return f"UPDATE jobs SET {sets} WHERE id = {self.param('id')}"

    def select_sql(self, count: int) -> str:
        marks = ", ".join(self.param(f"id{i}") for i in range(count))
        return f"SELECT {', '.join(DECISION_COLUMNS)} FROM jobs WHERE id IN ({marks}) ORDER BY id"

    def steer_planner(self, connection: sa.Connection) -> None:
        """Keep this transaction's statements on the primary key (PostgreSQL).

        Every statement here finds jobs by id. While the jobs table is young and not yet
        analyzed, the planner costs a sequential scan as cheap and, once the statement is
        prepared, keeps that plan as the table grows: measured, that more than doubled the
        server's work per job. `SET LOCAL` ends with the transaction."""
        if self.postgres:
            connection.exec_driver_sql("SET LOCAL enable_seqscan = off")

    @staticmethod
    def pg_select_sql() -> str:
        # A join from the ids: `id IN (...)` of a batch's ids was planned as a sequential scan
        # of the whole table (see steer_planner).
        columns = ", ".join(f"jobs.{c}" for c in DECISION_COLUMNS)
        return (f"SELECT {columns} FROM unnest(%(ids)s::text[]) AS k(id) "
                "JOIN jobs ON jobs.id = k.id ORDER BY jobs.id FOR UPDATE OF jobs")

    # -- values ------------------------------------------------------------------------

    def _time(self, value: datetime) -> Any:
        if value.tzinfo is not UTC:
            value = value.astimezone(UTC)
        if self.postgres:
            return value.replace(tzinfo=None)
        return value.isoformat(" ", "microseconds")[:26]  # without "+00:00": naive, as stored

    def _converters(self, columns: tuple[str, ...]) -> tuple[tuple[str, Any], ...]:
        """(column, convert) for the columns whose values need converting for the driver."""
        found = self._converter_cache.get(columns)
        if found is None:
            pairs = []
            for column in columns:
                if column in TIME_COLUMNS:
                    pairs.append((column, self._time))
                elif column in JSON_COLUMNS:
                    pairs.append((column, _json_text))
                elif column == "cancel_requested" and not self.postgres:
                    pairs.append((column, int))
            found = self._converter_cache[columns] = tuple(pairs)
        return found

    def params(self, columns: tuple[str, ...], values: dict[str, Any]) -> dict[str, Any]:
        """The driver's parameters for `columns` of `values`."""
        out = {c: values[c] for c in columns}
        for column, convert in self._converters(columns):
            value = out[column]
            if value is not None:
                out[column] = convert(value)
        return out

    def from_db(self, column: str, value: Any) -> Any:
        if value is None:
            return None
        if column in TIME_COLUMNS:
            moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
            return moment.replace(tzinfo=UTC)
        if column == "cancel_requested":
            return bool(value)
        return value

    # -- statements --------------------------------------------------------------------

    def load(self, connection: sa.Connection, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The decision columns of the jobs in `ids` that exist, locked for update."""
        if self.postgres:
            found = connection.exec_driver_sql(self.pg_select_sql(), {"ids": list(ids)}).all()
        else:
            found = []
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                found += connection.exec_driver_sql(
                    self.select_sql(len(chunk)), {f"id{i}": v for i, v in enumerate(chunk)}
                ).all()
        rows: dict[str, dict[str, Any]] = {}
        for row in found:
            job = {c: self.from_db(c, v) for c, v in zip(DECISION_COLUMNS, row, strict=True)}
            rows[job["id"]] = job
        return rows

    def insert_jobs(self, connection: sa.Connection, jobs: list[dict[str, Any]]) -> None:
        self._insert(connection, Job.__table__, JOB_COLUMNS, jobs)

    def update_jobs(self, connection: sa.Connection,
                    changes: list[tuple[tuple[str, ...], dict[str, Any]]]) -> None:
        """`changes`: (changed columns, job) pairs; one statement per set of columns."""
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for columns, job in changes:
            groups.setdefault(columns, []).append(job)
        for columns, jobs in groups.items():
            if self.postgres:
                connection.exec_driver_sql(self._pg_update_sql(columns),
                                           self._arrays(("id", *columns), jobs))
            else:
                connection.exec_driver_sql(self.update_sql(columns),
                                           [self.params(("id", *columns), job) for job in jobs])

    def insert_events(self, connection: sa.Connection, events: list[dict[str, Any]]) -> None:
        self._insert(connection, JobEvent.__table__, EVENT_COLUMNS, events)

    def insert_logs(self, connection: sa.Connection, logs: list[dict[str, Any]]) -> None:
        self._insert(connection, JobLog.__table__, LOG_COLUMNS, logs)

    def _insert(self, connection: sa.Connection, table: sa.Table, columns: tuple[str, ...],
                rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        if self.postgres:
            # One statement whose parameters are column arrays: PostgreSQL plans and runs it once
            # per batch, where an executemany is a statement execution per row.
            connection.exec_driver_sql(self._pg_insert_sql(table, columns),
                                       self._arrays(columns, rows))
        else:
            connection.exec_driver_sql(self.insert_sql(table.name, columns),
                                       [self.params(columns, row) for row in rows])

    def _arrays(self, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> dict[str, list]:
        converted = [self.params(columns, row) for row in rows]
        return {c: [row[c] for row in converted] for c in columns}

    @staticmethod
    def _pg_unnest(table: sa.Table, columns: tuple[str, ...]) -> str:
        arrays = ", ".join(f"%({c})s::{_pg_array_type(table.c[c])}" for c in columns)
        return f"unnest({arrays}) AS v({', '.join(columns)})"

    @staticmethod
    def _pg_value(column: str) -> str:
        return f"v.{column}::jsonb" if column in JSON_COLUMNS else f"v.{column}"

    def _pg_insert_sql(self, table: sa.Table, columns: tuple[str, ...]) -> str:
        values = ", ".join(self._pg_value(c) for c in columns)
        return (f"INSERT INTO {table.name} ({', '.join(columns)}) "
                f"SELECT {values} FROM {self._pg_unnest(table, columns)}")

    def _pg_update_sql(self, columns: tuple[str, ...]) -> str:
        sets = ", ".join(f"{c} = {self._pg_value(c)}" for c in columns)
        return (f"UPDATE jobs SET {sets} FROM {self._pg_unnest(Job.__table__, ('id', *columns))} "
                "WHERE jobs.id = v.id")

    def move_counts(self, connection: sa.Connection, rows: list[dict[str, Any]]) -> None:
        """Add each row's `delta` to its (scope, queue, status) counter, creating it if new."""
        if rows:
            keys = ", ".join(self.param(c) for c in ("scope", "queue", "status", "delta"))
            connection.exec_driver_sql(
                f"INSERT INTO queue_counts (scope, queue, status, count) VALUES ({keys}) "
                "ON CONFLICT (scope, queue, status) "
                "DO UPDATE SET count = queue_counts.count + excluded.count",
                rows,
            )

    def move_durations(self, connection: sa.Connection, rows: list[dict[str, Any]]) -> None:
        """Add each row's `delta` jobs and `ms` milliseconds to its (queue, bucket)."""
        if rows:
            keys = ", ".join(self.param(c) for c in ("queue", "bucket", "delta", "ms"))
            connection.exec_driver_sql(
                f"INSERT INTO job_durations (queue, bucket, count, total_ms) VALUES ({keys}) "
                "ON CONFLICT (queue, bucket) DO UPDATE SET "
                "count = job_durations.count + excluded.count, "
                "total_ms = job_durations.total_ms + excluded.total_ms",
                rows,
            )

    def move_minutes(self, connection: sa.Connection, rows: list[dict[str, Any]]) -> None:
        """Add each row's complete / error / cancelled to its (scope, queue, minute)."""
        if rows:
            keys = ", ".join(self.param(c) for c in
                             ("scope", "queue", "minute", "complete", "error", "cancelled"))
            connection.exec_driver_sql(
                "INSERT INTO queue_minutes (scope, queue, minute, complete, error, cancelled) "
                f"VALUES ({keys}) ON CONFLICT (scope, queue, minute) DO UPDATE SET "
                "complete = queue_minutes.complete + excluded.complete, "
                "error = queue_minutes.error + excluded.error, "
                "cancelled = queue_minutes.cancelled + excluded.cancelled",
                rows,
            )

    def touch_versions(self, connection: sa.Connection, scopes: Sequence[str]) -> None:
        """Move the version of each scope by one, creating it if new."""
        if scopes:
            connection.exec_driver_sql(
                f"INSERT INTO scope_versions (scope, version) VALUES ({self.param('scope')}, 1) "
                "ON CONFLICT (scope) DO UPDATE SET version = scope_versions.version + 1",
                [{"scope": scope} for scope in scopes],
            )

    def load_position(self, connection: sa.Connection, name: str) -> tuple[str, int]:
        """The journal's last applied entry id and the applier term that applied it, locked
        for the rest of the transaction (created at the start of the journal if absent)."""
        lock = " FOR UPDATE" if self.postgres else ""
        row = connection.exec_driver_sql(
            f"SELECT last_entry_id, term FROM journal_position WHERE name = {self.param('name')}"
            f"{lock}", {"name": name},
        ).first()
        if row is None:
            connection.exec_driver_sql(
                "INSERT INTO journal_position (name, last_entry_id, term) "
                f"VALUES ({self.param('name')}, '0-0', 0)", {"name": name},
            )
            return "0-0", 0
        return row[0], int(row[1])

    def save_position(self, connection: sa.Connection, name: str, last: str, term: int) -> None:
        connection.exec_driver_sql(
            f"UPDATE journal_position SET last_entry_id = {self.param('last')}, "
            f"term = {self.param('term')} WHERE name = {self.param('name')}",
            {"last": last, "term": term, "name": name},
        )


@functools.cache
def row_writer(dialect_name: str) -> RowWriter:
    """The writer for a dialect, made once per process (it caches its converters)."""
    return RowWriter(dialect_name)
