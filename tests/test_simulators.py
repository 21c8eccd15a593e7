"""The FUB and reZEN simulators, spoken to over real HTTP on loopback."""

from __future__ import annotations

import hashlib
import itertools
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from jobplatform.simulators import FubSimulator, RezenSimulator, SimulatorControl

KEY = "agent-one"
OTHER = "agent-two"
SYSTEM = {"X-System": "jobplatform", "X-System-Key": "system-secret"}


@pytest.fixture(scope="module")
def fub() -> Iterator[FubSimulator]:
    with FubSimulator(seed=7, people=450, deals=60, rate_limit=0) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def rezen() -> Iterator[RezenSimulator]:
    with RezenSimulator(seed=7, transactions=120) as simulator:
        yield simulator


def fub_get(simulator: FubSimulator, path: str, key: str = KEY, **params: Any) -> httpx.Response:
    return httpx.get(f"{simulator.base_url}/{path}", params=params, auth=(key, ""), timeout=10)


def walk(simulator: FubSimulator, collection: str, key: str = KEY,
         **params: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every record of a list by following nextLink; also the metadata of each page."""
    records, metas = [], []
    with httpx.Client(auth=(key, ""), timeout=10) as client:
        response = client.get(f"{simulator.base_url}/{collection}", params=params)
        while True:
            assert response.status_code == 200, response.text
            body = response.json()
            records += body[collection]
            metas.append(body["_metadata"])
            if not body["_metadata"]["nextLink"]:
                return records, metas
            response = client.get(body["_metadata"]["nextLink"])


def visible_people(simulator: FubSimulator, key: str = KEY) -> list[dict[str, Any]]:
    """What `/people` lists by default: no Trash, id descending."""
    people = [p for p in simulator.dataset(key)["people"] if p["stage"] != "Trash"]
    return sorted(people, key=lambda p: p["id"], reverse=True)


def digest(data: Any) -> str:
    return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()


# Deterministic data and isolation


def test_same_seed_and_key_give_the_same_data() -> None:
    with FubSimulator(seed=3, people=50, deals=10) as one, \
            FubSimulator(seed=3, people=50, deals=10) as two, \
            FubSimulator(seed=4, people=50, deals=10) as other_seed:
        assert one.dataset(KEY) == two.dataset(KEY)
        assert one.dataset(KEY) != one.dataset(OTHER)
        assert one.dataset(KEY) != other_seed.dataset(KEY)
        assert one.mutate(KEY, people=3, new_people=1) == two.mutate(KEY, people=3, new_people=1)
    with RezenSimulator(seed=3, transactions=40) as one, \
            RezenSimulator(seed=3, transactions=40) as two:
        assert one.dataset(KEY) == two.dataset(KEY)
        assert one.dataset(KEY) != one.dataset(OTHER)


def test_data_is_the_same_in_another_process(fub: FubSimulator) -> None:
    script = (
        "import hashlib, orjson\n"
        "from jobplatform.simulators import FubSimulator\n"
        "sim = FubSimulator(seed=7, people=450, deals=60)\n"
        f"data = sim.dataset({KEY!r})\n"
        "print(hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest())\n"
    )
    with FubSimulator(seed=7, people=450, deals=60) as fresh:
        expected = digest(fresh.dataset(KEY))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60, check=True)
    assert result.stdout.strip() == expected


def test_a_key_sees_only_its_own_people(fub: FubSimulator) -> None:
    mine, _ = walk(fub, "people", limit=100, fields="allFields")
    theirs, _ = walk(fub, "people", key=OTHER, limit=100, fields="allFields")
    me = fub_get(fub, "me").json()
    assert mine == visible_people(fub)
    assert theirs == visible_people(fub, OTHER)
    assert {p["assignedUserId"] for p in mine} == {me["id"]}
    assert me["id"] not in {p["assignedUserId"] for p in theirs}


# Lists, paging and filters


def test_envelope_paging_and_next_link(fub: FubSimulator) -> None:
    records, metas = walk(fub, "people", limit=100)
    expected = visible_people(fub)
    assert [p["id"] for p in records] == sorted((p["id"] for p in expected), reverse=True)
    assert len(metas) == -(-len(expected) // 100)
    assert [m["offset"] for m in metas] == [100 * n for n in range(len(metas))]
    for meta in metas:
        assert meta["collection"] == "people"
        assert meta["limit"] == 100
        assert meta["total"] == len(expected)
    assert metas[0]["nextLink"].startswith(fub.base_url + "/people?")
    assert "next=" + metas[0]["next"] in metas[0]["nextLink"]
    assert metas[-1]["next"] is None
    assert metas[-1]["nextLink"] is None

    default = fub_get(fub, "people").json()
    assert default["_metadata"]["limit"] == 10
    assert len(default["people"]) == 10
    assert fub_get(fub, "people", limit=500).json()["_metadata"]["limit"] == 100


def test_next_token_alone_continues_the_query(fub: FubSimulator) -> None:
    first = fub_get(fub, "people", limit=5, sort="created").json()
    second = fub_get(fub, "people", limit=5, next=first["_metadata"]["next"]).json()
    created = [p["created"] for p in first["people"] + second["people"]]
    assert created == sorted(created)
    # The next five, not an empty or repeated page (either would pass the line above).
    ten = fub_get(fub, "people", limit=10, sort="created").json()["people"]
    assert first["people"] + second["people"] == ten
    assert fub_get(fub, "people", next="not-a-token").status_code == 400


def test_deep_offsets_are_refused(fub: FubSimulator) -> None:
    assert fub_get(fub, "people", offset=1999, limit=1).status_code == 200
    response = fub_get(fub, "people", offset=2000)
    assert response.status_code == 400
    assert response.json() == {"errorMessage": "Deep pagination disabled, use 'nextLink' url"}


def test_updated_after_and_sort_by_updated_find_changes() -> None:
    with FubSimulator(seed=11, people=300, deals=20, rate_limit=0) as sim:
        cursor = max(p["updated"] for p in sim.dataset(KEY)["people"])
        time.sleep(1.05)  # FUB timestamps have whole seconds
        changed = sim.mutate(KEY, people=7, new_people=2)
        expected = set(changed["people"]) | set(changed["new_people"])

        after, _ = walk(sim, "people", updatedAfter=cursor, includeTrash="true", limit=100)
        assert {p["id"] for p in after} == expected

        newest = fub_get(sim, "people", sort="-updated", limit=20, includeTrash="true").json()
        updated = [p["updated"] for p in newest["people"]]
        assert updated == sorted(updated, reverse=True)
        assert {p["id"] for p in newest["people"][:9]} == expected

        before, _ = walk(sim, "people", updatedBefore=cursor, includeTrash=1, limit=100)
        # Both bounds are strict: the person updated exactly at the cursor is in neither.
        people = sim.dataset(KEY)["people"]
        assert {p["id"] for p in before} == {p["id"] for p in people if p["updated"] < cursor}
        assert fub_get(sim, "people", updatedAfter="yesterday").status_code == 400
        assert fub_get(sim, "people", sort="colour").status_code == 400


def test_id_filters_and_projection(fub: FubSimulator) -> None:
    ids = sorted(p["id"] for p in visible_people(fub))
    low, high = ids[10], ids[20]
    records, _ = walk(fub, "people", idGreaterThan=low, idLessThan=high, limit=100)
    assert sorted(p["id"] for p in records) == ids[11:20]
    plain = fub_get(fub, "people", limit=100).json()["people"]
    full = fub_get(fub, "people", limit=100, fields="allFields").json()["people"]
    assert not any(k.startswith("custom") for p in plain for k in p)
    assert all("customBirthday" in p for p in full)
    assert {k for p in fub_get(fub, "people", fields="name").json()["people"] for k in p} == {
        "id", "name"}


def test_people_fields_follow_the_contract(fub: FubSimulator) -> None:
    people = fub.dataset(KEY)["people"]
    for person in people:
        assert isinstance(person["id"], int)
        assert person["name"] == f"{person['firstName']} {person['lastName']}"
        assert person["created"].endswith("Z")
        assert person["updated"] >= person["created"]
        for entry in person["emails"] + person["phones"]:
            assert {"value", "type", "isPrimary"} <= set(entry)
    flags = {type(e["isPrimary"]) for p in people for e in p["emails"] + p["phones"]}
    assert flags == {bool, int}
    assert any(p["stage"] == "Trash" for p in people)
    trash, _ = walk(fub, "people", includeTrash="true", limit=100)
    assert len(trash) == len(people)


def test_deals_hide_archived_and_deleted_and_may_lack_updated(fub: FubSimulator) -> None:
    everything = fub.dataset(KEY)["deals"]
    statuses = {d["status"] for d in everything}
    assert statuses == {"Active", "Archived", "Deleted"}
    assert any("updated" in d for d in everything)
    assert any("updated" not in d for d in everything)
    active, _ = walk(fub, "deals", limit=100)
    assert {d["status"] for d in active} == {"Active"}
    both, _ = walk(fub, "deals", includeArchived=1, includeDeleted=1, limit=100)
    assert sorted(d["id"] for d in both) == [d["id"] for d in everything]
    for collection in ("users", "pipelines", "stages"):
        body = fub_get(fub, collection).json()
        assert body["_metadata"]["collection"] == collection
        assert body[collection]


def test_people_moved_to_the_trash_leave_the_listing_but_not_include_trash() -> None:
    with FubSimulator(seed=5, people=120, deals=20) as sim:
        changed = sim.mutate(KEY, trashed_people=3, deleted_deals=2)
        trashed, deleted = set(changed["trashed_people"]), set(changed["deleted_deals"])
        listed, _ = walk(sim, "people", limit=100)
        assert len(trashed) == 3
        assert not trashed & {p["id"] for p in listed}
        with_trash, _ = walk(sim, "people", limit=100, includeTrash="true", sort="-updated")
        assert {p["id"] for p in with_trash[:3]} == trashed  # newest changes come first
        assert {p["stage"] for p in with_trash[:3]} == {"Trash"}
        live, _ = walk(sim, "deals", includeArchived=1, limit=100)
        assert len(deleted) == 2
        assert not deleted & {d["id"] for d in live}
        every, _ = walk(sim, "deals", includeArchived=1, includeDeleted=1, limit=100)
        assert {d["status"] for d in every if d["id"] in deleted} == {"Deleted"}


# Auth


def test_fub_auth_errors(fub: FubSimulator) -> None:
    invalid = fub_get(fub, "people", key="invalid-key")
    assert invalid.status_code == 401
    assert "errorMessage" in invalid.json()
    assert httpx.get(f"{fub.base_url}/people", timeout=10).status_code == 401
    expired = fub_get(fub, "me", key="expired-account")
    assert expired.status_code == 403
    assert "errorMessage" in expired.json()


def test_rezen_auth_errors_and_foreign_agents(rezen: RezenSimulator) -> None:
    invalid = httpx.get(f"{rezen.yenta_url}/users/me", headers={"X-API-KEY": "invalid-x"},
                        timeout=10)
    assert invalid.status_code == 401
    assert invalid.json()["com.real.commons.apierror.ApiError"]["message"] == "Not authorized."
    expired = httpx.get(f"{rezen.yenta_url}/users/me", headers={"X-API-KEY": "expired-x"},
                        timeout=10)
    assert expired.status_code == 403
    someone_else = rezen.yenta_id(OTHER)
    foreign = httpx.get(
        f"{rezen.arrakis_url}/transactions/participant/{someone_else}/transactions/OPEN",
        headers={"X-API-KEY": KEY}, timeout=10)
    assert foreign.status_code == 403
    assert "com.real.commons.apierror.ApiError" in foreign.json()


# Rate limits and faults


def test_sliding_window_headers_and_429() -> None:
    with FubSimulator(seed=1, people=20, deals=2, rate_limit=8, window_seconds=2) as sim:
        with httpx.Client(auth=(KEY, ""), headers=SYSTEM, timeout=10) as client:
            answers = [client.get(f"{sim.base_url}/people") for _ in range(9)]
        assert [a.status_code for a in answers] == [200] * 8 + [429]
        assert [int(a.headers["X-RateLimit-Remaining"]) for a in answers] == [*range(7, -1, -1), 0]
        assert {a.headers["X-RateLimit-Limit"] for a in answers} == {"8"}
        assert {a.headers["X-RateLimit-Window"] for a in answers} == {"2"}
        assert {a.headers["X-RateLimit-Context"] for a in answers} == {"global"}
        assert 1 <= int(answers[-1].headers["Retry-After"]) <= 2
        # Without a system key the limit is halved.
        other = httpx.get(f"{sim.base_url}/people", auth=(OTHER, ""), timeout=10)
        assert other.headers["X-RateLimit-Limit"] == "4"
        stats = sim.stats(KEY)
        assert stats["requests"] == 9
        assert stats["ok"] == 8
        assert stats["rate_limited"] == 1

        time.sleep(int(answers[-1].headers["Retry-After"]))
        assert httpx.get(f"{sim.base_url}/people", auth=(KEY, ""), headers=SYSTEM,
                         timeout=10).status_code == 200


def test_default_window_is_ten_seconds() -> None:
    with FubSimulator(seed=1, people=5, deals=1) as sim:
        response = fub_get(sim, "me")
        assert response.headers["X-RateLimit-Window"] == "10"
        assert response.headers["X-RateLimit-Limit"] == "125"


def test_refused_twice_counts_retries_before_retry_after() -> None:
    with FubSimulator(seed=1, people=5, deals=1, rate_limit=2, window_seconds=5) as sim:
        statuses = [fub_get(sim, "me").status_code for _ in range(4)]
        assert statuses == [200, 429, 429, 429]
        assert sim.stats(KEY)["rate_limited"] == 3
        assert sim.stats(KEY)["refused_twice"] == 2


def test_rezen_429_carries_retry_after_only_sometimes() -> None:
    with RezenSimulator(seed=5, transactions=5, rate_limit=1, window_seconds=30) as sim:
        with httpx.Client(headers={"X-API-KEY": KEY}, timeout=10) as client:
            answers = [client.get(f"{sim.yenta_url}/users/me") for _ in range(20)]
        assert answers[0].status_code == 200
        refused = answers[1:]
        assert {a.status_code for a in refused} == {429}
        told = [a for a in refused if "Retry-After" in a.headers]
        assert 0 < len(told) < len(refused)
        assert sim.stats(KEY)["rate_limited"] == 19


def test_faults_answer_5xx() -> None:
    with FubSimulator(seed=2, people=5, deals=1, rate_limit=0, error_rate=1.0) as sim:
        statuses = {fub_get(sim, "people").status_code for _ in range(30)}
        assert statuses <= {500, 502, 503}
        assert len(statuses) > 1
        assert sim.stats(KEY)["faults"] == 30
    with FubSimulator(seed=2, people=5, deals=1, latency_ms=150) as slow:
        started = time.monotonic()
        fub_get(slow, "me")
        assert time.monotonic() - started >= 0.15


# Changes over time, test hooks, command line


# The lifecycle group (/transactions/participant/{id}/transactions/{group}) each state is
# listed in: written out here, not taken from the simulator under test.
REZEN_GROUPS = {
    "OPEN": ("NEW", "APPROVED_FOR_CLOSING", "TERMINATION_REQUESTED", "LISTING_ACTIVE",
             "LISTING_IN_CONTRACT"),
    "CLOSED": ("PAYMENT_ACCEPTED", "SETTLED", "LISTING_CLOSED"),
    "TERMINATED": ("TERMINATED",),
}
REZEN_GROUP_OF = {state: group for group, states in REZEN_GROUPS.items() for state in states}


def rezen_group(sim: RezenSimulator, group: str, key: str = KEY) -> list[dict[str, Any]]:
    """Every transaction of the key's agent that arrakis lists in `group`, page by page."""
    url = (f"{sim.arrakis_url}/transactions/participant/{sim.yenta_id(key)}"
           f"/transactions/{group}")
    found: list[dict[str, Any]] = []
    with httpx.Client(headers={"X-API-KEY": key}, timeout=10) as client:
        for number in itertools.count():
            response = client.get(url, params={"pageNumber": number, "pageSize": 100})
            assert response.status_code == 200, response.text
            found += response.json()["transactions"]
            if not response.json()["hasNext"]:
                return found


def test_rezen_mutations_move_transactions_between_groups() -> None:
    with RezenSimulator(seed=9, transactions=200) as sim:
        before = {t["id"]: t["lifecycleState"]["state"] for t in sim.dataset(KEY)["transactions"]}
        changed = sim.mutate(KEY, transactions=150, new_transactions=3)
        after = {t["id"]: t["lifecycleState"]["state"] for t in sim.dataset(KEY)["transactions"]}
        assert set(changed["new_transactions"]) == set(after) - set(before)
        moved = [i for i in changed["transactions"] if before[i] != after[i]]
        assert moved
        # Some leave their lifecycle group (OPEN to CLOSED or TERMINATED): a move within one
        # (NEW to APPROVED_FOR_CLOSING, say) is not what this test is about.
        crossed = {i for i in moved if REZEN_GROUP_OF[before[i]] != REZEN_GROUP_OF[after[i]]}
        assert crossed
        # The group listings follow them: each is listed in its new group only.
        listed = {group: {t["id"] for t in rezen_group(sim, group)} for group in REZEN_GROUPS}
        for i in crossed:
            assert {g for g, ids in listed.items() if i in ids} == {REZEN_GROUP_OF[after[i]]}


def test_churn_changes_records_as_time_passes() -> None:
    with FubSimulator(seed=4, people=100, deals=10, churn_per_minute=1200) as sim:
        cursor = max(p["updated"] for p in sim.dataset(KEY)["people"])
        time.sleep(1.2)
        changed, _ = walk(sim, "people", updatedAfter=cursor, includeTrash=1, limit=100)
        assert 5 <= len(changed) <= 40


def test_hooks_over_http(fub: FubSimulator) -> None:
    with SimulatorControl(fub.control_url) as control:
        changed = control.mutate(OTHER, people=2, new_people=1)
        assert len(changed["people"]) == 2
        assert len(changed["new_people"]) == 1
        assert control.dataset(OTHER) == orjson.loads(orjson.dumps(fub.dataset(OTHER)))
        # A key only this test uses; the totals hold the other tests' requests too, so they
        # are judged by what this test's one request adds.
        own = "agent-hooks"
        before = control.stats()
        assert fub_get(fub, "me", key=own).status_code == 200
        assert control.stats(own) == fub.stats(own) == {
            "requests": 1, "ok": 1, "client_errors": 0, "rate_limited": 0, "refused_twice": 0,
            "faults": 0}
        after = control.stats()
        assert after == fub.stats()
        assert {k: after[k] - before[k] for k in ("keys", "requests", "ok")} == {
            "keys": 1, "requests": 1, "ok": 1}
    bad = httpx.post(f"{fub.control_url}/mutate", json={"api_key": KEY, "houses": 1}, timeout=10)
    assert bad.status_code == 400


def test_command_line_serves_until_terminated() -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", "from jobplatform.cli.simulate import simulate; simulate()",
         "fub", "--people", "30", "--seed", "7", "--rate-limit", "0"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        base_url = first.split()[-1]
        assert base_url.startswith("http://127.0.0.1:")
        assert base_url.endswith("/v1")
        response = httpx.get(f"{base_url}/people", auth=(KEY, ""),
                             params={"limit": 100, "fields": "allFields"}, timeout=10)
        with FubSimulator(seed=7, people=30) as same:
            assert response.json()["people"] == visible_people(same)
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
    assert process.returncode == 0
