"""The job types users may start through the API."""

from __future__ import annotations

from celery import Celery

from .task import JobTask


def startable_jobs(app: Celery) -> dict[str, JobTask]:
    """Each startable job type and its task: tasks that declare `api_params`."""
    return {
        task.type_name: task
        for task in app.tasks.values()
        if isinstance(task, JobTask) and task.api_params is not None
    }
