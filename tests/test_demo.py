"""`jobplatform demo` as a new user runs it: README's first command, on a machine with no
broker, database or provider configured."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading

import httpx
import psutil

from jobplatform.embedded import free_port
from jobplatform.queues import QUEUE_NAMES
from tests.support import wait_for


def test_demo_fills_every_queue_and_ctrl_c_stops_all_it_started(tmp_path):
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
            return match.group(1) if match else None

        token = wait_for(banner_token, timeout=90, message="the operator token in the banner")
        assert f"dashboard  http://127.0.0.1:{port}/dashboard" in "".join(printed)
        descendants = psutil.Process(demo.pid).children(recursive=True)
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
