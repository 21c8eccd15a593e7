"""A job store that cannot answer, said in one line: not there yet (no SQLite file, or no
jobplatform tables), busy or unreachable. Commands check for the SQLite file before they
connect, since connecting creates it."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

WHAT_TO_DO = (
    "run 'jobplatform db upgrade', or start the platform from this folder "
    "('jobplatform up', or 'make run' for the demo)"
)
UNDEFINED_TABLE = "42P01"  # PostgreSQL's SQLSTATE for a relation that does not exist


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite database URL; None for another database or an in-memory one."""
    parsed = sa.make_url(url)
    name = parsed.database or ""
    if (
        parsed.get_backend_name() != "sqlite"
        or name in ("", ":memory:")
        or name.startswith("file:")
    ):
        return None
    return Path(name).absolute()


def where(url: str) -> str:
    """The database as a person would name it: a path from here, or the URL sans password."""
    path = sqlite_file(url)
    if path is None:
        return sa.make_url(url).render_as_string(hide_password=True)
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def missing_database(url: str) -> str | None:
    """The line for a SQLite database whose file does not exist, else None."""
    path = sqlite_file(url)
    if path is None or path.exists():
        return None
    return f"there is no database at {where(url)} yet: {WHAT_TO_DO}"


def no_tables(url: str) -> str:
    return f"the database at {where(url)} has no jobplatform tables yet: {WHAT_TO_DO}"


def is_missing_table(exc: sa.exc.DBAPIError) -> bool:
    """Whether the database refused a query for want of a table (not migrated)."""
    return "no such table" in str(exc.orig) or getattr(exc.orig, "sqlstate", None) == (
        UNDEFINED_TABLE
    )


def first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def describe(exc: sa.exc.OperationalError | sa.exc.ProgrammingError, url: str) -> str:
    """One line for a query the database at `url` refused."""
    if is_missing_table(exc):
        return no_tables(url)
    if isinstance(exc, sa.exc.ProgrammingError):
        return (
            f"the database refused a query ({first_line(exc)}); is "
            "it migrated? run 'jobplatform db upgrade'"
        )
    if "locked" in str(exc.orig):
        return f"the database is busy (another writer holds it): {first_line(exc)}"
    return f"the database is unreachable: {first_line(exc)}"
