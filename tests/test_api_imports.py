"""Uploading a CSV of contacts: good, mixed and bad files."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

from jobplatform.extensions import db
from jobplatform.sync.models import Contact

# Run again on another database or broker: see tests/conftest.py.
pytestmark = [pytest.mark.database, pytest.mark.broker]


def upload(client, user, data: bytes, filename: str = "contacts.csv",
           content_type: str = "text/csv"):
    return client.post("/api/v2/imports/files", headers=user.headers,
                       data={"file": (io.BytesIO(data), filename, content_type)},
                       content_type="multipart/form-data")


def contacts_of(user_id: int) -> dict[str, Contact]:
    db.session.rollback()
    rows = db.session.scalars(sa.select(Contact).where(Contact.user_id == user_id))
    return {row.email or row.name: row for row in rows}


def test_a_good_file_is_imported_through_its_steps(client, make_user, store, worker):
    user = make_user()
    data = (b"Name,Email,Phone,Stage,Tags\n"
            b"Ana Lima,ana@example.com,+1 555 0100,Lead,buyer;vip\n"
            b"Ben Ode,BEN@example.com,,Active Client,seller\n"
            b"Cy Park,cy@example.com,555-0102,Lead,\n")

    response = upload(client, user, data)

    assert response.status_code == 202
    job = response.json
    assert (job["type"], job["queue"]) == ("contacts_import", "general")
    # Read back after the publish: a quick worker may have started it already.
    assert job["status"] in ("pending", "processing")
    done = store.wait_status(job["id"], "complete", process=worker)
    assert done.summary == "Imported 3 contacts"
    assert done.result["created"] == 3
    assert done.result["rejected"] == []
    assert done.result["stages"] == {"Lead": 2, "Active Client": 1}
    assert (done.progress_current, done.progress_total, done.message) == (100, 100, "done")
    contacts = contacts_of(user.id)
    assert set(contacts) == {"ana@example.com", "ben@example.com", "cy@example.com"}
    assert contacts["ana@example.com"].tags == ["buyer", "vip"]
    steps = [line for line in store.logs(job["id"])]
    assert steps == []  # progress, not log lines, carries the steps

    again = upload(client, user, data)  # the same file again changes nothing
    redone = store.wait_status(again.json["id"], "complete", process=worker)
    assert (redone.result["created"], redone.result["updated"],
            redone.result["unchanged"]) == (0, 0, 3)


def test_progress_moves_through_the_real_steps(client, make_user, store, worker):
    user = make_user()
    # Big enough to take several of the applier's batches (0.1 s each), whose progress a
    # short import's could share so that only its 100 is ever seen; small enough (410 KB) to
    # be uploaded from memory.
    rows = b"".join(b"Person %d,p%d@example.com\n" % (n, n) for n in range(15000))
    job_id = upload(client, user, b"name,email\n" + rows).json["id"]

    seen: list[int] = []

    def finished() -> bool:
        job = store.job(job_id)
        if job.progress_current is not None and job.progress_current not in seen[-1:]:
            seen.append(job.progress_current)
        return job.status == "complete"

    from tests.support import wait_for

    wait_for(finished, timeout=20, interval=0.01, message="the import", process=worker)
    assert seen == sorted(seen), seen  # progress never goes back
    assert seen[-1] == 100
    assert any(0 < value < 100 for value in seen), seen  # it was seen moving, not only done
    assert set(seen) <= {10, 20, 40, *range(40, 71), 90, 100}
    assert store.job(job_id).result["imported"] == 15000


def test_a_mixed_file_imports_the_good_rows_and_reports_the_bad_by_line(
    client, make_user, store, worker
):
    user = make_user()
    data = (b"first name,last name,email,phone\n"
            b"Ana,Lima,ana@example.com,555-0100\n"          # line 2: good
            b",,,\n"                                         # line 3: nothing to go on
            b"Ben,Ode,not-an-email,\n"                       # line 4: bad email
            b"Cy,Park,cy@example.com,call me maybe\n"        # line 5: bad phone
            b"Dee,Ray,dee@example.com,,extra\n"              # line 6: too many values
            b"Ana,Again,ANA@example.com,\n"                  # line 7: duplicate of line 2
            b"Eve,Stone,eve@example.com,\n")                 # line 8: good

    job_id = upload(client, user, data).json["id"]
    done = store.wait_status(job_id, "complete", process=worker)

    assert done.result["imported"] == 2
    assert done.result["rejected"] == [
        {"line": 3, "error": "the row has neither a name nor an email"},
        {"line": 4, "error": "'not-an-email' is not an email address"},
        {"line": 5, "error": "'call me maybe' is not a phone number"},
        {"line": 6, "error": "the row has more values than the header has columns"},
        {"line": 7, "error": "duplicate of line 2"},
    ]
    assert done.summary == "Imported 2 contacts (5 rows rejected)"
    assert set(contacts_of(user.id)) == {"ana@example.com", "eve@example.com"}


def test_formulas_broken_quotes_and_a_bom_get_clear_row_errors(client, make_user, store, worker):
    user = make_user()
    data = ("\ufeffname,email,phone,tags\n"                 # a BOM, as Excel writes
            "Ana Lima,ana@example.com,+1 555 0100,buyer\n"   # line 2: good, + in a phone
            "=cmd|' /C calc'!A0,cmd@example.com,,\n"         # line 3: a formula
            "Ben,+ben@example.com,,\n"                       # line 4
            "Cy,cy@example.com,,-2+3\n"                      # line 5
            "@SUM(A1),sum@example.com,,\n"                   # line 6
            'Dee,"dee@example.com\n'                         # line 7: a quote left open,
            'dee2@example.com",,\n'                          # ... closed on line 8
            "\n"                                              # line 9: blank, skipped
            'Eve "E" Stone,eve@example.com,,\n'              # line 10: a stray quote: fine
            '"Fay"x,fay@example.com,,\n'                     # line 11: text after a quote
            "Gus,gus@example.com,,\n").encode()               # line 12: good
    job_id = upload(client, user, data).json["id"]
    done = store.wait_status(job_id, "complete", process=worker)

    formula = "starts with {!r}, which a spreadsheet runs as a formula"
    errors = {row["line"]: row["error"] for row in done.result["rejected"]}
    assert sorted(errors) == [3, 4, 5, 6, 7, 11], errors
    assert errors[3].startswith("name " + formula.format("="))
    assert errors[4].startswith("email " + formula.format("+"))
    assert errors[5].startswith("tags " + formula.format("-"))
    assert errors[6].startswith("name " + formula.format("@"))
    assert errors[7].startswith("a quoted value runs over lines 7 to 8")
    assert errors[11] == "unreadable CSV: ',' expected after '\"'"
    assert set(contacts_of(user.id)) == {"ana@example.com", "eve@example.com",
                                         "gus@example.com"}
    assert contacts_of(user.id)["ana@example.com"].name == "Ana Lima"  # no BOM in the header


def test_a_quote_never_closed_is_reported_at_its_line(client, make_user, store, worker):
    user = make_user()
    data = b'name,email\nAna,ana@example.com\n"Ben,ben@example.com\nCy,cy@example.com\n'
    done = store.wait_status(upload(client, user, data).json["id"], "complete",
                             process=worker)
    assert done.result["rejected"] == [{"line": 3, "error": (
        "a quote (\") opened on line 3 is never closed: the rest of the file is inside it")}]
    assert set(contacts_of(user.id)) == {"ana@example.com"}


def test_a_value_too_large_to_read_is_one_row_error(client, make_user, store, worker):
    user = make_user()
    data = (b"name,email\nAna,ana@example.com\n" + b"x" * 200_000 + b",big@example.com\n"
            b"Cy,cy@example.com\n")
    done = store.wait_status(upload(client, user, data).json["id"], "complete",
                             process=worker)
    assert done.result["rejected"] == [
        {"line": 3, "error": "unreadable CSV: field larger than field limit (131072)"}]
    assert set(contacts_of(user.id)) == {"ana@example.com", "cy@example.com"}


@pytest.mark.parametrize(("data", "filename", "content_type", "status", "problem"), [
    (b"", "empty.csv", "text/csv", 400, "empty"),
    (b"   \n\n", "blank.csv", "text/csv", 400, "empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "photo.png", "image/png", 400, "not CSV"),
    (b"\x00\x01binary\x00", "data.csv", "text/csv", 400, "binary"),
    (b"\xff\xfe\xfa bad", "latin.csv", "text/csv", 400, "UTF-8"),
    (b"foo,bar\n1,2\n", "other.csv", "text/csv", 400, "no recognisable columns"),
])
def test_a_file_that_cannot_be_imported_is_refused_before_any_job(
    client, make_user, data, filename, content_type, status, problem
):
    user = make_user()
    response = upload(client, user, data, filename, content_type)
    assert response.status_code == status
    assert problem in response.json["error"]["details"][0]["problem"]
    assert client.get("/api/v2/jobs", headers=user.headers).json["jobs"] == []


def test_an_oversized_file_is_refused_with_413(app, client, make_user):
    user = make_user()
    app.config["JOBPLATFORM_IMPORT_MAX_BYTES"] = 1000
    response = upload(client, user, b"name,email\n" + b"x,x@example.com\n" * 200)
    assert response.status_code == 413
    assert response.json["error"]["code"] == "payload_too_large"
    assert client.get("/api/v2/jobs", headers=user.headers).json["jobs"] == []


def test_an_upload_without_a_file_or_not_multipart_is_refused(client, make_user):
    user = make_user()
    no_file = client.post("/api/v2/imports/files", headers=user.headers, data={"x": "1"},
                          content_type="multipart/form-data")
    assert no_file.status_code == 400
    assert no_file.json["error"]["details"][0]["field"] == "file"
    as_json = client.post("/api/v2/imports/files", headers=user.headers, json={"file": "x"})
    assert as_json.status_code == 415
