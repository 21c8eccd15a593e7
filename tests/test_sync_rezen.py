"""reZEN transactions sync, end to end, and the date formats reZEN mixes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from jobplatform.extensions import db
from jobplatform.integrations.dates import parse_timestamp
from jobplatform.sync.models import Transaction
from jobplatform.sync.rezen import transaction_record

# Run again on another database or broker: see tests/conftest.py.
pytestmark = [pytest.mark.database, pytest.mark.broker]

GROUP_OF_STATE = {"NEW": "OPEN", "APPROVED_FOR_CLOSING": "OPEN", "LISTING_ACTIVE": "OPEN",
                  "LISTING_IN_CONTRACT": "OPEN", "TERMINATION_REQUESTED": "OPEN",
                  "PAYMENT_ACCEPTED": "CLOSED", "SETTLED": "CLOSED", "LISTING_CLOSED": "CLOSED",
                  "TERMINATED": "TERMINATED"}


def transactions_of(user_id: int) -> dict[str, Transaction]:
    db.session.rollback()
    return {t.external_id: t for t in db.session.scalars(
        sa.select(Transaction).where(Transaction.user_id == user_id))}


def test_a_sync_imports_every_group_and_a_second_changes_nothing(
    client, make_user, store, worker, rezen, api_key
):
    user = make_user()
    connected = client.post("/api/v2/integrations", headers=user.headers,
                            json={"provider": "rezen", "api_key": api_key})
    assert connected.status_code == 201
    assert connected.json["integration"]["account_id"] == rezen.yenta_id(api_key)
    job = store.wait_status(connected.json["job"]["id"], "complete", timeout=60,
                            process=worker)

    dataset = {t["id"]: t for t in rezen.dataset(api_key)["transactions"]}
    stored = transactions_of(user.id)
    assert set(stored) == set(dataset)
    assert {t.group for t in stored.values()} == {"OPEN", "CLOSED", "TERMINATED"}
    for external_id, row in stored.items():
        assert row.lifecycle_state == dataset[external_id]["lifecycleState"]["state"]
    assert job.result["transactions"] == len(dataset)
    assert job.summary == f"Synced {len(dataset):,} transactions"
    assert job.progress_unit == "transactions"
    assert job.message.startswith(f"{len(dataset):,} of {len(dataset):,} transactions")

    again = client.post("/api/v2/integrations/rezen/sync", headers=user.headers).json
    noop = store.wait_status(again["id"], "complete", timeout=60, process=worker)
    assert noop.summary == "Synced 0 transactions"


def test_changed_transactions_arrive_even_when_they_move_group(
    client, make_user, store, worker, rezen, api_key
):
    user = make_user()
    first = client.post("/api/v2/integrations", headers=user.headers,
                        json={"provider": "rezen", "api_key": api_key}).json["job"]["id"]
    store.wait_status(first, "complete", timeout=60, process=worker)
    changed = rezen.mutate(api_key, transactions=6, new_transactions=2)

    sync = client.post("/api/v2/integrations/rezen/sync", headers=user.headers).json
    job = store.wait_status(sync["id"], "complete", timeout=60, process=worker)

    assert job.result["created"] == 2
    assert job.result["updated"] == 6
    dataset = {t["id"]: t for t in rezen.dataset(api_key)["transactions"]}
    stored = transactions_of(user.id)
    for external_id in changed["transactions"] + changed["new_transactions"]:
        state = dataset[external_id]["lifecycleState"]["state"]
        assert stored[external_id].lifecycle_state == state
        assert stored[external_id].group == GROUP_OF_STATE[state], (external_id, state)


@pytest.mark.parametrize(("value", "expected"), [
    ("2024-02-19", datetime(2024, 2, 19, tzinfo=UTC)),
    ("2023-08-02T05:40:21.569", datetime(2023, 8, 2, 5, 40, 21, 569000, tzinfo=UTC)),
    ("2023-12-22T12:04:38.152-05:00", datetime(2023, 12, 22, 17, 4, 38, 152000, tzinfo=UTC)),
    ("2021-07-01T04:00:00Z", datetime(2021, 7, 1, 4, tzinfo=UTC)),
    (1703264678152, datetime(2023, 12, 22, 17, 4, 38, 152000, tzinfo=UTC)),
    ("1703264678152", datetime(2023, 12, 22, 17, 4, 38, 152000, tzinfo=UTC)),
    (None, None),
])
def test_rezen_dates_in_every_format(value, expected):
    assert parse_timestamp(value) == expected


def test_every_simulated_transaction_maps_with_its_dates(rezen, api_key):
    formats = set()
    for item in rezen.dataset(api_key)["transactions"]:
        record = transaction_record(item, "OPEN")
        assert record["provider_updated_at"].tzinfo is UTC
        raw = item["closingDateEstimated"]
        formats.add(type(raw).__name__ if not isinstance(raw, str) else
                    ("datetime" if "T" in raw else "date"))
        if raw is not None:
            assert record["closing_date_estimated"] is not None
    assert {"int", "date"} <= formats  # the simulator mixes the formats; all parse
