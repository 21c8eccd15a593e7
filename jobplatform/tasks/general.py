"""Tasks of the `general` queue that users start: CSV import and export of contacts."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Literal

import sqlalchemy as sa
from flask import current_app
from pydantic import BaseModel, ConfigDict, Field

from ..celery_app import celery
from ..database import begin_write
from ..extensions import db
from ..jobs.task import JobTask, Outcome
from ..sync import csv_contacts
from ..sync.contacts import upsert_contacts
from ..sync.models import Contact
from ..sync.upsert import UpsertCounts

IMPORT_REJECTS_SHOWN = 1000


class ContactsExportParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: Literal["fub", "csv"] | None = Field(
        None, description="Only contacts from this source; all when absent."
    )


EXPORT_COLUMNS = ("source", "external_id", "name", "email", "phone", "stage", "tags", "updated_at")


def export_path(job_id: str) -> Path:
    """Where a contacts export job writes its file (inside the instance folder)."""
    return Path(current_app.instance_path) / "exports" / f"{job_id}.csv"


def import_path(relative: str) -> Path:
    """A stored upload, from its path relative to the instance folder (as the API records it)."""
    base = (Path(current_app.instance_path) / "imports").resolve()
    path = (Path(current_app.instance_path) / relative).resolve()
    if base not in path.parents:
        raise ValueError(f"{relative!r} is not an uploaded import file")
    return path


@celery.task(bind=True, name="jobplatform.general.contacts_import")
def contacts_import(self: JobTask, user_id: int, file: str, filename: str) -> Outcome:
    """Import an uploaded CSV of contacts; rows that are wrong are reported by line number."""
    self.progress(10, 100, unit="%", message=f"stored {filename}")
    text = csv_contacts.read_text(import_path(file).read_bytes())
    csv_contacts.header_columns(text)
    rows = csv_contacts.count_rows(text)
    self.progress(20, 100, unit="%", message=f"validated: {rows:,} rows")

    parsed = csv_contacts.parse_file(text)
    self.progress(40, 100, unit="%", message=f"parsed {rows:,} rows, "
                                             f"{len(parsed.rejected):,} rejected")
    counts = UpsertCounts()
    step = 500
    for start in range(0, len(parsed.contacts), step):
        begin_write(db.session)
        counts.add(upsert_contacts(db.session, user_id, "csv",
                                   parsed.contacts[start:start + step]))
        db.session.commit()
        done = min(start + step, len(parsed.contacts))
        self.progress(40 + 30 * done // max(1, len(parsed.contacts)), 100, unit="%",
                      message=f"upserted {done:,} of {len(parsed.contacts):,} contacts")

    stages = Counter(c.stage for c in parsed.contacts if c.stage)
    tags = Counter(tag for c in parsed.contacts for tag in c.tags)
    self.progress(90, 100, unit="%", message="indexed stages and tags")
    imported = len(parsed.contacts)
    result = {
        "rows": rows, "imported": imported, "created": counts.created,
        "updated": counts.updated, "unchanged": counts.unchanged,
        "rejected_count": len(parsed.rejected),
        "rejected": parsed.rejected[:IMPORT_REJECTS_SHOWN],
        "stages": dict(stages.most_common(50)), "tags": dict(tags.most_common(50)),
    }
    self.progress(100, 100, unit="%", message="done")
    rejected = f" ({len(parsed.rejected):,} rows rejected)" if parsed.rejected else ""
    return Outcome(result, f"Imported {imported:,} contacts{rejected}")


@celery.task(bind=True, name="jobplatform.general.contacts_export",
             api_params=ContactsExportParams)
def contacts_export(self: JobTask, user_id: int, source: str | None = None) -> Outcome:
    """Write all of a user's contacts (of one source, if given) to a CSV file."""
    where = Contact.user_id == user_id
    if source is not None:
        where = sa.and_(where, Contact.source == source)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(Contact).where(where)) or 0
    self.progress(0, total, unit="contacts", message="Exporting contacts")
    path = export_path(self.request.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    partial = path.with_suffix(".partial")
    with partial.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(EXPORT_COLUMNS)
        contacts = db.session.scalars(
            sa.select(Contact).where(where).order_by(Contact.id).execution_options(yield_per=500)
        )
        for contact in contacts:
            # Provider data is anyone's text: no cell may run as a formula when opened.
            writer.writerow([csv_contacts.neutralise_formula(value or "") for value in (
                contact.source, contact.external_id, contact.name, contact.email, contact.phone,
                contact.stage, ";".join(contact.tags or []),
                contact.updated_at.isoformat() if contact.updated_at else "",
            )])
            rows += 1
            self.progress(rows, total, unit="contacts")
    partial.replace(path)
    self.log(f"wrote {rows} rows to {path.name}")
    return Outcome({"rows": rows, "file": f"exports/{path.name}"}, f"Exported {rows:,} contacts")
