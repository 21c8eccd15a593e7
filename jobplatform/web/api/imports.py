"""Uploading a CSV of contacts: checked, stored, and imported by a `contacts_import` job."""

from __future__ import annotations

from pathlib import Path

from flask import current_app, jsonify, request

from ...extensions import db
from ...jobs.enqueue import EnqueueFailed, enqueue
from ...jobs.ids import new_job_id
from ...jobs.models import Job
from ...sync import csv_contacts
from ...tasks.general import contacts_import
from ..auth import current_user
from ..errors import ApiError, BadRequest, Unavailable
from ..schemas import NoQuery
from ..serialize import job_json
from . import api
from .requests import parse_query

CSV_TYPES = {"text/csv", "application/csv", "text/plain", "application/vnd.ms-excel",
             "application/octet-stream", ""}


@api.post("/imports/files")
def upload_contacts():
    """Take a multipart upload (field `file`) and start importing it."""
    parse_query(NoQuery)
    if not request.mimetype.startswith("multipart/form-data"):
        raise ApiError("Upload the CSV as multipart/form-data with a 'file' field.",
                       status=415, code="unsupported_media_type")
    upload = request.files.get("file")
    if upload is None:
        raise BadRequest("No file: send the CSV in a form field named 'file'.",
                         details=[{"field": "file", "problem": "missing"}])
    filename = Path(upload.filename or "upload.csv").name[:200]
    if (upload.mimetype or "") not in CSV_TYPES and not filename.lower().endswith(".csv"):
        raise BadRequest(f"{filename!r} is not a CSV file ({upload.mimetype}).",
                         details=[{"field": "file", "problem": "not CSV"}])
    limit = current_app.config["JOBPLATFORM_IMPORT_MAX_BYTES"]
    data = upload.stream.read(limit + 1)
    if len(data) > limit:
        raise ApiError(f"The file is larger than the {limit // 1_000_000} MB limit.",
                       status=413, code="payload_too_large",
                       details=[{"field": "file", "problem": f"over {limit} bytes"}])
    try:
        text = csv_contacts.read_text(data)
        csv_contacts.header_columns(text)
    except csv_contacts.NotACsv as exc:
        raise BadRequest(f"{filename!r} cannot be imported: {exc}.",
                         details=[{"field": "file", "problem": str(exc)}]) from None

    # Stored before the job exists, so no worker can start a job without its file.
    job_id = new_job_id()
    relative = f"imports/{job_id}.csv"
    path = Path(current_app.instance_path) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    user = current_user()
    try:
        enqueue(db.session, contacts_import.name, user_id=user.id, actor=f"user:{user.id}",
                params={"file": relative, "filename": filename}, job_id=job_id)
    except EnqueueFailed as exc:
        raise Unavailable(f"The import was recorded but could not be queued: {exc}") from None
    return jsonify(job_json(db.session.get(Job, job_id))), 202
