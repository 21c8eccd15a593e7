"""Connecting providers through the API: the key is checked, errors are clear, nothing leaks."""

from __future__ import annotations

import pytest


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
