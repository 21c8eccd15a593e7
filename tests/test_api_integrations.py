"""Connecting providers through the API: the key is checked, errors are clear, nothing leaks."""

from __future__ import annotations

import re
import time

import httpx
import pytest

# Run again on another database or broker: see tests/conftest.py.
pytestmark = [pytest.mark.database, pytest.mark.broker]


@pytest.mark.parametrize(("provider", "message"), [
    ("fub", "FUB rejected the API key"), ("rezen", "reZEN rejected the API key")])
def test_a_key_the_provider_rejects_is_refused_and_nothing_is_stored(
    client, make_user, provider, message
):
    user = make_user()
    response = client.post("/api/v2/integrations", headers=user.headers,
                           json={"provider": provider, "api_key": "invalid-key-123"})
    assert response.status_code == 422
    assert response.json["error"]["code"] == "key_rejected"
    assert response.json["error"]["message"].startswith(message)
    assert "invalid-key-123" not in response.get_data(as_text=True)
    assert client.get("/api/v2/integrations", headers=user.headers).json == []
    assert client.get("/api/v2/jobs", headers=user.headers).json["jobs"] == []


@pytest.mark.parametrize(("body", "field"), [
    ({"provider": "salesforce", "api_key": "k"}, "provider"),
    ({"provider": "fub"}, "api_key"),
    ({"provider": "fub", "api_key": ""}, "api_key"),
    ({"provider": "fub", "api_key": "k" * 501}, "api_key"),
    ({"provider": "rezen", "api_key": "k\u00b9y"}, "api_key"),  # a header carries ASCII only
    ({"provider": "fub", "api_key": "two words"}, "api_key"),
    ({"provider": 1, "api_key": "k"}, "provider"),
    ({"provider": "fub", "api_key": "k", "system_key": "s"}, "system_key"),
])
def test_bad_connect_requests_name_the_field(client, make_user, body, field):
    user = make_user()
    response = client.post("/api/v2/integrations", headers=user.headers, json=body)
    assert response.status_code == 400
    assert field in [d["field"] for d in response.json["error"]["details"]]


def test_disconnect_and_sync_need_a_connection(client, make_user, store, worker, api_key):
    user = make_user()
    assert client.post("/api/v2/integrations/fub/sync", headers=user.headers).status_code == 404
    assert client.delete("/api/v2/integrations/fub", headers=user.headers).status_code == 404
    assert client.delete("/api/v2/integrations/myspace", headers=user.headers).status_code == 404
    unknown = client.post("/api/v2/integrations/myspace/sync", headers=user.headers)
    assert unknown.status_code == 404
    assert "use one of fub, rezen" in unknown.json["error"]["message"]

    job_id = client.post("/api/v2/integrations", headers=user.headers,
                         json={"provider": "rezen", "api_key": api_key}).json["job"]["id"]
    store.wait_status(job_id, "complete", timeout=60, process=worker)
    deleted = client.delete("/api/v2/integrations/rezen", headers=user.headers)
    assert deleted.status_code == 200
    assert deleted.json == {"deleted": True}
    assert client.get("/api/v2/integrations", headers=user.headers).json == []
    kept = client.get(f"/api/v2/jobs/{job_id}", headers=user.headers)
    assert kept.status_code == 200, kept.json  # the synced job stays readable
    assert kept.json["id"] == job_id
    assert kept.json["status"] == "complete"


def test_a_provider_failing_the_check_is_asked_once_and_answered_503(
    client, make_user, rezen, api_key
):
    user = make_user()
    rezen.configure(error_rate=1.0)  # every answer a 500, 502 or 503

    started = time.monotonic()
    response = client.post("/api/v2/integrations", headers=user.headers,
                           json={"provider": "rezen", "api_key": api_key})

    assert time.monotonic() - started < 5
    assert response.status_code == 503, response.json
    assert response.json["error"]["code"] == "provider_unreachable"
    assert re.fullmatch(r"Could not reach reZEN \(it answered 50[023]\); nothing was saved\. "
                        r"Try again shortly\.", response.json["error"]["message"])
    assert response.headers["Retry-After"] == "5"
    assert rezen.stats(api_key)["requests"] == 1  # no retries inside a request: jobs retry
    assert client.get("/api/v2/integrations", headers=user.headers).json == []
    assert client.get("/api/v2/jobs", headers=user.headers).json["jobs"] == []


def test_a_provider_rate_limiting_the_key_is_a_503_that_says_when_to_try_again(
    client, make_user, fub, api_key
):
    user = make_user()
    fub.configure(rate_limit=2)  # one request a key per 10 s window (no X-System headers)
    # Someone else's use of the key takes this window's one request.
    assert httpx.get(f"{fub.base_url}/me", auth=(api_key, ""), timeout=5).status_code == 200

    started = time.monotonic()
    response = client.post("/api/v2/integrations", headers=user.headers,
                           json={"provider": "fub", "api_key": api_key})

    assert time.monotonic() - started < 5  # answered, not waited out
    assert response.status_code == 503, response.json
    wait = response.headers["Retry-After"]
    assert 1 <= int(wait) <= 10
    assert response.json["error"] == {
        "code": "provider_unreachable", "details": None,
        "message": f"FUB is rate limiting requests with this key (429); nothing was saved. "
                   f"Try again in {wait} s."}
    assert fub.stats(api_key)["requests"] == 2
    assert client.get("/api/v2/integrations", headers=user.headers).json == []
