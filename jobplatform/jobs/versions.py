"""Scope versions: a number per counter scope (`all`, `user:<id>`, `system`) that every write
to a job of that scope moves, in the same transaction. The API builds its ETags from them, so
a dashboard asking again about a scope where nothing changed gets a 304 after reading one row
per scope, not a page of jobs."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from .models import ScopeVersion


def touch(connection: sa.Connection, scopes: Iterable[str]) -> None:
    """Move the version of each scope (in the caller's transaction), in a fixed order so that
    writers never deadlock on each other's rows."""
    from .rows import row_writer

    row_writer(connection.dialect.name).touch_versions(connection, sorted(set(scopes)))


def read_versions(session: Session, scopes: Iterable[str]) -> str:
    """The versions of `scopes` as one token, e.g. "all:1204,system:88"."""
    wanted = sorted(set(scopes))
    found = dict(session.execute(
        sa.select(ScopeVersion.scope, ScopeVersion.version)
        .where(ScopeVersion.scope.in_(wanted))
    ).all())
    return ",".join(f"{scope}:{found.get(scope, 0)}" for scope in wanted)
