"""FUB onboarding and sync, end to end: the API, a real worker, the FUB simulator on loopback."""

from __future__ import annotations

import re
import threading

import httpx
import pytest
import sqlalchemy as sa

from jobplatform.extensions import db
from jobplatform.sync.models import Contact, Deal, Integration
from tests.support import wait_for

# Run again on another database or broker: see tests/conftest.py.
pytestmark = [pytest.mark.database, pytest.mark.broker]


def connect(client, user, api_key: str, provider: str = "fub"):
    response = client.post("/api/v2/integrations", headers=user.headers,
                           json={"provider": provider, "api_key": api_key})
    assert response.status_code == 201, response.json
    return response.json


def stored(model, user_id: int) -> dict[str, object]:
    db.session.rollback()
    return {row.external_id: row for row in db.session.scalars(
        sa.select(model).where(model.user_id == user_id))}


def expected_people(fub, api_key: str) -> dict[str, dict]:
    """What onboarding should import: every person but those in the trash."""
    return {str(p["id"]): p for p in fub.dataset(api_key)["people"] if p["stage"] != "Trash"}


def expected_deals(fub, api_key: str) -> dict[str, dict]:
    return {str(d["id"]): d for d in fub.dataset(api_key)["deals"] if d["status"] != "Deleted"}


def onboarded(client, user, store, worker, fub, api_key):
    job = connect(client, user, api_key)["job"]
    assert job["type"] == "fub_onboarding"
    return store.wait_status(job["id"], "complete", timeout=60, process=worker)


def test_onboarding_imports_exactly_the_providers_data(client, make_user, store, worker, fub,
                                                       api_key):
    user = make_user()
    job = onboarded(client, user, store, worker, fub, api_key)

    people, deals = expected_people(fub, api_key), expected_deals(fub, api_key)
    contacts = stored(Contact, user.id)
    assert set(contacts) == set(people)
    assert set(stored(Deal, user.id)) == set(deals)
    some_id = next(iter(people))
    assert contacts[some_id].name == people[some_id]["name"]
    assert contacts[some_id].raw["id"] == people[some_id]["id"]
    assert job.result == {"contacts": len(people), "deals": len(deals)}
    assert job.summary == f"Imported {len(people):,} contacts, {len(deals):,} deals"
    assert (job.progress_current, job.progress_unit) == (len(deals), "deals")
    integration = db.session.scalar(sa.select(Integration).where(Integration.user_id == user.id))
    assert integration.onboarded_at is not None
    assert integration.sync_cursor is not None
    assert integration.checkpoint is None


def test_connecting_from_the_command_line_can_follow_onboarding_to_its_end(
    app, make_user, worker, fub, api_key
):
    from jobplatform.cli.integrations import integrations

    runner = app.test_cli_runner()
    user = make_user()
    done = runner.invoke(integrations, ["connect", str(user.id), "fub", "--api-key", api_key,
                                        "--wait"])

    assert done.exit_code == 0, done.output
    people, deals = expected_people(fub, api_key), expected_deals(fub, api_key)
    assert f"Imported {len(people):,} contacts, {len(deals):,} deals" in done.stdout
    # The progress bar, drawn once at its end when the output is not a terminal.
    assert re.search(rf"fub_onboarding .*{len(deals)}/{len(deals)} deals", done.output)
    assert api_key not in done.output
    rejected = runner.invoke(integrations, ["connect", str(make_user().id), "fub",
                                            "--api-key", "invalid-key", "--wait"])
    assert rejected.exit_code == 1
    assert "FUB rejected the API key" in rejected.stderr


def test_changes_after_onboarding_arrive_with_the_next_sync_and_nothing_else(
    client, make_user, store, worker, fub, api_key
):
    user = make_user()
    onboarded(client, user, store, worker, fub, api_key)
    before = {k: (c.updated_at, c.stage) for k, c in stored(Contact, user.id).items()}
    changed = fub.mutate(api_key, people=7, new_people=3)

    sync = client.post("/api/v2/integrations/fub/sync", headers=user.headers)
    assert sync.status_code == 202
    job = store.wait_status(sync.json["id"], "complete", timeout=60, process=worker)

    assert job.type == "fub_sync"
    # A person in FUB's trash that this user never had stays out, as in onboarding; one taken
    # out of the trash is new to this user.
    visible = expected_people(fub, api_key)
    touched = {str(i) for i in changed["people"] + changed["new_people"]}
    created = len({k for k in touched if k in visible and k not in before})
    updated = len({k for k in touched if k in before})
    assert created + updated > 0
    assert job.result["contacts"]["created"] == created
    assert job.result["contacts"]["updated"] == updated
    assert job.summary == f"Synced {created + updated} contacts, 0 deals"
    after = stored(Contact, user.id)
    for key, (updated_at, _) in before.items():
        if key not in touched:
            assert after[key].updated_at == updated_at  # untouched rows are not rewritten
    assert set(after) == set(visible)

    again = client.post("/api/v2/integrations/fub/sync", headers=user.headers)
    noop = store.wait_status(again.json["id"], "complete", timeout=60, process=worker)
    assert noop.summary == "Synced 0 contacts, 0 deals"  # a sync run twice changes nothing


def test_people_trashed_and_deals_deleted_in_fub_are_marked_so_by_the_next_sync(
    client, make_user, store, worker, fub
):
    # A key of this test's own: the simulator's data is fixed by (seed, key), so the new
    # people below include some born in the trash on every run.
    api_key = "key-trash-and-delete"
    user = make_user()
    onboarded(client, user, store, worker, fub, api_key)
    before = set(stored(Contact, user.id))
    deleted_before = {str(d["id"]) for d in fub.dataset(api_key)["deals"]
                      if d["status"] == "Deleted"}
    assert deleted_before  # each sync fetches these too: they must stay out
    changed = fub.mutate(api_key, trashed_people=2, deleted_deals=1, new_people=40)
    now = {str(p["id"]): p for p in fub.dataset(api_key)["people"]}
    born_in_trash = {str(i) for i in changed["new_people"] if now[str(i)]["stage"] == "Trash"}
    assert born_in_trash

    sync = client.post("/api/v2/integrations/fub/sync", headers=user.headers)
    job = store.wait_status(sync.json["id"], "complete", timeout=60, process=worker)

    contacts, deals = stored(Contact, user.id), stored(Deal, user.id)
    trashed = {str(i) for i in changed["trashed_people"]}
    assert trashed <= before
    assert {contacts[k].stage for k in trashed} == {"Trash"}
    assert deals[str(changed["deleted_deals"][0])].status == "Deleted"
    assert not born_in_trash & set(contacts)  # never had it: not imported
    assert not deleted_before & set(deals)
    contact_counts, deal_counts = job.result["contacts"], job.result["deals"]
    assert (contact_counts["created"], contact_counts["updated"]) == (
        40 - len(born_in_trash), 2)
    assert (deal_counts["created"], deal_counts["updated"]) == (0, 1)


def test_a_rate_limit_storm_still_completes_within_the_limit(
    client, make_user, store, worker, fub, api_key
):
    # A small window so the test is quick; a second client hammers the same key meanwhile.
    fub.configure(rate_limit=20, window_seconds=1.0, people=1500)
    user = make_user()
    stop = threading.Event()

    def hammer() -> None:
        """Bursts past the limit, then quiet for two windows: the job meets 429s, waits them
        out and goes on."""
        with httpx.Client(base_url=fub.base_url, auth=(api_key, "")) as other:
            while not stop.is_set():
                for _ in range(25):
                    other.get("/me")
                stop.wait(2.0)

    rival = threading.Thread(target=hammer, daemon=True)
    rival.start()
    try:
        job = onboarded(client, user, store, worker, fub, api_key)
    finally:
        stop.set()
        rival.join()

    assert job.result["contacts"] == len(expected_people(fub, api_key))
    log = store.logs(job.id)
    summary = next(line for line in log if line.startswith("FUB: "))
    rate_limited = int(re.search(r"(\d+) answered 429", summary).group(1))
    assert rate_limited > 0  # the storm happened and was ridden out
    assert any(line.startswith("FUB answered 429 on /v1/") for line in log)  # each recorded
    assert fub.stats(api_key)["rate_limited"] >= rate_limited


def test_a_rejected_key_ends_the_job_at_once_with_a_clear_error(
    client, make_user, store, worker, fub, api_key
):
    user = make_user()
    connect(client, user, api_key)
    onboarding = store.wait_status(
        client.get("/api/v2/jobs", headers=user.headers).json["jobs"][0]["id"], "complete",
        timeout=60, process=worker)
    # The account is closed at FUB after connecting: this key is now refused.
    db.session.rollback()
    integration = db.session.scalar(sa.select(Integration).where(Integration.user_id == user.id))
    from jobplatform.database import begin_write
    from jobplatform.sync import crypto

    begin_write(db.session)
    integration = db.session.get(Integration, integration.id)
    integration.api_key_encrypted = crypto.encrypt("test-secret-key", "invalid-" + api_key)
    db.session.commit()

    sync = client.post("/api/v2/integrations/fub/sync", headers=user.headers).json
    job = store.wait_status(sync["id"], "error", timeout=30, process=worker)

    assert job.error_type == "ProviderAuthError"
    assert job.error_message == "FUB rejected the API key"
    assert job.retries == 0
    assert onboarding.status == "complete"
    db.session.rollback()
    integration = db.session.get(Integration, integration.id)
    assert integration.enabled is False
    assert integration.last_error == "FUB rejected the API key"


def test_cancelling_onboarding_midway_leaves_consistent_data_and_a_retry_resumes(
    client, make_user, store, worker, fub, api_key
):
    fub.configure(people=2000, latency_ms=60)  # 20 pages of 100, slowly
    user = make_user()
    job_id = connect(client, user, api_key)["job"]["id"]

    def midway():
        job = store.job(job_id)
        return job.progress_current and 300 <= job.progress_current < 1500

    wait_for(midway, timeout=30, process=worker, message="onboarding midway")
    assert client.post(f"/api/v2/jobs/{job_id}/cancel", headers=user.headers).status_code == 202
    cancelled = store.wait_status(job_id, "cancelled", timeout=30, process=worker)

    db.session.rollback()
    integration = db.session.scalar(sa.select(Integration).where(Integration.user_id == user.id))
    done = integration.checkpoint["people"]
    assert len(stored(Contact, user.id)) == done  # whole pages only, matching the checkpoint
    assert done % 100 == 0
    assert integration.onboarded_at is None
    requests_before = fub.stats(api_key)["requests"]

    fub.configure(latency_ms=0)
    retried = client.post(f"/api/v2/jobs/{cancelled.id}/retry", headers=user.headers).json
    job = store.wait_status(retried["id"], "complete", timeout=60, process=worker)

    assert any(line.startswith("resuming onboarding from a checkpoint")
               for line in store.logs(job.id))
    people = expected_people(fub, api_key)
    assert set(stored(Contact, user.id)) == set(people)
    assert job.result["contacts"] == len(people)
    pages_fetched = fub.stats(api_key)["requests"] - requests_before
    assert pages_fetched <= (len(people) - done) // 100 + 1 + 2  # the rest, the deals, /me


def test_the_key_is_stored_encrypted_and_never_shown(client, make_user, store, worker, fub,
                                                     api_key):
    user = make_user()
    onboarded(client, user, store, worker, fub, api_key)

    listed = client.get("/api/v2/integrations", headers=user.headers)

    assert api_key not in listed.get_data(as_text=True)
    assert listed.json[0]["provider"] == "fub"
    assert listed.json[0]["enabled"] is True
    assert listed.json[0]["key_fingerprint"]
    db.session.rollback()
    row = db.session.scalar(sa.select(Integration).where(Integration.user_id == user.id))
    assert api_key not in row.api_key_encrypted
    for path in ("/api/v2/jobs?limit=200", "/metrics"):
        assert api_key not in client.get(path, headers=user.headers).get_data(as_text=True)
