"""FUB onboarding speed: 50,000 people and 10,000 deals through the FUB simulator.

    .venv/bin/python bench/sync_rate.py

Runs the simulator (its own process, `jobplatform simulate fub`), an embedded Redis, the
applier and a worker on the fub_onboarding queue, with SQLite. Connects a user (which checks
the key) and times the onboarding job from its `started_at` to its `finished_at`:

1. At the real limit: 250 requests per sliding 10 s (the limit FUB gives a registered system,
   whose X-System headers the platform sends), 100 records a page: 600 requests.
   The minimum time for N requests under "at most L in any W seconds" is floor((N-1)/L)*W:
   250 at once, the next 250 no sooner than 10 s later, the last 100 at 20 s, so 20 s for
   600. (The issue's (600-250)/25 = 14 s is the bound of a token bucket refilling 25 a
   second; a sliding window allows at most 500 requests in any 14 s.)
2. With the limit off: the platform's own ceiling (parsing, upserts, tracking), records/s.

Last line: `onboarding/minimum ratio: <x>, final 429s: <n>` (429s the simulator answered
during the limited onboarding; the pacing aims for none).
"""

from __future__ import annotations

import os
import sys
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import (
    celery_worker,
    embedded_redis,
    free_port,
    fresh_database,
    process,
    wait_until,
    workdir,
)

PEOPLE, DEALS = 50_000, 10_000
LIMIT, WINDOW = 250, 10


def onboard(tmp: Path, env: dict[str, str], api_key: str, *, email: str) -> dict:
    """Connect a user with `api_key` and wait for the onboarding; its timings and counts."""
    import sqlalchemy as sa

    from jobplatform import create_app
    from jobplatform.extensions import db
    from jobplatform.jobs.models import Job
    from jobplatform.sync.integrations import connect
    from jobplatform.users.tokens import create_user

    app = create_app()
    with app.app_context():
        user = create_user(db.session, email)
        db.session.commit()
        _, job_id = connect(db.session, user.id, "fub", api_key, actor="bench")
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            db.session.rollback()
            job = db.session.get(Job, job_id)
            if job.status in ("complete", "error", "cancelled"):
                break
            time.sleep(0.2)
        assert job.status == "complete", (job.status, job.error_message)
        seconds = (job.finished_at - job.started_at).total_seconds()
        result = dict(job.result)
        contacts = db.session.scalar(sa.text(
            "SELECT count(*) FROM contacts WHERE user_id = :u"), {"u": user.id})
        db.engine.dispose()
    return {"seconds": seconds, "result": result, "stored": contacts}


def main() -> None:
    from jobplatform.simulators import SimulatorControl

    with workdir() as tmp, embedded_redis(tmp / "redis") as redis_url:
        env = {**os.environ, "JOBPLATFORM_BROKER_URL": redis_url,
               "JOBPLATFORM_JOURNAL_URL": redis_url,
               "JOBPLATFORM_INSTANCE_PATH": str(tmp / "instance"),
               "JOBPLATFORM_DATABASE_URL": f"sqlite:///{tmp}/sync.db",
               "JOBPLATFORM_SECRET_KEY": "bench",
               "JOBPLATFORM_FUB_SYSTEM": "jobplatform", "JOBPLATFORM_FUB_SYSTEM_KEY": "bench"}
        runs = {}
        for name, limit in (("limited", LIMIT), ("unlimited", 0)):
            port = free_port()
            env["JOBPLATFORM_FUB_BASE_URL"] = f"http://127.0.0.1:{port}/v1"
            os.environ.update(env)
            fresh_database(env["JOBPLATFORM_DATABASE_URL"])
            simulator = [sys.executable, "-m", "jobplatform", "simulate", "fub", "--port",
                         str(port), "--people", str(PEOPLE), "--deals", str(DEALS),
                         "--rate-limit", str(limit)]
            with process(simulator, env, tmp / f"sim-{name}.log"), \
                    process([sys.executable, "-m", "jobplatform", "applier"], env,
                            tmp / f"applier-{name}.log"), \
                    celery_worker("jobplatform", "fub_onboarding", env,
                                  tmp / f"worker-{name}.log"):
                control = SimulatorControl(f"http://127.0.0.1:{port}/_sim")
                wait_until(partial(_answers, control), 30, "the simulator to start", 0.2)
                key = f"bench-{name}"
                run = onboard(tmp, env, key, email=f"{name}@bench.example")
                run["stats"] = control.stats(key)
                runs[name] = run
            print(f"{name}: {run['result']['contacts']:,} contacts, {run['result']['deals']:,} "
                  f"deals in {run['seconds']:.1f} s; simulator: {run['stats']['requests']} "
                  f"requests, {run['stats']['rate_limited']} answered 429, "
                  f"{run['stats']['refused_twice']} refused twice", flush=True)

        limited = runs["limited"]
        requests = limited["stats"]["requests"] - 1  # the key check when connecting
        minimum = (requests - 1) // LIMIT * WINDOW
        unlimited = runs["unlimited"]
        records = unlimited["result"]["contacts"] + unlimited["result"]["deals"]
        ceiling = records / unlimited["seconds"]
        print(f"at the limit: {requests} requests in {limited['seconds']:.1f} s; the sliding "
              f"window's minimum is {minimum} s")
        print(f"limit off: {records:,} records in {unlimited['seconds']:.1f} s = "
              f"{ceiling:,.0f} records/s")
        print(f"onboarding/minimum ratio: {limited['seconds'] / minimum:.3f}, "
              f"final 429s: {limited['stats']['rate_limited']}")


def _answers(control) -> bool:
    try:
        control.stats()
    except Exception:  # not listening yet
        return False
    return True


if __name__ == "__main__":
    main()
