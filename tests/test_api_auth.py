"""Who may call the API and whose jobs they see: tokens, and the user / admin matrix."""

from __future__ import annotations

import uuid

import pytest

from tests.support import seed_job

# Run again on another database or broker: see tests/conftest.py.
pytestmark = pytest.mark.database

ENDPOINTS = [
    ("get", "/api/v2/job-queue-status"),
    ("get", "/api/v2/jobs"),
    ("get", "/api/v2/jobs/active"),
    ("get", "/api/v2/jobs/counts"),
    ("get", "/api/v2/jobs/00000000-0000-0000-0000-000000000000"),
    ("post", "/api/v2/jobs"),
    ("post", "/api/v2/jobs/00000000-0000-0000-0000-000000000000/cancel"),
    ("post", "/api/v2/jobs/00000000-0000-0000-0000-000000000000/retry"),
    ("post", "/api/v2/imports/files"),
    ("get", "/api/v2/job-queue-status/history"),
    ("post", "/api/v2/jobs/bulk/retry"),
    ("post", "/api/v2/jobs/bulk/cancel"),
    ("get", "/api/v2/jobs/00000000-0000-0000-0000-000000000000/file"),
    ("get", "/api/v2/users"),
    ("get", "/api/v2/me"),
    ("get", "/api/v2/schedules"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@pytest.mark.parametrize("header", [None, "Bearer jp_not-a-real-token", "Basic dXNlcjpwYXNz",
                                    "Bearer ", "jp_token-without-scheme"])
def test_every_endpoint_needs_a_valid_token(client, method, path, header):
    headers = {"Authorization": header} if header is not None else {}
    response = getattr(client, method)(path, headers=headers)
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"
    assert "token" in response.json["error"]["message"].lower() or "bearer" in \
        response.json["error"]["message"].lower()
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_user_sees_only_their_own_jobs(client, make_user):
    alice, bob = make_user(), make_user()
    alices = seed_job(user_id=alice.id, summary="Alice's export")
    bobs = seed_job(user_id=bob.id, summary="Bob's export")

    listed = client.get("/api/v2/jobs", headers=alice.headers).json["jobs"]
    assert [job["id"] for job in listed] == [alices]
    assert client.get(f"/api/v2/jobs/{alices}", headers=alice.headers).status_code == 200

    other = client.get(f"/api/v2/jobs/{bobs}", headers=alice.headers)
    assert other.status_code == 404  # not 403: another user's job ids reveal nothing
    assert client.post(f"/api/v2/jobs/{bobs}/cancel", headers=alice.headers).status_code == 404
    assert client.post(f"/api/v2/jobs/{bobs}/retry", headers=alice.headers).status_code == 404


def test_a_user_filtering_by_someone_else_is_forbidden(client, make_user):
    alice, bob = make_user(), make_user()
    for path in ("/api/v2/jobs", "/api/v2/job-queue-status", "/api/v2/jobs/counts"):
        own = client.get(f"{path}?user_id={alice.id}", headers=alice.headers)
        assert own.status_code == 200
        other = client.get(f"{path}?user_id={bob.id}", headers=alice.headers)
        assert other.status_code == 403
        assert other.json["error"]["details"][0]["field"] == "user_id"
    system = client.get("/api/v2/jobs?include_system=true", headers=alice.headers)
    assert system.status_code == 403


def test_an_admin_sees_everyone_and_may_filter_by_user(client, make_user):
    admin, alice, bob = make_user(admin=True), make_user(), make_user()
    alices = seed_job(user_id=alice.id, status="error")
    bobs = seed_job(user_id=bob.id)

    everyone = {job["id"] for job in
                client.get("/api/v2/jobs?limit=200", headers=admin.headers).json["jobs"]}
    assert {alices, bobs} <= everyone
    only_bob = client.get(f"/api/v2/jobs?user_id={bob.id}", headers=admin.headers).json["jobs"]
    assert [job["id"] for job in only_bob] == [bobs]

    detail = client.get(f"/api/v2/jobs/{alices}", headers=admin.headers).json
    assert detail["traceback"] == "Traceback: secret internals"
    own_view = client.get(f"/api/v2/jobs/{alices}", headers=alice.headers).json
    assert own_view["traceback"] is None  # operators only


def test_counts_are_scoped_like_the_jobs(client, make_user):
    admin, alice, bob = make_user(admin=True), make_user(), make_user()
    seed_job(user_id=alice.id, status="pending", queue="fub_sync", job_type="fub_sync")
    seed_job(user_id=alice.id, status="error", queue="fub_sync", job_type="fub_sync")
    seed_job(user_id=bob.id, status="pending", queue="fub_sync", job_type="fub_sync")

    def fub_sync(user) -> dict:
        body = client.get("/api/v2/job-queue-status", headers=user.headers).json
        return next(q for q in body["queues"] if q["queue"] == "fub_sync")

    assert (fub_sync(alice)["pending"], fub_sync(alice)["error"]) == (1, 1)
    assert (fub_sync(bob)["pending"], fub_sync(bob)["error"]) == (0 + 1, 0)
    as_admin = client.get(f"/api/v2/job-queue-status?user_id={alice.id}",
                          headers=admin.headers).json
    assert as_admin["user_id"] == alice.id
    assert next(q for q in as_admin["queues"] if q["queue"] == "fub_sync")["pending"] == 1
    counts = client.get("/api/v2/jobs/counts", headers=alice.headers).json
    assert counts == {"pending": 1, "processing": 0}


def test_users_create_prints_a_working_token_once_and_stores_only_its_hash(app, client):
    import sqlalchemy as sa

    from jobplatform.cli.users import users
    from jobplatform.extensions import db
    from jobplatform.users.models import ApiToken, User

    runner = app.test_cli_runner()
    email = f"ops-{uuid.uuid4().hex[:8]}@example.com"
    created = runner.invoke(users, ["create", email, "--admin"])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()  # the token alone on stdout; what it is goes to stderr
    assert f"created admin {email}" in created.stderr

    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v2/job-queue-status", headers=bearer).status_code == 200
    db.session.rollback()
    user = db.session.scalar(sa.select(User).where(User.email == email))
    stored = list(db.session.scalars(
        sa.select(ApiToken.token_hash).where(ApiToken.user_id == user.id)))
    assert user.is_admin
    assert len(stored) == 1
    assert token not in stored[0]

    twice = runner.invoke(users, ["create", email])
    assert twice.exit_code != 0
    assert "already exists" in twice.stderr
    another = runner.invoke(users, ["token", email])
    assert another.exit_code == 0
    assert another.stdout.strip() != token
    second = {"Authorization": f"Bearer {another.stdout.strip()}"}
    assert client.get("/api/v2/jobs", headers=second).status_code == 200
