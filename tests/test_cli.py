"""The `jobplatform` command line, through click's runner and as real subprocesses: what an
operator checks (counts equal the API's, actions name `cli:<user>` in the history, a mistake
is one line and a non-zero exit)."""

from __future__ import annotations

import getpass
import json
import os
import pty
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from importlib.metadata import version
from pathlib import Path

import click
import pytest
import redis
from click.testing import CliRunner

from jobplatform.cli import cli
from jobplatform.cli.ports import ensure_port_free
from jobplatform.embedded import free_port
from tests.support import ROOT, seed_job, wait_for

# Run again on another database or broker: see tests/conftest.py.
pytestmark = [pytest.mark.database, pytest.mark.broker]

JOBPLATFORM = str(Path(sys.executable).with_name("jobplatform"))
OPERATOR = f"cli:{getpass.getuser()}"


def run(*args: str, input: str | None = None):
    """`jobplatform ARGS` in this process, on the test app and its database."""
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def run_process(*args: str, env: dict[str, str], timeout: float = 60):
    return subprocess.run(
        [JOBPLATFORM, *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def admin_headers(make_user) -> dict[str, str]:
    return make_user(admin=True).headers


# -- the command tree -------------------------------------------------------------------------


def test_help_lists_jobplatform_commands_before_flasks_and_version_is_ours(subprocess_env):
    shown = run_process("--help", env=subprocess_env)
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    ours, _, flasks = text.partition("Flask commands:")
    assert flasks, text
    for name in ("up", "status", "jobs", "users", "integrations", "db", "simulate", "applier"):
        assert f"\n  {name} " in ours, name
    for name in ("run", "routes", "shell"):
        assert f"\n  {name} " in flasks, name
        assert f"\n  {name} " not in ours, name
    assert "Show the Flask version" not in text

    printed = run_process("--version", env=subprocess_env)
    assert printed.returncode == 0
    assert printed.stdout.strip() == f"jobplatform {version('jobplatform')}"


def _commands(command: click.Command, path: tuple[str, ...] = ()):
    yield path
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _commands(sub, (*path, name))


def test_every_command_has_help():
    paths = list(_commands(cli))
    assert ("jobs", "show") in paths
    assert ("db", "upgrade") in paths
    for path in paths:
        result = CliRunner().invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage: " in result.output, path


# -- reading ----------------------------------------------------------------------------------


def test_status_counts_equal_the_apis(app, client, make_user, user_id):
    now = time.time()
    for n, status in enumerate(("pending", "complete", "complete", "error", "cancelled")):
        seed_job(user_id=user_id, status=status, at=now - 10 + n)
    seed_job(user_id=user_id, status="error", queue="fub_sync", job_type="fub_sync", at=now)
    api = client.get(
        f"/api/v2/job-queue-status?user_id={user_id}", headers=admin_headers(make_user)
    ).json

    shown = json.loads(run("status", "--user", str(user_id), "--json").output)

    assert shown["queues"] == api["queues"]
    assert (
        shown["totals"]
        == api["totals"]
        == {"pending": 1, "processing": 0, "complete": 2, "error": 2, "cancelled": 1}
    )
    assert shown["user_id"] == user_id
    assert len(shown["recent_jobs"]) == 6
    assert shown["recent_jobs"][0]["queue"] == "fub_sync"  # newest first

    table = run("status", "--user", str(user_id)).output
    assert f"Job queues: user {user_id}" in table
    general = next(line for line in table.splitlines() if "General" in line)
    assert [cell.strip() for cell in general.strip("│ ").split("│")][1:] == [
        "1",
        "0",
        "2",
        "1",
        "1",
    ]


def test_status_as_a_subprocess_equals_the_api(app, client, make_user, user_id, subprocess_env):
    seed_job(user_id=user_id, status="complete")
    seed_job(user_id=user_id, status="pending", queue="rezen_sync", job_type="rezen_sync")
    api = client.get(
        f"/api/v2/job-queue-status?user_id={user_id}", headers=admin_headers(make_user)
    ).json

    shown = run_process("status", "--user", str(user_id), "--json", env=subprocess_env)

    assert shown.returncode == 0, shown.stderr
    body = json.loads(shown.stdout)
    assert body["queues"] == api["queues"]
    assert body["totals"] == api["totals"]


def test_jobs_list_filters_like_the_api(app, client, make_user, user_id, subprocess_env):
    now = time.time()
    seed_job(user_id=user_id, queue="fub_sync", job_type="fub_sync", at=now - 30)
    failed = seed_job(
        user_id=user_id,
        queue="fub_sync",
        job_type="fub_sync",
        at=now - 20,
        status="error",
        error="FUB rejected the API key",
    )
    seed_job(user_id=user_id, at=now - 10, summary="Exported 12 contacts")
    headers = admin_headers(make_user)

    for flags, query in (
        ([], ""),
        (["--status", "error"], "&status=error"),
        (["--queue", "fub_sync"], "&queue=fub_sync"),
        (["--search", "rejected"], "&q=rejected"),
        (["--type", "contacts_export"], "&type=contacts_export"),
    ):
        api = client.get(f"/api/v2/jobs?user_id={user_id}{query}", headers=headers).json
        shown = json.loads(run("jobs", "list", "--user", str(user_id), *flags, "--json").output)
        assert [j["id"] for j in shown["jobs"]] == [j["id"] for j in api["jobs"]], flags
        assert shown["jobs"] == api["jobs"], flags

    table = run("jobs", "list", "--user", str(user_id), "--status", "error").output
    assert failed in table
    assert "RateLimitExceeded: FUB rejected the API key" in table

    listed = run_process(
        "jobs", "list", "--user", str(user_id), "--limit", "2", "--json", env=subprocess_env
    )
    assert listed.returncode == 0, listed.stderr
    page = json.loads(listed.stdout)
    assert len(page["jobs"]) == 2
    rest = json.loads(
        run(
            "jobs",
            "list",
            "--user",
            str(user_id),
            "--limit",
            "2",
            "--cursor",
            page["next_cursor"],
            "--json",
        ).output
    )
    every = client.get(f"/api/v2/jobs?user_id={user_id}", headers=headers).json["jobs"]
    assert [j["id"] for j in page["jobs"] + rest["jobs"]] == [j["id"] for j in every]
    assert rest["next_cursor"] is None


def test_jobs_show_has_the_timeline_the_log_and_the_apis_json(app, client, make_user, user_id):
    job_id = seed_job(user_id=user_id, status="error", error="Rate limit exceeded")
    api = client.get(f"/api/v2/jobs/{job_id}", headers=admin_headers(make_user)).json

    shown = json.loads(run("jobs", "show", job_id, "--json").output)
    text = run("jobs", "show", job_id).output

    assert shown == api
    assert shown["traceback"] == "Traceback: secret internals"  # an operator sees it
    assert "pending → processing" in text
    assert "processing → error" in text
    assert "RateLimitExceeded: Rate limit exceeded" in text
    assert "Traceback: secret internals" in text


def test_a_bad_id_is_one_line_and_a_nonzero_exit(app, subprocess_env, user_id):
    shown = run_process("jobs", "show", "not-a-job", env=subprocess_env)
    assert shown.returncode != 0
    assert shown.stdout == ""
    assert shown.stderr.splitlines() == ["Error: no job 'not-a-job': job ids are UUIDs"]

    missing = str(uuid.uuid4())
    cancelled = run_process("jobs", "cancel", missing, env=subprocess_env)
    assert cancelled.returncode != 0
    assert cancelled.stderr.splitlines() == [f"Error: no job {missing}"]

    ended = seed_job(user_id=user_id, status="complete")
    refused = CliRunner().invoke(cli, ["jobs", "cancel", ended])
    assert refused.exit_code == 1
    assert refused.output.splitlines() == [
        f"Error: Job {ended} already ended (complete); nothing to cancel."
    ]


def test_an_unreachable_database_is_one_line(subprocess_env):
    env = {
        **subprocess_env,
        "JOBPLATFORM_DATABASE_URL": f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/x",
    }
    shown = run_process("status", env=env)
    assert shown.returncode == 1
    lines = shown.stderr.splitlines()
    assert len(lines) == 1, shown.stderr
    assert lines[0].startswith("Error: the database is unreachable: ")


# -- acting -----------------------------------------------------------------------------------


def test_cancel_as_a_subprocess_names_the_operator(app, store, user_id, subprocess_env):
    job_id = seed_job(user_id=user_id, status="pending")

    done = run_process("jobs", "cancel", job_id, env=subprocess_env)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"cancelled {job_id}"
    assert store.job(job_id).status == "cancelled"
    assert store.events(job_id)[-1] == (
        "pending",
        "cancelled",
        OPERATOR,
        f"cancelled by {OPERATOR}",
    )


def test_retry_makes_a_linked_job_and_names_the_operator(app, store, user_id):
    failed = seed_job(
        user_id=user_id, status="error", job_type="test_noop", task="jobplatform.general.test_noop"
    )
    complete = seed_job(user_id=user_id, status="complete")

    done = run("jobs", "retry", failed, "--json")

    new = json.loads(done.output)[0]
    assert new["retry_of"] == failed
    assert new["status"] in ("pending", "processing", "complete")
    assert store.events(new["id"])[0][2] == OPERATOR
    assert store.events(failed)[-1][2:] == (OPERATOR, f"retried as {new['id']} by {OPERATOR}")

    both = CliRunner().invoke(cli, ["jobs", "retry", complete, failed])
    assert both.exit_code == 1  # one of the two could not be retried
    assert f"Error: Job {complete} is complete; only a job that ended in error" in both.output
    assert f"retried {failed} as " in both.output  # by id, a job may be retried again


def test_bulk_cancel_asks_first_then_acts_on_what_the_api_counts(
    app, client, store, make_user, user_id
):
    now = time.time()
    syncs = [
        seed_job(
            user_id=user_id, status="pending", queue="fub_sync", job_type="fub_sync", at=now + n
        )
        for n in range(3)
    ]
    export = seed_job(user_id=user_id, status="pending", at=now)
    dry = client.post(
        "/api/v2/jobs/bulk/cancel",
        headers=admin_headers(make_user),
        json={"user_id": user_id, "queue": "fub_sync", "dry_run": True},
    ).json
    assert dry["matched"] == 3

    flags = ["jobs", "cancel", "--user", str(user_id), "--queue", "fub_sync"]
    counted = run(*flags, "--dry-run")
    assert counted.output.startswith(f"would cancel {dry['matched']} jobs")

    declined = CliRunner().invoke(cli, flags, input="n\n")
    assert declined.exit_code == 1
    assert f"Cancel 3 jobs (queue fub_sync, user {user_id})?" in declined.output
    assert {store.job(j).status for j in syncs} == {"pending"}

    accepted = run(*flags, input="y\n")
    assert accepted.output.splitlines()[-1] == "cancelled 3 jobs"
    assert {store.job(j).status for j in syncs} == {"cancelled"}
    assert store.job(export).status == "pending"
    assert store.events(syncs[0])[-1][2] == OPERATOR

    again = json.loads(run(*flags, "--yes", "--json").output)
    assert again == {
        "action": "cancel",
        "dry_run": False,
        "matched": 0,
        "acted": 0,
        "failed_to_queue": 0,
        "limit": 10_000,
    }


def test_bulk_retry_by_filter_and_its_limits(app, store, user_id):
    failed = [
        seed_job(
            user_id=user_id,
            status="error",
            job_type="test_noop",
            task="jobplatform.general.test_noop",
        )
        for _ in range(2)
    ]

    done = run("jobs", "retry", "--user", str(user_id), "--status", "error", "--yes")

    assert done.output.strip() == "retried 2 jobs"
    for job_id in failed:
        assert store.events(job_id)[-1][2] == OPERATOR
    assert run("jobs", "retry", "--user", str(user_id), "--yes").output.startswith(
        "no jobs to retry"
    )  # each was retried once already

    bare = CliRunner().invoke(cli, ["jobs", "retry"])
    assert bare.exit_code == 2
    assert "give job ids, or filters" in bare.output
    mixed = CliRunner().invoke(cli, ["jobs", "cancel", failed[0], "--queue", "general"])
    assert mixed.exit_code == 2
    assert "not both" in mixed.output
    wrong = CliRunner().invoke(cli, ["jobs", "retry", "--status", "complete"])
    assert wrong.exit_code == 2


def test_as_an_agent_the_cli_has_the_agents_scope(app, store, make_user, user_id):
    agent = make_user()
    theirs = seed_job(user_id=user_id, status="pending")
    own = seed_job(user_id=agent.id, status="pending")

    hidden = CliRunner().invoke(cli, ["--as", agent.email, "jobs", "show", theirs])
    assert hidden.exit_code == 1
    assert hidden.output.splitlines() == [f"Error: no job {theirs}"]
    refused = CliRunner().invoke(cli, ["--as", agent.email, "status", "--user", str(user_id)])
    assert refused.exit_code == 1
    assert "You may only see your own jobs." in refused.output
    listed = json.loads(run("--as", agent.email, "jobs", "list", "--json").output)
    assert [j["id"] for j in listed["jobs"]] == [own]

    run("--as", agent.email, "jobs", "cancel", own)
    assert store.events(own)[-1][2] == f"cli:{agent.email}"
    untouched = run("--as", agent.email, "jobs", "cancel", "--all", "--yes")
    assert untouched.output.startswith("no jobs to cancel")
    assert store.job(theirs).status == "pending"


def test_users_and_integrations(app, store, make_user, api_key):
    created = CliRunner().invoke(cli, ["users", "create", f"{uuid.uuid4().hex[:8]}@example.com"])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    assert token.startswith("jp_")
    listed = json.loads(run("users", "list", "--json").output)["users"]
    user = listed[-1]
    assert user["jobs"]["pending"] == 0

    connected = run("integrations", "connect", str(user["id"]), "fub", "--api-key", api_key)
    job_id = connected.output.rsplit("job ", 1)[1].strip()
    assert store.events(job_id)[0][2] == OPERATOR
    shown = json.loads(run("integrations", "list", str(user["id"]), "--json").output)
    assert [(i["provider"], i["enabled"]) for i in shown] == [("fub", True)]
    assert api_key not in json.dumps(shown)
    rejected = CliRunner().invoke(
        cli, ["integrations", "connect", str(user["id"]), "rezen", "--api-key", "invalid-key"]
    )
    assert rejected.exit_code == 1
    assert len(rejected.output.splitlines()) == 1


def test_db_upgrade_is_safe_to_run_again(migrated_database, subprocess_env):
    done = run_process("db", "upgrade", env=subprocess_env)
    assert done.returncode == 0, done.stderr
    assert " is at revision " in done.stdout


# -- following and watching -------------------------------------------------------------------


def test_show_follow_shows_progress_until_the_job_completes(
    app, client, make_user, store, worker, subprocess_env
):
    user = make_user()
    gate = f"gate-{uuid.uuid4().hex}"
    job_id = client.post(
        "/api/v2/jobs",
        headers=user.headers,
        json={"type": "test_gate", "params": {"gate": gate, "total": 20, "step_seconds": 0.05}},
    ).json["id"]
    wait_for(
        lambda: (store.job(job_id).progress_current or 0) >= 3,
        process=worker,
        message="the gated job to make progress",
    )
    follower = subprocess.Popen(
        [JOBPLATFORM, "jobs", "show", job_id, "--follow"],
        env=subprocess_env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    printed: list[str] = []
    reader = threading.Thread(
        target=lambda: printed.extend(iter(follower.stdout.readline, "")), daemon=True
    )
    reader.start()
    try:
        # The job as it was (running), then following: only now may it end.
        wait_for(lambda: "log\n" in printed, timeout=30, message="the job shown")
        assert "status    processing" in "".join(printed)
        redis.Redis.from_url(os.environ["JOBPLATFORM_JOURNAL_URL"]).set(gate, 1)
        assert follower.wait(timeout=30) == 0, follower.stderr.read()
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
        reader.join(timeout=10)
        follower.stdout.close()
        follower.stderr.close()
    followed = "".join(printed).split("\nlog\n", 1)[1]
    assert "processing → complete" in followed  # printed as it happened
    assert "20/20 items" in followed  # the bar's last frame
    assert followed.rstrip().splitlines()[-1] == "Passed the gate with 20 items"


def test_show_follow_exits_nonzero_when_the_job_fails(app, client, make_user, worker):
    user = make_user()
    job_id = client.post(
        "/api/v2/jobs",
        headers=user.headers,
        json={"type": "test_fail", "params": {"message": "FUB is down"}},
    ).json["id"]

    followed = CliRunner().invoke(cli, ["jobs", "show", job_id, "--follow"])

    assert followed.exit_code == 1
    assert followed.output.splitlines()[-1] == (
        f"Error: job {job_id} ended error: ValueError: FUB is down"
    )


class PtyReader:
    """A subprocess's terminal output (a pseudo-terminal, so rich draws as for a person)."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        master, slave = pty.openpty()
        self.process = subprocess.Popen(
            argv,
            env={**env, "COLUMNS": "200", "LINES": "60"},
            cwd=ROOT,
            stdin=slave,
            stdout=slave,
            stderr=slave,
        )
        os.close(slave)
        self.master = master
        self.text = ""
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO: the other end closed
                return
            if not chunk:
                return
            self.text += chunk.decode(errors="replace")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.reader.join(timeout=5)
        os.close(self.master)


def test_status_watch_redraws_in_place_until_ctrl_c(app, user_id, subprocess_env):
    watch = PtyReader(
        [JOBPLATFORM, "status", "--watch", "--interval", "0.2", "--user", str(user_id)],
        subprocess_env,
    )
    try:
        wait_for(
            lambda: "no jobs yet" in watch.text,
            timeout=30,
            message=f"the first frame; got {watch.text!r}",
        )
        job_id = seed_job(user_id=user_id, status="pending")
        wait_for(lambda: job_id in watch.text, timeout=30, message="a frame with the new job")
        assert "\x1b[" in watch.text.split("no jobs yet", 1)[1]  # moved the cursor back up
        assert watch.text.count("Job queues: user") >= 2
        watch.process.send_signal(signal.SIGINT)
        assert watch.process.wait(timeout=15) == 0
    finally:
        watch.close()


# -- `up` and its port ------------------------------------------------------------------------


def test_ensure_port_free():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(click.ClickException) as raised:
            ensure_port_free(port)
        assert raised.value.message == (
            f"port {port} is in use (another jobplatform up?); pick another with --port"
        )
    ensure_port_free(port)  # free again once closed


def test_up_with_its_port_taken_says_so_in_one_line_before_starting(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBPLATFORM_")}
    env["JOBPLATFORM_INSTANCE_PATH"] = str(tmp_path / "instance")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        up = subprocess.run(
            [JOBPLATFORM, "up", "--port", str(port), "-c", "1"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        took = time.monotonic() - started
    assert up.returncode != 0
    assert up.stdout == ""  # nothing started: no migrations, no banner
    assert up.stderr.splitlines() == [
        f"Error: port {port} is in use (another jobplatform up?); pick another with --port"
    ]
    assert took < 15, f"took {took:.1f}s"
    assert not (tmp_path / "instance" / "jobplatform.db").exists()
