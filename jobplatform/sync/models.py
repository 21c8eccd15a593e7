"""Synced data, per user and kept by provider id: contacts, deals, transactions; and each
user's connections to the providers."""

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


class Deal(db.Model):
    """A deal from a user's Follow Up Boss."""

    __tablename__ = "deals"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.Integer, index=True)
    source: Mapped[str] = mapped_column(sa.String(16))
    external_id: Mapped[str] = mapped_column(sa.String(64))
    name: Mapped[str | None] = mapped_column(sa.String(300))
    status: Mapped[str | None] = mapped_column(sa.String(32))
    price: Mapped[float | None] = mapped_column(sa.Float)
    pipeline_id: Mapped[str | None] = mapped_column(sa.String(64))
    stage_id: Mapped[str | None] = mapped_column(sa.String(64))
    projected_close_date: Mapped[str | None] = mapped_column(sa.String(32))
    provider_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    raw: Mapped[Any] = mapped_column(JSONValue, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.UniqueConstraint("user_id", "source", "external_id", name="uq_deals_user_source_id"),
    )


class Transaction(db.Model):
    """A transaction from a user's reZEN account, in its lifecycle group."""

    __tablename__ = "transactions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.Integer, index=True)
    external_id: Mapped[str] = mapped_column(sa.String(64))
    code: Mapped[str | None] = mapped_column(sa.String(64))
    group: Mapped[str] = mapped_column(sa.String(16))
    lifecycle_state: Mapped[str | None] = mapped_column(sa.String(64))
    transaction_type: Mapped[str | None] = mapped_column(sa.String(64))
    address: Mapped[str | None] = mapped_column(sa.String(500))
    price: Mapped[float | None] = mapped_column(sa.Float)
    currency: Mapped[str | None] = mapped_column(sa.String(8))
    gross_commission: Mapped[float | None] = mapped_column(sa.Float)
    closing_date_estimated: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    provider_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    raw: Mapped[Any] = mapped_column(JSONValue, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.UniqueConstraint("user_id", "external_id", name="uq_transactions_user_id"),
    )


class Integration(db.Model):
    """A user's connection to a provider: the key (encrypted), the sync cursor, the outcome."""

    __tablename__ = "integrations"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.Integer)
    provider: Mapped[str] = mapped_column(sa.String(16))
    api_key_encrypted: Mapped[str] = mapped_column(sa.Text)
    key_fingerprint: Mapped[str] = mapped_column(sa.String(16))
    account_id: Mapped[str | None] = mapped_column(sa.String(64))
    enabled: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    sync_cursor: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checkpoint: Mapped[Any] = mapped_column(JSONValue, nullable=True)
    onboarded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.UniqueConstraint("user_id", "provider", name="uq_integrations_user_provider"),
    )
