"""API latency at 1,000,000 jobs, on SQLite and (where it answers) PostgreSQL.

    .venv/bin/python bench/api_latency.py       # JOBPLATFORM_BENCH_JOBS to change the size

Fills the job store by bulk insert (not through Celery): 1M jobs over 5,000 users, the four
queues and every status, 3 events each, and the counters that go with them. Then measures,
through the Flask app in this process (no network in the way), p50/p95 of:
  job-queue-status for everyone and for one user; the jobs list: first page and a deep
  cursor page, unfiltered and filtered (status, queue, type), for an admin and for one user;
  the list's free-text search (`q`, counted as list) for texts in no job, a few dozen, 0.25%,
  0.75%, 4% and 90% of the jobs, first and deep pages, 2-character texts, with a status and
  for one user; one job's detail.
Last line: `worst p95 ms: status <x>, list <y>, detail <z>` over both databases.
"""

from __future__ import annotations

import os
import random
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bulk_jobs import USERS, load
from bench.harness import (
    POSTGRES_URL,
    embedded_redis,
    percentile,
    postgres_reachable,
    workdir,
)

REQUESTS = 200


def measure(url: str, sample: list[dict]) -> dict[str, dict[str, float]]:
    """p50/p95 milliseconds per request kind."""
    from jobplatform import create_app
    from jobplatform.extensions import db
    from jobplatform.jobs.queries import encode_cursor
    from jobplatform.users.models import User
    from jobplatform.users.tokens import issue_token

    os.environ["JOBPLATFORM_DATABASE_URL"] = url
    app = create_app()
    client = app.test_client()
    user_id = Counter(job["user_id"] for job in sample if job["user_id"]).most_common(1)[0][0]
    with app.app_context():
        admin_token = issue_token(db.session, db.session.get(User, USERS + 1))
        user_token = issue_token(db.session, db.session.get(User, user_id))
        db.session.commit()
        db.engine.dispose()

    as_admin = {"Authorization": f"Bearer {admin_token}"}
    as_user = {"Authorization": f"Bearer {user_token}"}
    middle = sorted(sample, key=lambda job: job["created_at"])[len(sample) // 2]
    deep = encode_cursor((middle["created_at"], middle["id"]))
    rng = random.Random(2)
    cases = {
        "status all users": ("status", lambda: ("/api/v2/job-queue-status", as_admin)),
        "status one user": ("status", lambda: (f"/api/v2/job-queue-status?user_id={user_id}",
                                               as_admin)),
        "list first page": ("list", lambda: ("/api/v2/jobs", as_admin)),
        "list deep page": ("list", lambda: (f"/api/v2/jobs?cursor={deep}", as_admin)),
        "list status=error": ("list", lambda: ("/api/v2/jobs?status=error", as_admin)),
        "list status=error deep": ("list", lambda: (f"/api/v2/jobs?status=error&cursor={deep}",
                                                    as_admin)),
        "list queue=fub_onboarding": ("list", lambda: ("/api/v2/jobs?queue=fub_onboarding",
                                                       as_admin)),
        "list type=rezen_sync deep": ("list", lambda: (
            f"/api/v2/jobs?type=rezen_sync&cursor={deep}", as_admin)),
        "list one user": ("list", lambda: ("/api/v2/jobs", as_user)),
        "list one user status=error": ("list", lambda: ("/api/v2/jobs?status=error", as_user)),
        # Free-text search: words in 0%, ~0.005%, 0.25%, 0.75%, 4% and 90% of the jobs.
        "q no match": ("list", lambda: ("/api/v2/jobs?q=quokka", as_admin)),
        "q rare": ("list", lambda: ("/api/v2/jobs?q=escrow", as_admin)),
        "q uncommon": ("list", lambda: ("/api/v2/jobs?q=rejected", as_admin)),
        "q medium": ("list", lambda: ("/api/v2/jobs?q=timed+out", as_admin)),
        "q medium deep": ("list", lambda: (f"/api/v2/jobs?q=timed+out&cursor={deep}", as_admin)),
        "q frequent": ("list", lambda: ("/api/v2/jobs?q=limit", as_admin)),
        "q common": ("list", lambda: ("/api/v2/jobs?q=contacts", as_admin)),
        "q common deep": ("list", lambda: (f"/api/v2/jobs?q=contacts&cursor={deep}", as_admin)),
        "q 2 chars, no match": ("list", lambda: ("/api/v2/jobs?q=qz", as_admin)),
        "q 2 chars, common": ("list", lambda: ("/api/v2/jobs?q=de", as_admin)),
        "q status=error": ("list", lambda: ("/api/v2/jobs?q=rejected&status=error", as_admin)),
        "q one user": ("list", lambda: ("/api/v2/jobs?q=contacts", as_user)),
        "q one user rare": ("list", lambda: ("/api/v2/jobs?q=rejected", as_user)),
        "detail": ("detail", lambda: (f"/api/v2/jobs/{rng.choice(sample)['id']}", as_admin)),
    }
    results: dict[str, dict[str, float]] = {}
    with app.app_context():
        for name, (kind, request) in cases.items():
            timings = []
            for attempt in range(REQUESTS + 10):
                path, headers = request()
                start = time.perf_counter()
                response = client.get(path, headers=headers)
                elapsed = (time.perf_counter() - start) * 1000
                assert response.status_code == 200, (path, response.json)
                if attempt >= 10:  # the first few warm the caches
                    timings.append(elapsed)
            results[name] = {"kind": kind, "p50": percentile(timings, 50),
                             "p95": percentile(timings, 95)}
            print(f"  {name:<28} p50 {results[name]['p50']:6.1f} ms   "
                  f"p95 {results[name]['p95']:6.1f} ms", flush=True)
        db.engine.dispose()
    return results


def main() -> None:
    with workdir() as tmp, embedded_redis(tmp / "redis") as redis_url:
        os.environ.update(JOBPLATFORM_BROKER_URL=redis_url, JOBPLATFORM_JOURNAL_URL=redis_url,
                          JOBPLATFORM_INSTANCE_PATH=str(tmp / "instance"),
                          JOBPLATFORM_SECRET_KEY="bench")
        databases = {"sqlite": f"sqlite:///{tmp}/api.db"}
        if postgres_reachable():
            databases["postgresql"] = POSTGRES_URL
        else:
            print(f"PostgreSQL not reachable at {POSTGRES_URL}; SQLite only")
        worst = {"status": 0.0, "list": 0.0, "detail": 0.0}
        for name, url in databases.items():
            print(f"{name}:", flush=True)
            sample = load(url)
            for result in measure(url, sample).values():
                worst[result["kind"]] = max(worst[result["kind"]], result["p95"])
        print(f"worst p95 ms: status {worst['status']:.1f}, list {worst['list']:.1f}, "
              f"detail {worst['detail']:.1f}")


if __name__ == "__main__":
    main()
