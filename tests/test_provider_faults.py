"""A provider that answers badly: garbage, JSON cut short, the wrong types, or nothing at all.

Each sync runs on the real worker against the simulator switched to that fault after the
integration was onboarded healthy. The job must end `error` with a message that says what the
provider did, within the provider timeout and its retries, and the worker must be free for
the next job.
"""

from __future__ import annotations

import pytest

from tests.test_sync_fub import connect

# Run again on another database or broker: see tests/conftest.py.
pytestmark = pytest.mark.broker

SYNC_TIMEOUT = 60  # the test suite's provider timeout is 2 s a request, retried five times


def onboard(client, user, store, worker, provider: str, api_key: str) -> None:
    job = connect(client, user, api_key, provider)["job"]
    store.wait_status(job["id"], "complete", timeout=60, process=worker)


def sync_now(client, user, store, worker, provider: str):
    response = client.post(f"/api/v2/integrations/{provider}/sync", headers=user.headers)
    assert response.status_code == 202, response.json
    return store.wait_status(response.json["id"], "complete", "error", timeout=SYNC_TIMEOUT,
                             process=worker)


@pytest.mark.parametrize(("provider", "kind", "message"), [
    ("fub", "garbage", "FUB answered /v1/people with something that is not JSON"),
    ("fub", "truncated", "FUB answered /v1/people with something that is not JSON"),
    ("fub", "wrong_types", "FUB sent people that do not have the documented shape"),
    ("rezen", "wrong_types", "reZEN sent transactions that do not have the documented shape"),
])
def test_a_malformed_answer_ends_the_sync_in_a_clear_error(
    client, make_user, store, worker, fub, rezen, api_key, provider, kind, message
):
    user = make_user()
    onboard(client, user, store, worker, provider, api_key)
    simulator = fub if provider == "fub" else rezen
    simulator.configure(malformed=kind, malformed_rate=1.0)

    job = sync_now(client, user, store, worker, provider)

    assert job.status == "error"
    assert message in job.error_message, job.error_message
    assert "Traceback" not in job.error_message
    simulator.configure(malformed_rate=0.0)
    assert sync_now(client, user, store, worker, provider).status == "complete"


def test_a_provider_that_hangs_is_timed_out_and_the_sync_retried_later(
    client, make_user, store, worker, fub, api_key
):
    user = make_user()
    onboard(client, user, store, worker, "fub", api_key)
    fub.configure(hang_seconds=5)  # longer than the 2 s the suite gives a request

    started = client.post("/api/v2/integrations/fub/sync", headers=user.headers)
    assert started.status_code == 202

    def timed_out() -> str | None:
        [integration] = client.get("/api/v2/integrations", headers=user.headers).json
        return integration["last_error"]

    from tests.support import wait_for

    # Each request gives up after the timeout and its retries; then the job waits to run
    # again, as after any outage, and says why.
    error = wait_for(timed_out, timeout=SYNC_TIMEOUT, message="the sync to time out",
                     process=worker)
    assert error.startswith("FUB is unavailable: timed out on /v1/people after 5 retries"), error
    fub.configure(hang_seconds=0)
    job = store.wait_status(started.json["id"], "complete", timeout=SYNC_TIMEOUT,
                            process=worker)
    assert job.retries == 1


def test_connecting_while_the_provider_answers_garbage_saves_nothing(
    client, make_user, fub, api_key
):
    user = make_user()
    fub.configure(malformed="garbage", malformed_rate=1.0)
    response = client.post("/api/v2/integrations", headers=user.headers,
                           json={"provider": "fub", "api_key": api_key})
    assert response.status_code == 502, response.json
    assert "not JSON" in response.json["error"]["message"]
    assert client.get("/api/v2/integrations", headers=user.headers).json == []
