"""Tasks of the `general` queue that users start: CSV export (and import) of contacts."""

from __future__ import annotations

import csv
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from ..celery_app import celery
from ..extensions import db
from ..jobs.task import JobTask, Outcome
from ..sync.models import Contact

EXPORT_COLUMNS = ("source", "external_id", "name", "email", "phone", "stage", "tags", "updated_at")


def export_path(job_id: str) -> Path:
    """Where a contacts export job writes its file (inside the instance folder)."""
    return Path(current_app.instance_path) / "exports" / f"{job_id}.csv"


@celery.task(bind=True, name="jobplatform.general.contacts_export")
def contacts_export(self: JobTask, user_id: int) -> Outcome:
    """Write all of a user's contacts to a CSV file."""
    where = Contact.user_id == user_id
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
            writer.writerow([
                contact.source, contact.external_id, contact.name, contact.email, contact.phone,
                contact.stage, ";".join(contact.tags or []),
                contact.updated_at.isoformat() if contact.updated_at else "",
            ])
            rows += 1
            self.progress(rows, total, unit="contacts")
    partial.replace(path)
    self.log(f"wrote {rows} rows to {path.name}")
    return Outcome({"rows": rows, "file": f"exports/{path.name}"}, f"Exported {rows:,} contacts")
