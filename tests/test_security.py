"""The security boundary, tried from outside: every route as no one and as someone else, every
place a secret could leak to, and SQL that never carries a value in its text.

(The dashboard's escaping of whatever a job carries is tests/test_dashboard_states.py's, in
Chromium.)
"""

from __future__ import annotations

import io
import re
import uuid
from pathlib import Path

import httpx
import pytest
import redis
import sqlalchemy as sa

from jobplatform.extensions import db
from tests.conftest import broker_is_redis
from tests.support import ApiUser, wait_for

# Run again on another database or broker: see tests/conftest.py.
pytestmark = [pytest.mark.database, pytest.mark.broker]

JOB_ID = "{job_id}"
PROVIDER = "{provider}"


def served_operations(base_url: str) -> list[tuple[str, str, bool]]:
    """(method, path, public) for every operation the served document describes."""
    document = httpx.get(f"{base_url}/api/v2/openapi.json", timeout=10).json()
    return [(method, path, operation.get("security") == [])
            for path, methods in document["paths"].items()
            for method, operation in methods.items()]


def call(base_url: str, method: str, path: str, user: ApiUser | None, **kwargs):
    headers = user.headers if user else {}
    return httpx.request(method.upper(), f"{base_url}{path}", headers=headers, timeout=30,
                         **kwargs)


@pytest.fixture
def owner_with_data(web_server, make_user, store, worker, redis_client, api_key):
    """A user with an onboarded FUB integration, an ended job and one still running."""
    owner = make_user()
    base = web_server.base_url
    connected = call(base, "post", "/api/v2/integrations", owner,
                     json={"provider": "fub", "api_key": api_key})
    assert connected.status_code == 201, connected.text
    store.wait_status(connected.json()["job"]["id"], "complete", timeout=60, process=worker)
    gate = f"test-gate:{uuid.uuid4()}"
    running = call(base, "post", "/api/v2/jobs", owner,
                   json={"type": "test_gate", "params": {"gate": gate}}).json()["id"]
    store.wait_status(running, "processing", process=worker)
    yield owner, connected.json()["job"]["id"], running
    redis_client.set(gate, 1, ex=60)
    store.wait_status(running, "complete", "cancelled", process=worker)


def test_every_route_needs_a_token_and_shows_no_one_else_s_data(
    web_server, make_user, store, owner_with_data
):
    owner, ended, running = owner_with_data
    other = make_user()
    base = web_server.base_url
    before = {job: (store.job(job).status, store.job(job).cancel_requested)
              for job in (ended, running)}
    operations = served_operations(base)
    assert len(operations) >= 20

    for method, path, public in operations:
        for job_id in (ended, running):
            concrete = path.replace(JOB_ID, job_id).replace(PROVIDER, "fub")
            anonymous = call(base, method, concrete, None)
            if not public:
                assert anonymous.status_code == 401, (method, concrete, anonymous.text)
            as_other = call(base, method, concrete, other, json={})
            assert as_other.status_code < 500, (method, concrete, as_other.text)
            # The owner's thing, named by id (a public page is a shell that holds no data).
            if (JOB_ID in path or PROVIDER in path) and not public:
                assert as_other.status_code in (401, 403, 404, 405, 409, 415), \
                    (method, concrete, as_other.status_code, as_other.text)
                if path.startswith("/api/"):
                    assert "error" in as_other.json(), (method, concrete, as_other.text)
                seen = as_other.text.replace(job_id, "")  # the id it was sent may be echoed
            else:
                seen = as_other.text
            assert job_id not in seen, (method, concrete)
            assert owner.email not in seen, (method, concrete)

    # Nothing the other user sent changed the owner's jobs or integration.
    assert {job: (store.job(job).status, store.job(job).cancel_requested)
            for job in (ended, running)} == before
    listed = call(base, "get", "/api/v2/integrations", owner).json()
    assert [i["provider"] for i in listed] == ["fub"]


def everything_in_redis(url: str) -> str:
    """Every key and value of every type, journal stream entries included, as text."""
    client = redis.Redis.from_url(url)
    parts = []
    for key in client.scan_iter(count=1000):
        kind = client.type(key).decode()
        if kind == "string":
            value = client.get(key)
        elif kind == "hash":
            value = client.hgetall(key)
        elif kind == "list":
            value = client.lrange(key, 0, -1)
        elif kind == "set":
            value = client.smembers(key)
        elif kind == "zset":
            value = client.zrange(key, 0, -1, withscores=True)
        elif kind == "stream":
            value = client.xrange(key)
        else:
            value = kind
        parts.append(f"{key!r} {value!r}")
    return "\n".join(parts)


def everything_in_the_database() -> str:
    """Every row of every table, as text."""
    db.session.rollback()
    parts = []
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(sa.select(table)).all():
            parts.append(f"{table.name} {tuple(row)!r}")
    db.session.rollback()
    return "\n".join(parts)


def everything_on_disk(*roots: Path) -> str:
    parts = []
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and path.suffix not in (".db", ".db-wal", ".db-shm"):
                parts.append(path.read_bytes().decode(errors="replace"))
    return "\n".join(parts)


def test_tokens_and_provider_keys_appear_nowhere_after_a_full_scenario(
    web_server, make_user, store, worker, applier, api_key, fub, tmp_path
):
    import os

    user = make_user()
    base = web_server.base_url
    rezen_key, wrong_key = f"key-{uuid.uuid4().hex}", f"invalid-key-{uuid.uuid4().hex[:12]}"
    secrets = {"API token": user.token, "FUB key": api_key, "reZEN key": rezen_key,
               "rejected key": wrong_key}

    jobs = []
    for provider, key in (("fub", api_key), ("rezen", rezen_key)):
        made = call(base, "post", "/api/v2/integrations", user,
                    json={"provider": provider, "api_key": key})
        assert made.status_code == 201, made.text
        jobs.append(made.json()["job"]["id"])
    refused = call(base, "post", "/api/v2/integrations", user,
                   json={"provider": "fub", "api_key": wrong_key})
    assert refused.status_code == 422
    for job_id in jobs:
        store.wait_status(job_id, "complete", timeout=60, process=worker)
    fub.configure(error_rate=1.0)  # a failing sync: errors and retries are logged too
    failing = call(base, "post", "/api/v2/integrations/fub/sync", user).json()["id"]
    wait_for(lambda: store.job(failing).retries >= 1 or store.job(failing).status == "error",
             timeout=60, message="the failing sync to retry", process=worker)
    fub.configure(error_rate=0.0)
    upload = call(base, "post", "/api/v2/imports/files", user, files={
        "file": ("contacts.csv", io.BytesIO(b"name,email\nAna,ana@example.com\n"), "text/csv")})
    export = call(base, "post", "/api/v2/jobs", user, json={"type": "contacts_export"})
    for job_id in (upload.json()["id"], export.json()["id"]):
        store.wait_status(job_id, "complete", timeout=60, process=worker)
        call(base, "get", f"/api/v2/jobs/{job_id}", user)
    responses = "\n".join(call(base, "get", path, user).text for path in (
        "/api/v2/integrations", "/api/v2/jobs", "/api/v2/me", "/api/v2/schedules"))

    places = {
        "API responses": responses,
        "web, worker and applier logs": everything_on_disk(
            web_server.log_path.parent, worker.log_path.parent, applier.log_path.parent),
        "instance folder": everything_on_disk(Path(os.environ["JOBPLATFORM_INSTANCE_PATH"])),
        "the journal's Redis": everything_in_redis(os.environ["JOBPLATFORM_JOURNAL_URL"]),
        "the database": everything_in_the_database(),
    }
    if broker_is_redis():
        places["the broker"] = everything_in_redis(os.environ["JOBPLATFORM_BROKER_URL"])
    leaks = [(what, where) for what, secret in secrets.items()
             for where, text in places.items() if secret in text]
    assert leaks == []
    assert len(places["the database"]) > 1000  # the dump really holds the scenario's rows
    assert jobs[0] in places["the database"]


def test_sql_never_carries_a_value_in_its_text(app, client, make_user, store):
    """Hostile text through every input the API takes, and through the journal as the
    applier applies it: it must reach the database only as bound parameters."""
    from jobplatform.database import begin_write
    from jobplatform.jobs.journal import EntryKind, entry
    from jobplatform.jobs.store import apply_entries

    marker = "x'); DROP TABLE jobs; --" + uuid.uuid4().hex[:8]
    statements: list[str] = []
    parameters: list[str] = []

    def capture(conn, cursor, statement, params, context, executemany):
        statements.append(statement)
        parameters.append(repr(params))

    sa.event.listen(db.engine, "before_cursor_execute", capture)
    try:
        user, admin = make_user(), make_user(admin=True)
        created = client.post("/api/v2/jobs", headers={**user.headers,
                                                       "Idempotency-Key": marker},
                              json={"type": "test_steps", "params": {"count": 1}})
        assert created.status_code == 202, created.json
        for path, params in [("/api/v2/jobs", {"q": marker}), ("/api/v2/jobs", {"type": marker}),
                             ("/api/v2/jobs/counts", {}), ("/api/v2/users", {"q": marker})]:
            assert client.get(path, headers=admin.headers, query_string=params).status_code < 500
        client.post("/api/v2/jobs/bulk/cancel", headers=user.headers,
                    json={"q": marker, "dry_run": True})
        job_id = str(uuid.uuid4())
        apply_entries(begin_write(db.session), [
            entry(job_id, EntryKind.PENDING, task="jobplatform.general.test_noop",
                  type="test_noop", queue="general", user_id=user.id,
                  params={"note": marker}, actor=marker),
            entry(job_id, EntryKind.ERROR, actor=marker, error_type=marker,
                  error_message=marker, traceback=marker)])
        db.session.commit()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", capture)

    assert statements
    assert [s for s in statements if marker in s or "DROP TABLE" in s] == []
    assert any(marker in p for p in parameters)  # it did reach the database, bound
    assert store.job(job_id).error_message == marker
    assert re.search(r"jobs", " ".join(statements))
