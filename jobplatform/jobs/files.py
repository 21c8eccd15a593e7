"""Files jobs make (a contacts export), kept in the instance folder until the job is pruned."""

from __future__ import annotations

from pathlib import Path

FILE_FOLDERS = ("exports",)


def job_file(instance: Path, result: object) -> Path | None:
    """The stored file a job's result names (`{"file": "exports/<id>.csv"}`), if it names one
    inside one of the instance's file folders."""
    name = result.get("file") if isinstance(result, dict) else None
    if not isinstance(name, str):
        return None
    path = (instance / name).resolve()
    if not any((instance / folder).resolve() in path.parents for folder in FILE_FOLDERS):
        return None
    return path
