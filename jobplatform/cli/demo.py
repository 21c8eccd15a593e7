"""`jobplatform demo`: `up`, plus simulators of FUB and reZEN and demo agents using them.

The demo drives the platform the way people do: agents connect their accounts and upload a
CSV through the HTTP API, so every job it shows took the path a real one takes.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import sys
import threading
import time
from dataclasses import dataclass

import click
import httpx
import sqlalchemy as sa
from flask import Flask

from ..config import PREFIX
from ..database import begin_write
from ..embedded import free_port
from ..extensions import db
from ..simulators import SimulatorControl
from ..users.models import User
from ..users.tokens import FIRST_ADMIN_EMAIL, create_user, issue_token
from .platform import Extras, PlatformOptions, platform_options, run_platform

READY_TIMEOUT = 60.0


@dataclass(frozen=True)
class Agent:
    email: str
    name: str

    def api_key(self, provider: str) -> str:
        """The simulators make one deterministic account per key."""
        return f"demo-{self.email.split('@')[0]}-{provider}"


AGENTS = (
    Agent("ava.martin@demo.test", "Ava Martin"),
    Agent("ben.okafor@demo.test", "Ben Okafor"),
    Agent("chloe.ng@demo.test", "Chloe Ng"),
)

# Sized so that an onboarding takes some 15-25 s against a rate limit it meets (its progress
# moves page by page, and the first FUB syncs follow within the first minute), a sync or two
# meets a provider error and is retried, and data changes between the syncs.
ERROR_RATE = 0.04
FUB_SIMULATOR = [
    "--people",
    "1000",
    "--deals",
    "200",
    "--rate-limit",
    "12",
    "--latency",
    "120",
    "--error-rate",
    str(ERROR_RATE),
    "--churn",
    "30",
]
REZEN_SIMULATOR = [
    "--transactions",
    "400",
    "--rate-limit",
    "10",
    "--latency",
    "120",
    "--error-rate",
    str(ERROR_RATE),
    "--churn",
    "10",
]
SYNC_INTERVALS = {"FUB_SYNC_INTERVAL": "20", "REZEN_SYNC_INTERVAL": "45"}
# reZEN answers 503 to everything for a while just after the agents connect: longer than a
# client's own retries of one request, so the first syncs fail, are retried by the platform
# a little later, and complete from their checkpoints.
REZEN_OUTAGE_SECONDS = 20.0


def simulator_commands(fub_port: int, rezen_port: int) -> list[tuple[str, list[str]]]:
    simulate = [sys.executable, "-m", "jobplatform", "simulate"]
    return [
        ("fub-sim", [*simulate, "fub", "--port", str(fub_port), *FUB_SIMULATOR]),
        ("rezen-sim", [*simulate, "rezen", "--port", str(rezen_port), *REZEN_SIMULATOR]),
    ]


def demo_environment(fub_port: int, rezen_port: int) -> dict[str, str]:
    """Where the platform finds the simulators, and the demo's short beat intervals."""
    rezen = f"http://127.0.0.1:{rezen_port}"
    env = {
        PREFIX + "FUB_BASE_URL": f"http://127.0.0.1:{fub_port}/v1",
        PREFIX + "REZEN_ARRAKIS_URL": f"{rezen}/arrakis/api/v1",
        PREFIX + "REZEN_YENTA_URL": f"{rezen}/yenta/api/v1",
    }
    env.update({PREFIX + name: value for name, value in SYNC_INTERVALS.items()})
    return env


def wait_until_answering(url: str, what: str, timeout: float = READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).is_success:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise click.ClickException(f"{what} did not answer at {url} within {timeout:.0f} s")


def issue_tokens(app: Flask) -> dict[str, str]:
    """A fresh token for the operator and each demo agent (creating the agents the first
    time). Tokens exist in plain text only here: the store keeps their hashes."""
    tokens = {}
    with app.app_context():
        begin_write(db.session)
        for email, name, admin in [
            (FIRST_ADMIN_EMAIL, "Operator", True),
            *[(a.email, a.name, False) for a in AGENTS],
        ]:
            user = db.session.scalar(sa.select(User).where(User.email == email))
            if user is None:
                user = create_user(db.session, email, name=name, admin=admin)
            tokens[email] = issue_token(db.session, user)
        db.session.commit()
    return tokens


def contacts_csv(agent: Agent, rows: int = 300) -> bytes:
    """An agent's spreadsheet of contacts, with the two mistakes people make most."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Name", "Email", "Phone", "Stage", "Tags"])
    first = agent.name.split()[0].lower()
    for n in range(rows):
        writer.writerow(
            [
                f"Open House Guest {n}",
                f"guest{n}.{first}@example.com",
                f"+1 555 01{n % 100:02d}",
                "Lead",
                "open house;spring",
            ]
        )
    writer.writerow(["No Email", "not-an-email", "", "Lead", ""])
    writer.writerow(["", "", "", "", ""])
    return out.getvalue().encode()


def start_agents_work(web_url: str, tokens: dict[str, str]) -> None:
    """Each agent connects FUB and reZEN (which starts their onboarding and first sync), or
    asks for a sync when connected already, uploads a CSV and asks for an export."""
    for agent in AGENTS:
        headers = {"Authorization": f"Bearer {tokens[agent.email]}"}
        with httpx.Client(base_url=f"{web_url}/api/v2", headers=headers, timeout=30) as api:
            connected = {i["provider"] for i in api.get("/integrations").json()}
            for provider in ("fub", "rezen"):
                if provider in connected:
                    answer = api.post(f"/integrations/{provider}/sync")
                else:
                    answer = api.post(
                        "/integrations",
                        json={"provider": provider, "api_key": agent.api_key(provider)},
                    )
                expect_accepted(answer, f"connecting {provider} for {agent.email}")
            upload = {"file": ("open-house.csv", contacts_csv(agent), "text/csv")}
            expect_accepted(
                api.post("/imports/files", files=upload), f"the CSV import of {agent.email}"
            )
            expect_accepted(
                api.post("/jobs", json={"type": "contacts_export", "params": {}}),
                f"the export of {agent.email}",
            )


def provider_outage(control_url: str, seconds: float, error_rate: float) -> threading.Thread:
    """Make the simulator at `control_url` fail every request for `seconds`, then recover."""

    def outage() -> None:
        with SimulatorControl(control_url) as control:
            control.configure(error_rate=1.0)
            time.sleep(seconds)
            control.configure(error_rate=error_rate)

    thread = threading.Thread(target=outage, name="reZEN outage", daemon=True)
    thread.start()
    return thread


def expect_accepted(answer: httpx.Response, what: str) -> None:
    if answer.status_code >= 400:
        message = answer.json().get("error", {}).get("message", answer.text[:200])
        raise click.ClickException(f"the demo could not start {what}: {message}")


@click.command()
@platform_options
def demo(options: PlatformOptions) -> None:
    """The platform with simulated FUB and reZEN and three demo agents connected to them,
    so jobs flow at once: onboardings, beat's syncs, a retried outage, CSV imports and
    exports. Takes `up`'s options; its data lives in instance/demo/ (JOBPLATFORM_INSTANCE_PATH
    chooses another folder)."""
    fub_port, rezen_port = free_port(), free_port()
    os.environ.setdefault(PREFIX + "INSTANCE_PATH", str(os.path.join("instance", "demo")))
    os.environ.update(demo_environment(fub_port, rezen_port))

    def on_ready(app: Flask, web_url: str) -> list[str]:
        wait_until_answering(f"http://127.0.0.1:{fub_port}/_sim/health", "the FUB simulator")
        wait_until_answering(f"http://127.0.0.1:{rezen_port}/_sim/health", "the reZEN simulator")
        wait_until_answering(f"{web_url}/healthz", "the web app")
        tokens = issue_tokens(app)
        start_agents_work(web_url, tokens)
        provider_outage(f"http://127.0.0.1:{rezen_port}/_sim", REZEN_OUTAGE_SECONDS, ERROR_RATE)
        return [
            f"  sign in    with the operator token {tokens[FIRST_ADMIN_EMAIL]}",
            f"  agents     {', '.join(a.email for a in AGENTS)}: each connected FUB and",
            "             reZEN, uploaded a CSV and asked for an export; their own view:",
            f"             'jobplatform users token {AGENTS[0].email}'",
            f"  simulators FUB http://127.0.0.1:{fub_port}/v1, reZEN http://127.0.0.1:{rezen_port}",
            f"             rate limited, a little slow, {ERROR_RATE:.0%} errors; reZEN is down "
            f"for the first {REZEN_OUTAGE_SECONDS:.0f} s,",
            "             so its first syncs fail and are retried",
        ]

    options = dataclasses.replace(options, flower=True)  # the demo always shows Flower
    extras = Extras(commands=simulator_commands(fub_port, rezen_port), on_ready=on_ready)
    sys.exit(run_platform(options, extras))
