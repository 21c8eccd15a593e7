"""The command line as users run it: `jobplatform up`, `celery ... inspect`, beat."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

import httpx
import psutil
import pytest
import sqlalchemy as sa

from jobplatform.database import begin_write
from jobplatform.embedded import free_port
from jobplatform.extensions import db
from jobplatform.jobs import counts
from jobplatform.jobs.journal import EntryKind, entry
from jobplatform.jobs.models import Job, JobEvent
from jobplatform.jobs.store import apply_entries
from jobplatform.queues import QUEUE_NAMES
from jobplatform.tasks.maintenance import prune_jobs
from tests.support import ROOT, ManagedProcess, wait_for

# Run again on another database or broker: see tests/conftest.py.
pytestmark = pytest.mark.broker


def celery_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "celery", "-A", "jobplatform", *args],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=60,
                          check=False)


def test_inspect_lists_the_four_queues_of_a_worker(worker, subprocess_env):
    out = celery_cli("inspect", "active_queues", "--json", "-d", worker.node_name,
                     env=subprocess_env)
    assert out.returncode == 0, out.stderr
    queues = json.loads(out.stdout.strip().splitlines()[-1])[worker.node_name]
    assert sorted(q["name"] for q in queues) == sorted(QUEUE_NAMES)


def test_beat_publishes_tracked_system_jobs(store, worker, subprocess_env, tmp_path):
    started = datetime.now(UTC)
    beat = ManagedProcess(
        "beat",
        [sys.executable, "-m", "celery", "-A", "jobplatform", "beat", "-l", "info",
         "-s", str(tmp_path / "schedule")],
        env={**subprocess_env, "JOBPLATFORM_PRUNE_INTERVAL": "1"},
        log_path=tmp_path / "beat.log",
    )
    beat.start()
    try:
        def pruned_by_beat():
            rows = store.query(sa.select(Job.id).where(
                Job.type == "prune_jobs", Job.created_at >= started, Job.status == "complete"))
            return rows[0][0] if rows else None

        job_id = wait_for(pruned_by_beat, timeout=30, message="a prune job from beat",
                          process=beat)
    finally:
        beat.stop()
    job = store.job(job_id)
    assert job.user_id is None
    assert job.queue == "general"
    assert store.events(job_id)[0][2] == "beat"


def old_ended_job(user_id: int, days_ago: int) -> str:
    import uuid

    job_id = str(uuid.uuid4())
    at = (datetime.now(UTC) - timedelta(days=days_ago)).timestamp()
    apply_entries(begin_write(db.session), [
        entry(job_id, EntryKind.PENDING, at=at, task="jobplatform.general.test_noop",
              type="test_noop", queue="general", user_id=user_id, actor="client"),
        entry(job_id, EntryKind.COMPLETE, at=at + 1, actor="worker:w"),
    ])
    db.session.commit()
    return job_id


def test_prune_deletes_only_jobs_past_retention_and_keeps_counts(store, user_id, worker):
    # Jobs past retention that other tests left are pruned first: what the run below deletes
    # is this test's.
    store.wait_status(prune_jobs.delay(retention_days=30).id, "complete", process=worker)
    old, recent = old_ended_job(user_id, days_ago=40), old_ended_job(user_id, days_ago=2)

    result = prune_jobs.delay(retention_days=30)
    job = store.wait_status(result.id, "complete", process=worker)

    assert job.result["deleted"] == 1
    assert store.job(old) is None
    assert store.job(recent) is not None
    assert store.query(sa.select(JobEvent.id).where(JobEvent.job_id == old)) == []
    scoped = counts.read_counts(db.session, [counts.user_scope(user_id)])
    assert scoped["general"]["complete"] == 1


def test_up_runs_the_platform_on_an_embedded_redis_and_stops_it_all(tmp_path):
    """README's run command on a machine with no broker or database configured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBPLATFORM_")}
    env["JOBPLATFORM_INSTANCE_PATH"] = str(tmp_path / "instance")
    port = free_port()
    up = subprocess.Popen(
        [sys.executable, "-m", "jobplatform", "up", "--port", str(port), "-c", "1"],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    printed: list[str] = []
    reader = threading.Thread(target=lambda: printed.extend(
        iter(lambda: up.stdout.readline().decode(errors="replace"), "")), daemon=True)
    reader.start()
    try:
        def healthy():
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).is_success
            except httpx.TransportError:
                return False

        wait_for(healthy, timeout=60, message="the web app of `jobplatform up`")
        descendants = psutil.Process(up.pid).children(recursive=True)

        # The first start of an instance makes an operator and prints the token once.
        def banner_token():
            match = re.search(r"operator token (jp_\S+)", "".join(printed))
            return match.group(1) if match else None

        token = wait_for(banner_token, timeout=30, message="the operator token in up's banner")
        assert f"dashboard  http://127.0.0.1:{port}/dashboard" in "".join(printed)
        me = httpx.get(f"http://127.0.0.1:{port}/api/v2/me", timeout=5,
                       headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200
        assert me.json()["is_admin"] is True
        page = httpx.get(f"http://127.0.0.1:{port}/dashboard", timeout=5)
        assert page.status_code == 200
        assert "Background Tasks" in page.text
        advert = json.loads((tmp_path / "instance" / "embedded-redis.json").read_text())
        assert advert["url"].startswith("redis://127.0.0.1:")
        assert not advert["url"].startswith("redis://127.0.0.1:6379/")

        # A worker that dies (the OOM killer, say) is started again; the platform runs on.
        general = next(p for p in psutil.Process(up.pid).children()
                       if "worker" in p.cmdline() and "general" in " ".join(p.cmdline()))
        general.kill()
        wait_for(lambda: "general exited (code -9); starting it again" in "".join(printed),
                 timeout=30, message="up to start the killed worker again")

        # Another shell in the same instance finds the embedded broker by itself.
        call = celery_cli("call", "jobplatform.general.contacts_export",
                          "--kwargs", '{"user_id": 1}', env=env)
        assert call.returncode == 0, call.stderr
        job_id = call.stdout.strip().splitlines()[-1]
        engine = sa.create_engine(f"sqlite:///{tmp_path}/instance/jobplatform.db")
        try:
            def complete():
                with engine.connect() as conn:
                    return conn.execute(sa.text("SELECT status FROM jobs WHERE id = :id"),
                                        {"id": job_id}).scalar() == "complete"

            wait_for(complete, timeout=30, message="the job to complete under `up`")
        finally:
            engine.dispose()
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(timeout=90)
        reader.join(timeout=10)
        up.stdout.close()
    output = "".join(printed)
    assert up.returncode == 0, output[-3000:]
    def left_running() -> list[int]:
        return [p.pid for p in descendants if p.is_running() and p.status() != "zombie"]

    wait_for(lambda: not left_running(), timeout=5, message="every child of `up` to be gone")
    assert not (tmp_path / "instance" / "embedded-redis.json").exists()
