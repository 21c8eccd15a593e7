"""`jobplatform demo` as a new user runs it: README's first command, on a machine with no
broker, database or provider configured; then, from a second shell in the same folder, the
operator commands README's demo section and the demo's banner suggest."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil

from jobplatform.cli.platform import WORKER_NAMES
from jobplatform.config import Settings
from jobplatform.embedded import free_port
from jobplatform.queues import QUEUE_NAMES, QUEUES
from jobplatform.running import RUNNING_FILE, advertise
from tests.support import wait_for

BIN = Path(sys.executable).parent
AVA = "ava.martin@demo.test"


def test_demo_fills_every_queue_answers_readmes_commands_and_ctrl_c_stops_all(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBPLATFORM_")}
    port, flower_port = free_port(), free_port()
    demo = subprocess.Popen(
        [sys.executable, "-m", "jobplatform", "demo", "--port", str(port),
         "--flower-port", str(flower_port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    printed: list[str] = []
    reader = threading.Thread(
        target=lambda: printed.extend(
            iter(lambda: demo.stdout.readline().decode(errors="replace"), "")
        ),
        daemon=True,
    )
    reader.start()
    descendants: list[psutil.Process] = []
    try:

        def banner_token():
            match = re.search(r"operator token (jp_\S+)", "".join(printed))
            assert demo.poll() is None, "the demo exited:\n" + "".join(printed)[-3000:]
            return match.group(1) if match else None

        token = wait_for(banner_token, timeout=90, message="the operator token in the banner")
        assert f"dashboard  http://127.0.0.1:{port}/dashboard" in "".join(printed)
        descendants = psutil.Process(demo.pid).children(recursive=True)
        # While the jobs flow: README's commands, from a second shell in this folder.
        readmes_commands_reach_the_demo(tmp_path, f"http://127.0.0.1:{port}/api/v2")
        # Reading made no database of its own beside the demo's.
        assert not (tmp_path / "instance" / "jobplatform.db").exists()
        api = httpx.Client(
            base_url=f"http://127.0.0.1:{port}/api/v2",
            timeout=10,
            headers={"Authorization": f"Bearer {token}"},
        )

        def every_queue_has_jobs():
            queues = api.get("/job-queue-status").json()["queues"]
            busy = {
                q["queue"]
                for q in queues
                if sum(q[s] for s in ("pending", "processing", "complete", "error"))
            }
            return busy if busy == set(QUEUE_NAMES) else None

        wait_for(every_queue_has_jobs, timeout=90, message="jobs in all four queues")

        # The demo's agents are real users with both providers connected.
        users = {u["email"]: u for u in api.get("/users").json()["users"]}
        agent = users["ava.martin@demo.test"]
        connected = api.get("/jobs", params={"user_id": agent["id"], "limit": 100}).json()
        assert {"fub_onboarding", "rezen_sync", "contacts_import", "contacts_export"} <= {
            job["type"] for job in connected["jobs"]
        }
        # Flower runs beside it, on the same broker, behind the sign-in the banner shows.
        login = re.search(r"\(user (\S+), password (\S+)\)", "".join(printed)).groups()

        def flower_queues():
            try:
                answer = httpx.get(f"http://127.0.0.1:{flower_port}/api/queues/length",
                                   auth=login, timeout=5)
            except httpx.TransportError:
                return None
            return {q["name"] for q in answer.json()["active_queues"]} if answer.is_success \
                else None

        assert set(QUEUE_NAMES) <= wait_for(flower_queues, timeout=60,
                                            message="Flower's broker view")
        # The demo's instance is its own folder, apart from `up`'s.
        assert (tmp_path / "instance" / "demo" / "jobplatform.db").exists()
        assert (tmp_path / "instance" / "demo" / "logs" / "fub-sim.log").exists()
        api.close()
    finally:
        demo.send_signal(signal.SIGINT)
        demo.wait(timeout=120)
        reader.join(timeout=10)
        demo.stdout.close()
    output = "".join(printed)
    assert demo.returncode == 0, output[-3000:]
    assert descendants, "the demo started no processes"
    left = [p for p in descendants if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert left == [], f"still running after Ctrl-C: {[p.cmdline()[:4] for p in left]}"
    assert not (tmp_path / "instance" / RUNNING_FILE).exists(), "the advert outlived the demo"


def new_shell(folder: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """A command of README's (`jobplatform ...`, `celery ...` from .venv/bin) as a new user's
    shell runs it: in `folder`, with no JOBPLATFORM_* variable set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBPLATFORM_")}
    return subprocess.run([str(BIN / argv[0]), *argv[1:]], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, f"{done.args[:4]} exited {done.returncode}:\n{done.stderr}"
    return done.stdout


def readmes_commands_reach_the_demo(folder: Path, api_url: str) -> None:
    """README's "The demo" and the demo's banner: from the demo's folder, every operator
    command finds the running demo (its instance/demo/ database and its embedded Redis)."""

    def every_worker_lists_its_queues() -> str | None:
        out = new_shell(folder, "celery", "-A", "jobplatform", "inspect", "active_queues")
        return out.stdout if all(f"{name}@" in out.stdout for name in WORKER_NAMES) else None

    # Found through the demo's advert, not redis://127.0.0.1:6379 (which nothing serves here).
    queues = wait_for(every_worker_lists_its_queues, timeout=60,
                      message="every demo worker to answer `inspect active_queues`")
    assert all(f"'name': '{name}'" in queues for name in QUEUE_NAMES), queues
    commands = {
        "status": ("jobplatform", "status"),
        "status --json": ("jobplatform", "status", "--json"),
        "errors": ("jobplatform", "jobs", "list", "--status", "error", "--json"),
        "jobs list": ("jobplatform", "jobs", "list", "--limit", "100", "--json"),
        "token": ("jobplatform", "users", "token", AVA),
        "inspect active": ("celery", "-A", "jobplatform", "inspect", "active"),
        "celery jobs": ("celery", "-A", "jobplatform", "jobs"),
    }
    with ThreadPoolExecutor(len(commands)) as pool:
        running = {name: pool.submit(new_shell, folder, *argv) for name, argv in commands.items()}
        done = {name: future.result() for name, future in running.items()}

    table = ok(done["status"])
    assert all(queue.label in table for queue in QUEUES), table
    status = json.loads(ok(done["status --json"]))
    assert [q["queue"] for q in status["queues"]] == list(QUEUE_NAMES)
    assert sum(status["totals"].values()) > 0, status
    assert status["recent_jobs"], status
    assert {j["status"] for j in json.loads(ok(done["errors"]))["jobs"]} <= {"error"}
    listed = {j["type"] for j in json.loads(ok(done["jobs list"]))["jobs"]}
    assert {"fub_onboarding", "contacts_import", "contacts_export"} <= listed, listed
    summary = ok(done["celery jobs"])
    assert all(queue.label in summary for queue in QUEUES), summary
    total = next(line for line in summary.splitlines() if line.startswith("total"))
    assert sum(int(n.replace(",", "")) for n in total.split()[1:]) > 0, summary
    assert "Recent failures" in summary
    assert all(f"{name}@" in ok(done["inspect active"]) for name in WORKER_NAMES)

    # Ava's token, from `users token`, shows Ava her own jobs only.
    token = ok(done["token"]).strip().splitlines()[-1]
    with httpx.Client(base_url=api_url, timeout=10,
                      headers={"Authorization": f"Bearer {token}"}) as ava:
        me = ava.get("/me").json()
        assert me["email"] == AVA
        assert not me["is_admin"]
        jobs = ava.get("/jobs", params={"limit": 100}).json()["jobs"]
        assert jobs
        assert {job["user_id"] for job in jobs} == {me["id"]}


def test_settings_follow_a_live_advert_and_explicit_variables_win(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    platform = subprocess.Popen(["sleep", "60"])  # a live pid that is not this process
    try:
        demo = tmp_path / "instance" / "demo"
        advertise(tmp_path / "instance", {
            "instance_path": demo, "database_url": f"sqlite:///{demo}/jobplatform.db",
            "broker_url": "redis://127.0.0.1:1/0", "journal_url": "redis://127.0.0.1:1/0",
            "fub_base_url": "http://127.0.0.1:2/v1", "rezen_arrakis_url": "http://127.0.0.1:3",
            "rezen_yenta_url": "http://127.0.0.1:4"}, "http://127.0.0.1:8000")
        advert = tmp_path / "instance" / RUNNING_FILE
        advert.write_text(advert.read_text().replace(str(os.getpid()), str(platform.pid), 1))

        followed = Settings.from_env({})
        assert followed.instance_path == demo
        assert followed.database_url == f"sqlite:///{demo}/jobplatform.db"
        assert followed.broker_url == followed.journal_url == "redis://127.0.0.1:1/0"
        assert followed.fub_base_url == "http://127.0.0.1:2/v1"
        mixed = Settings.from_env({"JOBPLATFORM_DATABASE_URL": "sqlite:////elsewhere.db"})
        assert (mixed.database_url, mixed.broker_url) == (
            "sqlite:////elsewhere.db", "redis://127.0.0.1:1/0")
        own = Settings.from_env({"JOBPLATFORM_INSTANCE_PATH": "instance"})
        assert own.instance_path == tmp_path / "instance"
        assert own.database_url == f"sqlite:///{tmp_path}/instance/jobplatform.db"
    finally:
        platform.kill()
        platform.wait()
    # Its process gone, the advert is ignored.
    assert Settings.from_env({}).instance_path == tmp_path / "instance"


def no_platform_shell(folder: Path, *argv: str) -> str:
    """The one line a command prints when there is no job store to read, checked."""
    done = new_shell(folder, *argv)
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_with_no_platform_running_read_commands_say_so_in_one_line_and_create_nothing(
    tmp_path,
):
    # An advert left by a platform that was killed (its pid gone) is not followed.
    gone = subprocess.Popen(["true"])
    gone.wait()
    stale = {"pid": gone.pid, "settings": {"database_url": "sqlite:////nowhere/x.db"}}
    (tmp_path / "instance").mkdir()
    (tmp_path / "instance" / RUNNING_FILE).write_text(json.dumps(stale))
    commands = [("jobplatform", "status"), ("jobplatform", "jobs", "list", "--status", "error"),
                ("jobplatform", "users", "token", AVA), ("celery", "-A", "jobplatform", "jobs")]
    with ThreadPoolExecutor(len(commands)) as pool:
        said = list(pool.map(lambda argv: no_platform_shell(tmp_path, *argv), commands))
    assert said == [
        "Error: there is no database at instance/jobplatform.db yet: run 'jobplatform db "
        "upgrade', or start the platform from this folder ('jobplatform up', or 'make run' "
        "for the demo)"
    ] * len(commands)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["instance", RUNNING_FILE]

    # A database file with no tables in it (an older jobplatform left one) is said so too.
    sqlite3.connect(tmp_path / "instance" / "jobplatform.db").close()
    with ThreadPoolExecutor(2) as pool:
        said = list(pool.map(lambda argv: no_platform_shell(tmp_path, *argv), commands[::3]))
    assert said == [
        "Error: the database at instance/jobplatform.db has no jobplatform tables yet: run "
        "'jobplatform db upgrade', or start the platform from this folder ('jobplatform up', "
        "or 'make run' for the demo)"
    ] * 2
