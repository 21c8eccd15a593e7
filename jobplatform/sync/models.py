"""Synced data: one user's contacts (people), kept by provider id."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..jobs.models import JSONValue, UTCDateTime


class Contact(db.Model):
    """A person in one user's book, from FUB or a CSV import."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.Integer, index=True)
    source: Mapped[str] = mapped_column(sa.String(16))
    external_id: Mapped[str] = mapped_column(sa.String(64))
    name: Mapped[str | None] = mapped_column(sa.String(300))
    email: Mapped[str | None] = mapped_column(sa.String(320))
    phone: Mapped[str | None] = mapped_column(sa.String(64))
    stage: Mapped[str | None] = mapped_column(sa.String(100))
    tags: Mapped[Any] = mapped_column(JSONValue, nullable=True)
    provider_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    raw: Mapped[Any] = mapped_column(JSONValue, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.UniqueConstraint("user_id", "source", "external_id", name="uq_contacts_user_source_id"),
    )
