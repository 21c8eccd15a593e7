"""The SQL database: engine settings per dialect, migrations, and the `db` CLI group."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session, scoped_session

from . import models  # noqa: F401  (registers every table with the metadata)
from .extensions import db, migrate

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# On SQLite, a transaction begun with these options takes the write lock at BEGIN.
WRITE_OPTIONS = {"sqlite_write_lock": True}


def engine_options(url: str, *, lock_wait: float) -> dict[str, Any]:
    """`lock_wait`: how long a writer waits for SQLite's write lock before "database is
    locked" (settings `sqlite_lock_wait`, `sqlite_web_lock_wait`)."""
    if url.startswith("sqlite"):
        # Workers, the applier and the web app each hold their own connection to one file.
        return {"connect_args": {"timeout": lock_wait, "check_same_thread": False}}
    return {"pool_pre_ping": True, "pool_size": 5, "max_overflow": 10}


def _configure_sqlite(engine: sa.Engine) -> None:
    """WAL so readers never wait for the writer; explicit BEGINs so a writer can lock first."""

    @sa.event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let the "begin" hook below issue BEGIN
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def on_begin(connection: sa.Connection) -> None:
        immediate = connection.get_execution_options().get("sqlite_write_lock")
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def writable(connection: sa.Connection, wait_seconds: float) -> None:
    """Raise OperationalError unless a write could begin within `wait_seconds`. On SQLite
    readers never wait (WAL), so only trying to write shows a writer holding the lock."""
    if connection.dialect.name != "sqlite":
        connection.exec_driver_sql("SELECT 1")
        return
    driver = connection.connection.driver_connection  # PRAGMAs outside any transaction
    waited = driver.execute("PRAGMA busy_timeout").fetchone()[0]
    driver.execute(f"PRAGMA busy_timeout={int(wait_seconds * 1000)}")
    try:
        with connection.execution_options(**WRITE_OPTIONS).begin():
            pass  # BEGIN IMMEDIATE took the lock; nothing written
    finally:
        driver.execute(f"PRAGMA busy_timeout={int(waited)}")


def begin_write(session: Session | scoped_session) -> sa.Connection:
    """Start the session's transaction as a writer and return its connection: on SQLite, the
    write lock is taken up front (BEGIN IMMEDIATE) so the read-then-write in `apply_entries`
    cannot race another writer. PostgreSQL needs nothing; `apply_entries` locks its rows.

    A transaction the session has open for reading is ended first, so the write starts with
    its lock; one with unsaved changes is a mistake in the caller.
    """
    current = session() if isinstance(session, scoped_session) else session
    if current.in_transaction():
        if current.new or current.dirty or current.deleted:
            raise RuntimeError("begin_write: the session has unsaved changes; commit them first")
        current.rollback()
    return current.connection(execution_options=WRITE_OPTIONS)


def init_app(app: Flask, *, lock_wait: float) -> None:
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", engine_options(url, lock_wait=lock_wait))
    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR), compare_type=True)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            _configure_sqlite(db.engine)


def upgrade(app: Flask) -> None:
    """Apply every migration (what `jobplatform db upgrade` does)."""
    from flask_migrate import upgrade as alembic_upgrade

    with app.app_context():
        alembic_upgrade(directory=str(MIGRATIONS_DIR))
