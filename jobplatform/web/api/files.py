"""The file a job made (a contacts export), for download, scoped like the job."""

from __future__ import annotations

from pathlib import Path

from flask import current_app, send_file

from ...jobs.files import job_file
from ..errors import NotFound
from ..schemas import NoQuery
from . import api
from .requests import parse_query, visible_job


@api.get("/jobs/<job_id>/file")
def download_job_file(job_id: str):
    parse_query(NoQuery)
    job = visible_job(job_id)
    path = job_file(Path(current_app.instance_path), job.result)
    if path is None:
        raise NotFound(f"Job {job.id} made no file" + (
            "" if job.status == "complete" else f" (it is {job.status})") + ".")
    if not path.is_file():
        raise NotFound(f"The file job {job.id} made is gone: files are deleted with their job "
                       "when it is pruned. Run the export again for a new one.")
    download = f"{job.type}-{job.created_at:%Y%m%d-%H%M%S}-{job.id[-6:]}{path.suffix}"
    return send_file(path, mimetype="text/csv" if path.suffix == ".csv" else None,
                     as_attachment=True, download_name=download, max_age=0)
