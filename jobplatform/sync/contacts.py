"""Upserting a user's contacts by provider id: running the same import twice changes nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from .models import Contact

# What a contact's change is judged by; `raw` is kept but not compared (it carries noise).
COMPARED = ("name", "email", "phone", "stage", "tags", "provider_updated_at")
CHUNK = 500


@dataclass(frozen=True)
class ContactRecord:
    external_id: str
    name: str | None
    email: str | None
    phone: str | None
    stage: str | None
    tags: list[str] = field(default_factory=list)
    provider_updated_at: datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass
class UpsertCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def add(self, other: UpsertCounts) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged


def upsert_contacts(session: Session, user_id: int, source: str,
                    records: Sequence[ContactRecord]) -> UpsertCounts:
    """Create new contacts and update changed ones, within the caller's transaction (which,
    reading before it writes, should start with `jobs.store.begin_write`)."""
    counts = UpsertCounts()
    now = datetime.now(UTC)
    for start in range(0, len(records), CHUNK):
        chunk = {r.external_id: r for r in records[start:start + CHUNK]}
        existing = {
            row.external_id: row
            for row in session.execute(
                sa.select(Contact.id, Contact.external_id, *(getattr(Contact, c) for c in COMPARED))
                .where(Contact.user_id == user_id, Contact.source == source,
                       Contact.external_id.in_(list(chunk)))
            )
        }
        inserts, updates = [], []
        for external_id, record in chunk.items():
            values = {c: getattr(record, c) for c in COMPARED}
            row = existing.get(external_id)
            if row is None:
                inserts.append({**values, "user_id": user_id, "source": source,
                                "external_id": external_id, "raw": record.raw,
                                "created_at": now, "updated_at": now})
            elif any(getattr(row, c) != v for c, v in values.items()):
                updates.append({**values, "id": row.id, "raw": record.raw, "updated_at": now})
            else:
                counts.unchanged += 1
        if inserts:
            session.execute(sa.insert(Contact), inserts)
        if updates:
            session.execute(sa.update(Contact), updates)
        counts.created += len(inserts)
        counts.updated += len(updates)
    return counts
