"""Upserting a user's synced records by provider id: running the same import twice changes
nothing, and every run says how many rows it created, updated and left alone."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

CHUNK = 500
RecordTest = Callable[[Mapping[str, Any]], bool]


@dataclass
class UpsertCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def add(self, other: UpsertCounts) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged

    @property
    def changed(self) -> int:
        return self.created + self.updated

    def as_dict(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}


def upsert(session: Session, model: type, key: Mapping[str, Any],
           records: Sequence[Mapping[str, Any]], compared: Sequence[str], *,
           update_only: RecordTest | None = None) -> UpsertCounts:
    """Create the records of `model` not yet stored under `key` (e.g. user and source) and
    update those whose `compared` columns changed, by `external_id`, in the caller's
    transaction (which, reading before it writes, should start with `database.begin_write`).
    A record's other columns (`raw`, say) are written but not compared. A record for which
    `update_only` is true (one the provider has deleted, say) updates a stored row but is
    never created; it is not counted when there is no row."""
    counts = UpsertCounts()
    now = datetime.now(UTC)
    scope = [getattr(model, column) == value for column, value in key.items()]
    for start in range(0, len(records), CHUNK):
        chunk = {r["external_id"]: r for r in records[start:start + CHUNK]}
        existing = {
            row.external_id: row
            for row in session.execute(
                sa.select(model.id, model.external_id, *(getattr(model, c) for c in compared))
                .where(*scope, model.external_id.in_(list(chunk)))
            )
        }
        inserts, updates = [], []
        for external_id, record in chunk.items():
            row = existing.get(external_id)
            if row is None:
                if update_only is not None and update_only(record):
                    continue
                inserts.append({**key, **record, "created_at": now, "updated_at": now})
            elif any(getattr(row, c) != record.get(c) for c in compared):
                updates.append({**record, "id": row.id, "updated_at": now})
            else:
                counts.unchanged += 1
        if inserts:
            session.execute(sa.insert(model.__table__), inserts)  # Core: no ORM bookkeeping
        if updates:
            session.execute(sa.update(model), updates)
        counts.created += len(inserts)
        counts.updated += len(updates)
    return counts
