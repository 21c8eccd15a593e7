"""Helpers the tests share: waiting, reading jobs back, running subprocesses."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import Flask

from jobplatform.extensions import db
from jobplatform.jobs.models import Job, JobEvent, JobLog

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")


@dataclass(frozen=True)
class ApiUser:
    id: int
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class ManagedProcess:
    """A real platform process (worker, applier, beat ...) started and stopped by a test."""

    def __init__(self, name: str, argv: Sequence[str], *, env: dict[str, str], log_path: Path,
                 stop_timeout: float = 15) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = env
        self.log_path = log_path
        self.stop_timeout = stop_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.node_name: str | None = None
        self.base_url: str | None = None  # of a web server

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(self.argv, env=self.env, cwd=ROOT, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if not self.alive():
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout=self.stop_timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as when a machine dies."""
        if self.alive():
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


def job_ids(response) -> list[str]:
    """The ids of a jobs list response, newest first."""
    assert response.status_code == 200, response.json
    return [job["id"] for job in response.json["jobs"]]


def wait_for(check: Callable[[], T], *, timeout: float = 20, interval: float = 0.05,
             message: str = "condition", process: ManagedProcess | None = None) -> T:
    """Poll `check` until it returns something truthy; fail with what was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            tail = f"\n--- {process.name} log ---\n{process.log_tail()}" if process else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {message}{tail}")
        time.sleep(interval)


class Store:
    """Reads jobs back from the job store the way a user of the API would see them."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def _fresh(self) -> None:
        db.session.rollback()  # end any read transaction so the next read sees new commits

    def job(self, job_id: str) -> Job | None:
        self._fresh()
        return db.session.get(Job, job_id)

    def events(self, job_id: str) -> list[tuple[str | None, str, str, str | None]]:
        """(from, to, actor, reason) of each event, oldest first."""
        return [row[1:] for row in self.events_at(job_id)]

    def events_at(self, job_id: str) -> list[tuple[datetime, str | None, str, str,
                                                   str | None]]:
        """(at, from, to, actor, reason) of each event, oldest first."""
        self._fresh()
        return [tuple(row) for row in db.session.execute(
            sa.select(JobEvent.at, JobEvent.from_status, JobEvent.to_status, JobEvent.actor,
                      JobEvent.reason).where(JobEvent.job_id == job_id).order_by(JobEvent.id)
        )]

    def transitions(self, job_id: str) -> list[tuple[str | None, str]]:
        return [(frm, to) for frm, to, _, _ in self.events(job_id)]

    def logs(self, job_id: str) -> list[str]:
        self._fresh()
        return list(db.session.scalars(
            sa.select(JobLog.message).where(JobLog.job_id == job_id).order_by(JobLog.id)
        ))

    def wait_status(self, job_id: str, *statuses: str, timeout: float = 20,
                    process: ManagedProcess | None = None) -> Job:
        def reached() -> Job | None:
            job = self.job(job_id)
            return job if job is not None and job.status in statuses else None

        return wait_for(reached, timeout=timeout, process=process,
                        message=f"job {job_id} to be {' or '.join(statuses)}")

    def query(self, statement: Any) -> list[Any]:
        self._fresh()
        return list(db.session.execute(statement))


def seed_job(*, user_id: int | None, status: str = "complete", queue: str = "general",
             job_type: str = "contacts_export", at: float | None = None,
             summary: str | None = None, error: str | None = None,
             task: str | None = None) -> str:
    """A job written straight to the store through the lifecycle rules (no worker needed)."""
    import time
    import uuid

    from jobplatform.database import begin_write
    from jobplatform.jobs.journal import EntryKind, entry
    from jobplatform.jobs.store import apply_entries

    job_id = str(uuid.uuid4())
    at = time.time() if at is None else at
    task = task or f"jobplatform.general.{job_type}"
    items = [entry(job_id, EntryKind.PENDING, at=at, task=task,
                   type=job_type, queue=queue, user_id=user_id, params={}, actor="seed")]
    if status != "pending":
        items.append(entry(job_id, EntryKind.PROCESSING, at=at + 0.1, actor="seed", worker="w"))
    if status == "complete":
        items.append(entry(job_id, EntryKind.COMPLETE, at=at + 0.2, actor="seed",
                           summary=summary, result={"n": 1}))
    elif status == "error":
        items.append(entry(job_id, EntryKind.ERROR, at=at + 0.2, actor="seed",
                           error_type="RateLimitExceeded", error_message=error or "Rate limit",
                           traceback="Traceback: secret internals"))
    elif status == "cancelled":
        items.append(entry(job_id, EntryKind.CANCELLED, at=at + 0.2, actor="seed"))
    apply_entries(begin_write(db.session), items)
    db.session.commit()
    return job_id
