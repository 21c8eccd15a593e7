"""The FUB and reZEN clients against the simulators, over real HTTP on loopback."""

from __future__ import annotations

import pickle
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from jobplatform.integrations import (
    GROUPS,
    FubClient,
    ProviderAuthError,
    ProviderError,
    ProviderUnavailable,
    RateLimitExceeded,
    RetryPolicy,
    RezenClient,
    parse_timestamp,
)
from jobplatform.integrations.pacing import RateLimitPacer
from jobplatform.simulators import FubSimulator, RezenSimulator

KEY = "agent-one"
SECRET_KEY = "invalid-s3cr3t-key-value"
FAST = RetryPolicy(backoff_base=0.01, backoff_cap=0.05)


@pytest.fixture(scope="module")
def fub() -> Iterator[FubSimulator]:
    with FubSimulator(seed=21, people=430, deals=70, rate_limit=0) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def rezen() -> Iterator[RezenSimulator]:
    with RezenSimulator(seed=21, transactions=230) as simulator:
        yield simulator


def ids(records: list[dict[str, Any]]) -> list[Any]:
    return [r["id"] for r in records]


def all_records(pages: Iterator[Any]) -> list[dict[str, Any]]:
    return [record for page in pages for record in page.records]


# FUB


def test_fub_client_walks_every_page_with_totals(fub: FubSimulator) -> None:
    data = fub.dataset(KEY)
    with FubClient(KEY, fub.base_url) as client:
        pages = list(client.people(include_trash=True))
        assert [p.total for p in pages] == [len(data["people"])] * 5
        assert sorted(all_records(iter(pages)), key=lambda p: p["id"]) == data["people"]
        assert pages[-1].checkpoint is None
        assert pages[0].checkpoint is not None
        visible = all_records(client.people())
        assert len(visible) == sum(p["stage"] != "Trash" for p in data["people"])
        deals = all_records(client.deals(include_archived=True, include_deleted=True))
        assert sorted(ids(deals)) == ids(data["deals"])
        assert {d["status"] for d in all_records(client.deals())} == {"Active"}
        assert client.me()["id"] == data["user"]["id"]
        assert client.users()
        assert client.pipelines()
        assert client.stages()
        assert client.stats.retries == 0


def test_fub_incremental_walk_stops_without_fetching_more_pages() -> None:
    with FubSimulator(seed=22, people=400, deals=10, rate_limit=0) as sim:
        cursor = max(p["updated"] for p in sim.dataset(KEY)["people"])
        time.sleep(1.05)
        changed = sim.mutate(KEY, people=6, new_people=1)
        since = parse_timestamp(cursor) - timedelta(seconds=1)  # a small overlap
        found = []
        with FubClient(KEY, sim.base_url) as client:
            for page in client.people(sort="-updated", include_trash=True, limit=25):
                fresh = [p for p in page.records if parse_timestamp(p["updated"]) >= since]
                found += fresh
                if len(fresh) < len(page.records):
                    break
            assert client.stats.requests == 1
        assert set(ids(found)) >= set(changed["people"]) | set(changed["new_people"])
        assert len(found) <= 8  # the changes and at most the cursor's own record


def test_fub_walk_resumes_from_a_checkpoint(fub: FubSimulator) -> None:
    with FubClient(KEY, fub.base_url) as client:
        pages = client.people(sort="created", limit=60)
        first = [next(pages), next(pages)]
        pages.close()
    checkpoint = first[-1].checkpoint
    assert checkpoint is not None
    with FubClient(KEY, fub.base_url) as retried_job:
        rest = all_records(retried_job.people(sort="created", limit=60, resume=checkpoint))
    with FubClient(KEY, fub.base_url) as other_job:
        by_link = all_records(other_job.people(sort="created", limit=60,
                                               resume=first[-1].next_link))
    walked = all_records(iter(first)) + rest
    assert by_link == rest
    assert len(set(ids(walked))) == len(walked)
    visible = [p for p in fub.dataset(KEY)["people"] if p["stage"] != "Trash"]
    assert ids(walked) == ids(sorted(visible, key=lambda p: (p["created"], p["id"])))


def test_fub_client_paces_through_several_windows_without_a_429() -> None:
    with FubSimulator(seed=23, people=2300, deals=5, rate_limit=10, window_seconds=1) as sim:
        started = time.monotonic()
        with FubClient(KEY, sim.base_url, system="jobplatform", system_key="sys") as client:
            records = all_records(client.people(include_trash=True))
            stats = client.stats
        elapsed = time.monotonic() - started
        assert len(records) == 2300
        assert stats.requests == 23
        assert stats.rate_limited == 0
        assert stats.retries == 0
        assert sim.stats(KEY)["rate_limited"] == 0
        assert elapsed >= 2.0  # 23 requests at 10 a window span at least three windows
        # It waited of its own accord (how long depends on how slow each request was).
        assert stats.paced_seconds > 0


def test_fub_clients_sharing_a_key_complete_through_a_429_storm() -> None:
    with FubSimulator(seed=24, people=1500, deals=5, rate_limit=10, window_seconds=1) as sim:
        expected = sorted(ids(sim.dataset(KEY)["people"]))
        results: dict[str, Any] = {}

        def run(name: str, pace: bool) -> None:
            with FubClient(KEY, sim.base_url, system="jobplatform", system_key="sys",
                           pace=pace, retry=RetryPolicy(max_rate_limit_retries=30)) as client:
                results[name] = (all_records(client.people(include_trash=True)), client.stats)

        threads = [threading.Thread(target=run, args=("paced", True)),
                   threading.Thread(target=run, args=("hammer", False))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        for records, _ in results.values():
            assert sorted(ids(records)) == expected
        seen = sum(stats.rate_limited for _, stats in results.values())
        assert seen > 0
        assert seen == sim.stats(KEY)["rate_limited"]
        assert results["hammer"][1].retries == results["hammer"][1].rate_limited


def test_an_unpaced_client_waits_as_told_after_429s() -> None:
    with FubSimulator(seed=25, people=1200, deals=5, rate_limit=10, window_seconds=1) as sim:
        with FubClient(KEY, sim.base_url, system="jobplatform", system_key="sys", pace=False,
                       retry=RetryPolicy(max_rate_limit_retries=5)) as client:
            records = all_records(client.people(include_trash=True))
            assert len(records) == 1200
            assert client.stats.rate_limited > 0
            assert client.stats.retries == client.stats.rate_limited
        assert sim.stats(KEY)["refused_twice"] == 0


def test_rate_limit_exceeded_once_retries_run_out() -> None:
    with FubSimulator(seed=26, people=10, deals=1, rate_limit=2, window_seconds=10) as sim:
        with FubClient(KEY, sim.base_url, pace=False,
                       retry=RetryPolicy(max_rate_limit_retries=0)) as client:
            client.me()
            with pytest.raises(RateLimitExceeded) as refused:
                client.me()
        assert str(refused.value).startswith("Rate limit exceeded")
        assert refused.value.status == 429
        assert refused.value.path == "/v1/me"
        assert refused.value.retryable
        with FubClient(KEY, sim.base_url, pace=False,
                       retry=RetryPolicy(max_retry_after=3)) as impatient:
            with pytest.raises(RateLimitExceeded):
                impatient.me()  # Retry-After ~10 s is longer than it may wait
            assert impatient.stats.requests == 1


def test_fub_server_errors_are_retried() -> None:
    with FubSimulator(seed=27, people=600, deals=5, rate_limit=0, error_rate=0.3) as sim:
        with FubClient(KEY, sim.base_url, retry=RetryPolicy(max_retries=10, backoff_base=0.01,
                                                            backoff_cap=0.05)) as client:
            records = all_records(client.people(include_trash=True))
            stats = client.stats
        assert sorted(ids(records)) == ids(sim.dataset(KEY)["people"])
        assert stats.server_errors > 0
        assert stats.retries == stats.server_errors
        assert sim.stats(KEY)["faults"] == stats.server_errors


def test_provider_unavailable_after_retries() -> None:
    with FubSimulator(seed=28, people=5, deals=1, rate_limit=0, error_rate=1.0) as sim:
        with FubClient(KEY, sim.base_url, retry=RetryPolicy(max_retries=2, backoff_base=0.01)
                       ) as client, pytest.raises(ProviderUnavailable) as failed:
            client.me()
        assert failed.value.status in (500, 502, 503)
        assert failed.value.retryable
        assert sim.stats(KEY)["requests"] == 3
    with FubSimulator(seed=28, people=5, deals=1, latency_ms=400) as slow:
        with FubClient(KEY, slow.base_url, timeout=0.1,
                       retry=RetryPolicy(max_retries=1, backoff_base=0.01)) as client:
            with pytest.raises(ProviderUnavailable) as timed_out:
                client.me()
            assert client.stats.transport_errors == 2
        assert timed_out.value.status is None
        assert "timed out" in str(timed_out.value)


def test_fub_bad_key_is_permanent_and_never_shown(fub: FubSimulator) -> None:
    before = fub.stats(SECRET_KEY)["requests"]
    with FubClient(SECRET_KEY, fub.base_url) as client:
        with pytest.raises(ProviderAuthError) as rejected:
            next(client.people())
        assert client.stats.retries == 0
        assert SECRET_KEY not in repr(client)
    assert fub.stats(SECRET_KEY)["requests"] == before + 1
    error = rejected.value
    assert (str(error), error.status, error.provider, error.path) == (
        "FUB rejected the API key", 401, "FUB", "/v1/people")
    assert not error.retryable
    for text in (str(error), repr(error), repr(error.args), str(error.detail)):
        assert SECRET_KEY not in text
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is ProviderAuthError
    assert copy.status == 401
    assert str(copy) == str(error)
    with FubClient("expired-account", fub.base_url) as client, \
            pytest.raises(ProviderAuthError) as inactive:
        client.me()
    assert str(inactive.value) == "FUB account is not active (403)"


def test_other_client_errors_are_not_retried(fub: FubSimulator) -> None:
    with FubClient(KEY, fub.base_url) as client:
        with pytest.raises(ProviderError) as bad:
            next(client.people(sort="colour"))
        assert bad.value.status == 400
        assert "Invalid sort field" in str(bad.value)
        assert client.stats.requests == 1


def test_pacer_trusts_remaining_when_another_client_uses_the_key() -> None:
    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    pacer = RateLimitPacer(clock=lambda: now[0], sleep=sleep)
    headers = {"X-RateLimit-Limit": "10", "X-RateLimit-Window": "10"}
    pacer.observe({**headers, "X-RateLimit-Remaining": "9"}, admitted=True)
    assert pacer.wait() == 0
    now[0] = 1.0
    # Our count says 8 left; the server says none, so wait for our own request to expire.
    pacer.observe({**headers, "X-RateLimit-Remaining": "0"}, admitted=True)
    assert pacer.wait() == pytest.approx(9.05)  # from t=1 until t=0 + 10 + margin
    pacer.block(3)
    assert pacer.wait() == pytest.approx(3)


# reZEN


def test_rezen_client_walks_the_three_groups(rezen: RezenSimulator) -> None:
    data = rezen.dataset(KEY)
    with RezenClient(KEY, rezen.arrakis_url, rezen.yenta_url) as client:
        yenta_id = client.me()
        assert yenta_id == data["agent"]["id"] == client.agent()["id"]
        walked: dict[str, list[dict[str, Any]]] = {}
        for group in GROUPS:
            pages = list(client.transactions(yenta_id, group, page_size=20))
            assert [p.page_number for p in pages] == list(range(len(pages)))
            assert all(p.has_next for p in pages[:-1])
            assert not pages[-1].has_next
            walked[group] = all_records(iter(pages))
    assert all(walked.values())
    everything = [t for records in walked.values() for t in records]
    assert sorted(ids(everything)) == ids(data["transactions"])
    assert {t["lifecycleState"]["state"] for t in walked["TERMINATED"]} == {"TERMINATED"}
    assert "SETTLED" in {t["lifecycleState"]["state"] for t in walked["CLOSED"]}
    updated = [parse_timestamp(t["updatedAt"]) for t in walked["OPEN"]]
    assert updated == sorted(updated, reverse=True)


def test_rezen_walk_resumes_from_a_page(rezen: RezenSimulator) -> None:
    with RezenClient(KEY, rezen.arrakis_url, rezen.yenta_url) as client:
        yenta_id = client.me()
        pages = client.transactions(yenta_id, "CLOSED", page_size=15)
        first = next(pages)
        pages.close()
        assert first.next_page == 1
        rest = all_records(client.transactions(yenta_id, "CLOSED", page_size=15,
                                               start_page=first.next_page))
        whole = all_records(client.transactions(yenta_id, "CLOSED", page_size=15))
    assert first.records + rest == whole


def test_rezen_dates_parse_in_all_three_formats(rezen: RezenSimulator) -> None:
    fields = ("contractAcceptanceDate", "closingDateEstimated", "closedAt", "createdAt",
              "updatedAt")
    values = [t[f] for t in rezen.dataset(KEY)["transactions"] for f in fields
              if t[f] is not None]
    kinds = {type(v).__name__ if not isinstance(v, str) else
             "digits" if v.isdigit() else "date" if len(v) == 10 else "datetime" for v in values}
    assert kinds == {"int", "digits", "date", "datetime"}
    for value in values:
        parsed = parse_timestamp(value)
        assert parsed is not None
        assert parsed.tzinfo is UTC
        assert datetime(2015, 1, 1, tzinfo=UTC) < parsed < datetime.now(UTC) + timedelta(days=400)


def test_parse_timestamp_forms() -> None:
    moment = datetime(2024, 3, 1, 17, 30, 5, tzinfo=UTC)
    millis = int(moment.timestamp() * 1000)
    assert parse_timestamp(millis) == moment
    assert parse_timestamp(str(millis)) == moment
    assert parse_timestamp("2024-03-01T17:30:05Z") == moment
    assert parse_timestamp("2024-03-01T17:30:05.000000000Z") == moment
    assert parse_timestamp("2024-03-01T12:30:05-05:00") == moment
    assert parse_timestamp("2024-03-01T17:30:05") == moment
    assert parse_timestamp("2024-03-01") == datetime(2024, 3, 1, tzinfo=UTC)
    assert parse_timestamp(datetime(2024, 3, 1, 18, 30, 5, tzinfo=timezone(timedelta(hours=1)))
                           ) == moment
    assert parse_timestamp(None) is None
    assert parse_timestamp("") is None
    for bad in ("soon", True, [1]):
        with pytest.raises(ValueError, match="not a timestamp"):
            parse_timestamp(bad)


def test_rezen_errors(rezen: RezenSimulator) -> None:
    with RezenClient("invalid-key", rezen.arrakis_url, rezen.yenta_url) as client:
        with pytest.raises(ProviderAuthError) as rejected:
            client.me()
        assert client.stats.requests == 1
    assert str(rejected.value) == "reZEN rejected the API key"
    assert rejected.value.status == 401
    assert rejected.value.detail == "Not authorized."
    with RezenClient(KEY, rezen.arrakis_url, rezen.yenta_url) as client:
        with pytest.raises(ProviderAuthError) as foreign:
            next(client.transactions(rezen.yenta_id("agent-two"), "OPEN"))
        assert foreign.value.status == 403
        with pytest.raises(ValueError, match="group"):
            client.transactions(client.me(), "PENDING")


def test_rezen_429_with_and_without_retry_after() -> None:
    with RezenSimulator(seed=29, transactions=200, rate_limit=4, window_seconds=1) as sim:
        with RezenClient(KEY, sim.arrakis_url, sim.yenta_url,
                         retry=RetryPolicy(max_rate_limit_retries=20, backoff_base=0.2,
                                           backoff_cap=1.0)) as client:
            yenta_id = client.me()
            records = [t for group in GROUPS
                       for t in all_records(client.transactions(yenta_id, group, page_size=25))]
            stats = client.stats
        assert sorted(ids(records)) == ids(sim.dataset(KEY)["transactions"])
        assert stats.rate_limited > 0
        assert stats.retries == stats.rate_limited


def test_rezen_sync_sees_transactions_move_between_groups() -> None:
    with RezenSimulator(seed=30, transactions=150) as sim:
        with RezenClient(KEY, sim.arrakis_url, sim.yenta_url) as client:
            yenta_id = client.me()

            def groups() -> dict[str, str]:
                return {t["id"]: group for group in GROUPS
                        for t in all_records(client.transactions(yenta_id, group))}

            before = groups()
            sim.mutate(KEY, transactions=100)
            after = groups()
        assert set(before) == set(after)
        assert any(before[i] != after[i] for i in before)
