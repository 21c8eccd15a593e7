"""Flower as deploy/ runs it (`deploy/flowerconfig.py`) against the test broker and worker:
what its own HTTP API reports of jobplatform's tasks and queues, its basic auth and its
persistence, and the dashboard's link to it."""

from __future__ import annotations

import json
import re
import secrets
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import expect

from jobplatform.embedded import free_port
from jobplatform.queues import QUEUE_NAMES
from tests.support import ROOT, ManagedProcess, wait_for

# Run again on another database or broker: see tests/conftest.py.
pytestmark = pytest.mark.broker

FLOWER_CONFIG = ROOT / "deploy" / "flowerconfig.py"


class Flower:
    """A Flower process and an HTTP client that signs in to it."""

    def __init__(
        self, process: ManagedProcess, base_url: str, auth: tuple[str, str], db_path: Path
    ) -> None:
        self.process = process
        self.base_url = base_url
        self.auth = auth
        self.db_path = db_path

    def get(self, path: str, **kwargs) -> httpx.Response:
        return httpx.get(self.base_url + path, auth=self.auth, timeout=10, **kwargs)

    def tasks(self) -> dict[str, dict]:
        response = self.get("/api/tasks")
        assert response.status_code == 200, response.text
        return response.json()

    def queue_lengths(self) -> dict[str, int]:
        response = self.get("/api/queues/length")
        assert response.status_code == 200, response.text
        return {q["name"]: q["messages"] for q in response.json()["active_queues"]}

    def wait_ready(self, worker: ManagedProcess) -> None:
        """Until Flower answers and has heard the worker (so it receives every event now)."""

        def answers() -> bool:
            try:
                return self.get("/healthcheck").status_code == 200
            except httpx.TransportError:
                return False

        wait_for(answers, timeout=60, message="Flower to answer", process=self.process)
        wait_for(
            lambda: self.get("/api/workers?status=true").json().get(worker.node_name),
            timeout=30,
            message=f"Flower to hear {worker.node_name}",
            process=self.process,
        )

    def wait_tasks(self, job_ids: list[str], state: str = "SUCCESS") -> dict[str, dict]:
        """Flower's records of these tasks, once it has each in `state`."""

        def seen() -> dict[str, dict] | None:
            tasks = self.tasks()
            if all(tasks.get(i, {}).get("state") == state for i in job_ids):
                return {i: tasks[i] for i in job_ids}
            return None

        return wait_for(
            seen,
            timeout=60,
            interval=0.2,
            process=self.process,
            message=f"Flower to report {job_ids} as {state}",
        )


@pytest.fixture(scope="module")
def flower(
    worker: ManagedProcess, subprocess_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Flower:
    folder = tmp_path_factory.mktemp("flower")
    auth = ("operator", secrets.token_urlsafe(12))
    port = free_port()
    env = {
        **subprocess_env,
        "FLOWER_BASIC_AUTH": ":".join(auth),
        "JOBPLATFORM_INSTANCE_PATH": str(folder / "instance"),
    }
    process = ManagedProcess(
        "flower",
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "jobplatform",
            "flower",
            f"--conf={FLOWER_CONFIG}",
            "--address=127.0.0.1",
            f"--port={port}",
        ],
        env=env,
        log_path=folder / "flower.log",
        stop_timeout=20,
    )
    process.start()
    running = Flower(process, f"http://127.0.0.1:{port}", auth, folder / "instance" / "flower.db")
    running.wait_ready(worker)
    yield running
    process.stop()


def test_flower_reports_jobplatform_tasks_with_their_queues_and_no_secrets(
    flower, client, make_user, store, worker, api_key
):
    user = make_user()
    started = {
        "jobplatform.rezen.sync": client.post(
            "/api/v2/integrations",
            headers=user.headers,
            json={"provider": "rezen", "api_key": api_key},
        ).json["job"]["id"],
        "jobplatform.fub.onboard": client.post(
            "/api/v2/integrations",
            headers=user.headers,
            json={"provider": "fub", "api_key": api_key},
        ).json["job"]["id"],
        "jobplatform.general.test_steps": client.post(
            "/api/v2/jobs",
            headers=user.headers,
            json={"type": "test_steps", "params": {"count": 2}},
        ).json["id"],
    }
    for job_id in started.values():
        store.wait_status(job_id, "complete", timeout=90, process=worker)

    seen = flower.wait_tasks(list(started.values()))

    queue_of = {
        "jobplatform.rezen.sync": "rezen_sync",
        "jobplatform.fub.onboard": "fub_onboarding",
        "jobplatform.general.test_steps": "general",
    }
    for name, job_id in started.items():
        task = seen[job_id]
        assert task["name"] == name
        assert task["routing_key"] == queue_of[name]
        assert task["worker"] == worker.node_name
        assert f"'user_id': {user.id}" in task["kwargs"]
        # The provider key travels to no task: a task loads it, encrypted, from the store.
        assert api_key not in json.dumps(task)
        assert user.token not in json.dumps(task)
    assert "'count': 2" in seen[started["jobplatform.general.test_steps"]]["kwargs"]


def port_answers(url: str) -> bool:
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=2).close()
    except OSError:
        return False
    return True


def waiting_in(queue: str) -> int:
    """The broker's own count of the messages waiting in `queue`."""
    from jobplatform import celery

    with celery.connection_for_read() as connection:
        return connection.default_channel.queue_declare(queue=queue, passive=True).message_count


def test_flower_lists_the_four_queues_with_their_lengths(flower, worker, user_id):
    from jobplatform import celery

    management = celery.conf.jobplatform_flower_broker_api
    if management and not port_answers(management):
        pytest.skip(
            f"Flower reads RabbitMQ's queues from its management API, and "
            f"{urlsplit(management).netloc.split('@')[-1]} does not answer "
            "(rabbitmq-plugins enable rabbitmq_management)"
        )
    from tests import worker_tasks

    assert set(flower.queue_lengths()) == set(QUEUE_NAMES)
    # With the worker off `general` for a moment, jobs wait there and Flower counts them.
    assert celery.control.cancel_consumer(
        "general", destination=[worker.node_name], reply=True, timeout=5
    )
    try:
        waiting = [worker_tasks.noop.delay(user_id=user_id).id for _ in range(3)]

        def counted() -> dict[str, int] | None:
            lengths = flower.queue_lengths()
            # Flower's count is the broker's (a Redis list's length; RabbitMQ's ready messages,
            # which its management API refreshes every few seconds).
            if lengths["general"] >= 3 and lengths["general"] == waiting_in("general"):
                return lengths
            return None

        lengths = wait_for(
            counted,
            timeout=60,
            message="Flower to count the 3 jobs waiting in general",
            process=flower.process,
        )
        assert all(isinstance(lengths[name], int) and lengths[name] >= 0 for name in QUEUE_NAMES)
    finally:
        celery.control.add_consumer(
            "general", destination=[worker.node_name], reply=True, timeout=5
        )
    flower.wait_tasks(waiting)
    wait_for(
        lambda: flower.queue_lengths()["general"] == 0,
        process=flower.process,
        message="Flower to see general drained",
    )


def test_flower_asks_for_its_credentials(flower):
    assert httpx.get(f"{flower.base_url}/api/tasks", timeout=10).status_code == 401
    wrong = httpx.get(f"{flower.base_url}/api/tasks", auth=(flower.auth[0], "guess"), timeout=10)
    assert wrong.status_code == 401


def test_flower_keeps_its_task_history_across_a_restart(flower, worker, user_id):
    from tests import worker_tasks

    job_id = worker_tasks.noop.delay(user_id=user_id).id
    flower.wait_tasks([job_id])

    flower.process.stop()  # SIGTERM: Flower saves its state as it stops
    assert list(flower.db_path.parent.glob(flower.db_path.name + "*")), "no Flower database"
    flower.process.start()
    flower.wait_ready(worker)

    # Known at once, from the saved state: this task sends no more events.
    info = flower.get(f"/api/task/info/{job_id}")
    assert info.status_code == 200, info.text
    assert info.json()["name"] == "jobplatform.general.test_noop"
    assert info.json()["state"] == "SUCCESS"


@pytest.fixture(scope="module")
def web_with_flower(flower, subprocess_env, tmp_path_factory) -> str:
    """The web app under gunicorn, told where Flower runs (as `up --flower` tells it)."""
    port = free_port()
    process = ManagedProcess(
        "web-flower",
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--threads",
            "4",
            "tests.web_app:app",
        ],
        env={**subprocess_env, "JOBPLATFORM_FLOWER_URL": flower.base_url},
        log_path=tmp_path_factory.mktemp("logs") / "web-flower.log",
    )
    process.start()
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    wait_for(answers, timeout=30, message="the web app to answer", process=process)
    yield base
    process.stop()


def test_the_dashboard_links_operators_to_flower(browser, web_with_flower, flower, make_user):
    from tests.browser import DESKTOP, Dashboard

    context = browser.new_context(
        viewport=DESKTOP, http_credentials={"username": flower.auth[0], "password": flower.auth[1]}
    )
    context.set_default_timeout(10_000)
    try:
        agent = Dashboard(context.new_page(), web_with_flower).sign_in(make_user())
        expect(agent.page.locator("#flower-link")).to_be_hidden()

        operator = Dashboard(context.new_page(), web_with_flower).sign_in(make_user(admin=True))
        link = operator.page.get_by_role("link", name="Flower")
        expect(link).to_be_visible()
        expect(link).to_have_attribute("href", flower.base_url)
        with context.expect_page() as opened:
            link.click()
        flower_page = opened.value
        expect(flower_page).to_have_title(re.compile(r"· Flower$"))
        # Its broker view: the four queues, each with its length.
        flower_page.goto(f"{flower.base_url}/broker")
        for queue in QUEUE_NAMES:
            expect(
                flower_page.get_by_role("row", name=re.compile(rf"^{queue} \d+"))
            ).to_be_visible()
    finally:
        context.close()


def test_me_names_flower_to_operators_only(app, make_user, client):
    settings = app.config["JOBPLATFORM_SETTINGS"]
    app.config["JOBPLATFORM_SETTINGS"] = settings.model_copy(
        update={"flower_url": "https://jobs.example.com/flower"}
    )
    try:
        admin, agent = make_user(admin=True), make_user()
        assert client.get("/api/v2/me", headers=admin.headers).json["flower_url"] == (
            "https://jobs.example.com/flower"
        )
        assert "flower_url" not in client.get("/api/v2/me", headers=agent.headers).json
    finally:
        app.config["JOBPLATFORM_SETTINGS"] = settings
    assert "flower_url" not in client.get("/api/v2/me", headers=admin.headers).json


def test_a_flower_url_that_is_not_http_is_refused():
    from jobplatform.config import Settings

    with pytest.raises(ValueError, match="JOBPLATFORM_FLOWER_URL must be an http"):
        Settings.from_env({"JOBPLATFORM_FLOWER_URL": "javascript:alert(1)"})
    assert Settings.from_env({}).flower_url is None


def test_flower_will_not_start_without_credentials(subprocess_env, tmp_path):
    env = {k: v for k, v in subprocess_env.items() if k != "FLOWER_BASIC_AUTH"}
    env["JOBPLATFORM_INSTANCE_PATH"] = str(tmp_path)
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "jobplatform",
        "flower",
        f"--conf={FLOWER_CONFIG}",
        "--address=127.0.0.1",
        f"--port={free_port()}",
    ]
    # Were it to start without them, it would serve until this timeout fails the test.
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode != 0
    assert "FLOWER_BASIC_AUTH must be set to user:password" in result.stderr


def test_the_flower_config_takes_everything_from_the_environment(monkeypatch, tmp_path):
    import runpy

    monkeypatch.setenv("FLOWER_BASIC_AUTH", "ops:one-pass, audit:another-pass")
    monkeypatch.setenv("JOBPLATFORM_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("JOBPLATFORM_FLOWER_URL", "https://jobs.example.com/flower/")
    monkeypatch.setenv("JOBPLATFORM_FLOWER_BROKER_API", "http://guest:guest@rabbit:15672/api/")
    config = runpy.run_path(str(FLOWER_CONFIG))

    assert config["basic_auth"] == ["ops:one-pass", "audit:another-pass"]
    assert config["persistent"] is True
    assert config["db"] == str(tmp_path / "instance" / "flower.db")
    assert config["url_prefix"] == "flower"
    assert config["broker_api"] == "http://guest:guest@rabbit:15672/api/"

    monkeypatch.delenv("JOBPLATFORM_FLOWER_URL")
    monkeypatch.delenv("JOBPLATFORM_FLOWER_BROKER_API")
    # A Redis broker has no management API (an amqp:// one: tests/test_deploy.py).
    monkeypatch.setenv("JOBPLATFORM_BROKER_URL", "redis://redis:6379/0")
    config = runpy.run_path(str(FLOWER_CONFIG))
    assert "url_prefix" not in config
    assert "broker_api" not in config
