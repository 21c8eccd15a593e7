"""The contacts export job, end to end: rows in, a CSV file out, progress and summary."""

from __future__ import annotations

import csv
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from jobplatform.database import begin_write
from jobplatform.extensions import db
from jobplatform.sync.models import Contact
from jobplatform.tasks.general import contacts_export

# Run again on another database or broker: see tests/conftest.py.
pytestmark = [pytest.mark.database, pytest.mark.broker]


def test_export_writes_every_contact_of_the_user_and_only_theirs(store, user_id, worker):
    now = datetime.now(UTC)
    begin_write(db.session)  # see make_user in conftest.py
    for n in range(3):
        db.session.add(Contact(user_id=user_id, source="fub", external_id=str(n),
                               name=f"Person {n}", email=f"p{n}@example.com", tags=["buyer"],
                               created_at=now, updated_at=now))
    db.session.add(Contact(user_id=user_id + 1, source="fub", external_id="x", name="Other",
                           created_at=now, updated_at=now))
    db.session.commit()

    result = contacts_export.delay(user_id=user_id)
    job = store.wait_status(result.id, "complete", process=worker)

    assert job.summary == "Exported 3 contacts"
    assert (job.progress_current, job.progress_total, job.progress_unit) == (3, 3, "contacts")
    path = Path(os.environ["JOBPLATFORM_INSTANCE_PATH"]) / job.result["file"]
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [row["name"] for row in rows] == ["Person 0", "Person 1", "Person 2"]
    assert rows[0]["email"] == "p0@example.com"
    assert rows[0]["tags"] == "buyer"
    assert job.result["rows"] == 3


def test_exported_cells_never_run_as_formulas(store, user_id, worker):
    # Provider data is anyone's text: a name a FUB user typed as a formula must reach a
    # spreadsheet as text (OWASP's CSV injection: a leading quote).
    now = datetime.now(UTC)
    hostile = ["=cmd|' /C calc'!A0", "+SUM(1,2)", "-2+3", "@SUM(A1)", "\t=1", "Plain Name"]
    begin_write(db.session)
    for n, name in enumerate(hostile):
        db.session.add(Contact(user_id=user_id, source="fub", external_id=f"f{n}", name=name,
                               phone="+1 555 0100", tags=["=HYPERLINK(x)"],
                               created_at=now, updated_at=now))
    db.session.commit()

    job = store.wait_status(contacts_export.delay(user_id=user_id).id, "complete",
                            process=worker)
    path = Path(os.environ["JOBPLATFORM_INSTANCE_PATH"]) / job.result["file"]
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [row["name"] for row in rows] == [
        "'=cmd|' /C calc'!A0", "'+SUM(1,2)", "'-2+3", "'@SUM(A1)", "'\t=1", "Plain Name"]
    assert {row["tags"] for row in rows} == {"'=HYPERLINK(x)"}
    assert {row["phone"] for row in rows} == {"'+1 555 0100"}
