"""One reZEN agent's transactions, generated from (seed, key), and how they change over time."""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from .seeding import AS_OF, DAY, rng_for, uuid_from
from .vocabulary import CITIES, FIRST_NAMES, LAST_NAMES, STREETS

GROUP_STATES = {
    "OPEN": ("NEW", "APPROVED_FOR_CLOSING", "TERMINATION_REQUESTED", "LISTING_ACTIVE",
             "LISTING_IN_CONTRACT"),
    "CLOSED": ("PAYMENT_ACCEPTED", "SETTLED", "LISTING_CLOSED"),
    "TERMINATED": ("TERMINATED",),
}
GROUP_OF = {state: group for group, states in GROUP_STATES.items() for state in states}
NEXT_STATES = {
    "NEW": ("APPROVED_FOR_CLOSING", "APPROVED_FOR_CLOSING", "TERMINATION_REQUESTED"),
    "APPROVED_FOR_CLOSING": ("PAYMENT_ACCEPTED",),
    "PAYMENT_ACCEPTED": ("SETTLED",),
    "TERMINATION_REQUESTED": ("TERMINATED", "NEW"),
    "LISTING_ACTIVE": ("LISTING_IN_CONTRACT",),
    "LISTING_IN_CONTRACT": ("LISTING_CLOSED", "LISTING_ACTIVE"),
}
CLOSING_STATES = {"PAYMENT_ACCEPTED", "LISTING_CLOSED"}
UNDER_CONTRACT = {"NEW", "LISTING_ACTIVE"}  # states that have no accepted contract yet
# How reZEN renders dates varies by field and record; clients must parse all of these.
MOMENT_FORMATS = ("epoch_ms", "epoch_ms_str", "iso_z", "iso_offset", "iso_naive")
DAY_FORMATS = ("date", "date", "date", "epoch_ms")
MAX_CHURN_PER_CALL = 10_000


def render(ms: int | None, fmt: str) -> Any:
    if ms is None:
        return None
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    if fmt == "epoch_ms":
        return ms
    if fmt == "epoch_ms_str":
        return str(ms)
    if fmt == "date":
        return moment.date().isoformat()
    if fmt == "iso_offset":
        return moment.astimezone(timezone(timedelta(hours=-5))).isoformat(timespec="milliseconds")
    text = moment.replace(tzinfo=None).isoformat(timespec="milliseconds")
    return text + "Z" if fmt == "iso_z" else text


@dataclass(frozen=True)
class Transaction:
    """A transaction's facts; `record` is how the API shows them. Replaced, never changed."""

    id: str
    code: str
    kind: str
    state: str
    address: dict[str, str]
    price: float
    participants: list[dict[str, Any]]
    created_ms: int
    updated_ms: int
    contract_ms: int | None
    closing_estimate_ms: int
    closed_ms: int | None
    formats: dict[str, str]
    record: dict[str, Any] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        fmt = self.formats
        record = {
            "id": self.id,
            "code": self.code,
            "transactionType": self.kind,
            "lifecycleState": {"state": self.state},
            "address": self.address,
            "price": {"amount": self.price, "currency": "USD"},
            "grossCommission": {"amount": round(self.price * 0.03, 2), "currency": "USD"},
            "contractAcceptanceDate": render(self.contract_ms, fmt["contractAcceptanceDate"]),
            "closingDateEstimated": render(self.closing_estimate_ms, fmt["closingDateEstimated"]),
            "closedAt": render(self.closed_ms, fmt["closedAt"]),
            "createdAt": render(self.created_ms, fmt["createdAt"]),
            "updatedAt": render(self.updated_ms, fmt["updatedAt"]),
            "participants": self.participants,
        }
        object.__setattr__(self, "record", record)

    @property
    def group(self) -> str:
        return GROUP_OF[self.state]


class RezenAgent:
    """The agent a key belongs to (yenta) and the agent's transactions (arrakis)."""

    def __init__(self, seed: int, key: str, *, transactions: int) -> None:
        self.seed = seed
        self.key = key
        rng = rng_for(seed, "rezen", key)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        self.yenta_id = uuid_from(rng)
        self.agent = {
            "id": self.yenta_id, "firstName": first, "lastName": last,
            "displayName": f"{first} {last}",
            "emailAddress": f"{first}.{last}@real.example.com".lower(),
            "type": "AGENT", "status": "ACTIVE", "country": "UNITED_STATES",
        }
        self.transactions: dict[str, Transaction] = {}
        for _ in range(transactions):
            created = AS_OF - rng.uniform(10 * DAY, 3 * 365 * DAY)
            self._add(rng, created, rng.uniform(created, AS_OF))
        self._mutations = 0
        self._churned_at: float | None = None
        self._churn_carry = 0.0

    def in_group(self, group: str) -> list[Transaction]:
        return [t for t in self.transactions.values() if t.group == group]

    def snapshot(self) -> dict[str, Any]:
        ordered = sorted(self.transactions.values(), key=lambda t: t.id)
        return {"agent": self.agent, "transactions": [t.record for t in ordered]}

    def mutate(self, now: float, *, transactions: int = 0,
               new_transactions: int = 0) -> dict[str, list[Any]]:
        """Change that many transactions (price, or the next lifecycle state, which may move
        it to another group) and add new ones; deterministic given seed and prior mutations."""
        self._mutations += 1
        rng = rng_for(self.seed, "rezen", self.key, "mutation", self._mutations)
        changed = rng.sample(sorted(self.transactions), min(transactions, len(self.transactions)))
        for transaction_id in changed:
            transaction = self.transactions[transaction_id]
            self.transactions[transaction_id] = self._changed(rng, transaction, now)
        added = [self._add(rng, now, now) for _ in range(new_transactions)]
        return {"transactions": changed, "new_transactions": added}

    def churn(self, per_minute: float, now: float) -> None:
        if self._churned_at is None:
            self._churned_at = now
            return
        due = max(0.0, now - self._churned_at) * per_minute / 60 + self._churn_carry
        count = min(int(due), MAX_CHURN_PER_CALL)
        self._churned_at, self._churn_carry = now, due - int(due)
        if count:
            rng = rng_for(self.seed, "rezen", self.key, "churn", self._mutations)
            new = sum(rng.random() < 0.1 for _ in range(count))
            self.mutate(now, transactions=count - new, new_transactions=new)

    def _add(self, rng: random.Random, created: float, updated: float) -> str:
        roll = rng.random()
        group = "OPEN" if roll < 0.45 else "CLOSED" if roll < 0.9 else "TERMINATED"
        state = rng.choice(GROUP_STATES[group])
        street = f"{rng.randint(10, 9999)} {rng.choice(STREETS)}"
        city, region, zip_prefix = rng.choice(CITIES)
        zip_code = f"{zip_prefix}{rng.randint(0, 99):02d}"
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        contract = None if state in UNDER_CONTRACT else rng.uniform(created, updated)
        closed = rng.uniform(contract or created, updated) if group == "CLOSED" else None
        transaction = Transaction(
            id=uuid_from(rng),
            code="-".join("".join(rng.choices("ABCDEFGHJKLMNPQRSTUVWXYZ23456789", k=3))
                          for _ in range(3)),
            kind="LISTING" if state.startswith("LISTING") else rng.choice(("SALE", "LEASE")),
            state=state,
            address={"oneLine": f"{street}, {city}, {region} {zip_code}", "street": street,
                     "city": city, "state": region, "zip": zip_code},
            price=float(rng.randrange(150, 2500) * 1000),
            participants=[
                {"id": uuid_from(rng), "participantRole": "REAL_AGENT",
                 "firstName": self.agent["firstName"], "lastName": self.agent["lastName"],
                 "yentaId": self.yenta_id},
                {"id": uuid_from(rng), "participantRole": rng.choice(("BUYER", "SELLER", "TENANT")),
                 "firstName": first, "lastName": last, "yentaId": None},
            ],
            created_ms=int(created * 1000),
            updated_ms=int(updated * 1000),
            contract_ms=None if contract is None else int(contract * 1000),
            closing_estimate_ms=int((updated + rng.uniform(5, 90) * DAY) // DAY * DAY * 1000),
            closed_ms=None if closed is None else int(closed * 1000),
            formats={
                "createdAt": rng.choice(MOMENT_FORMATS),
                "updatedAt": rng.choice(MOMENT_FORMATS),
                "closedAt": rng.choice(MOMENT_FORMATS),
                "contractAcceptanceDate": rng.choice(DAY_FORMATS),
                "closingDateEstimated": rng.choice(DAY_FORMATS),
            },
        )
        self.transactions[transaction.id] = transaction
        return transaction.id

    @staticmethod
    def _changed(rng: random.Random, transaction: Transaction, now: float) -> Transaction:
        now_ms = max(int(now * 1000), transaction.updated_ms + 1)
        following = NEXT_STATES.get(transaction.state, ())
        if following and rng.random() < 0.6:
            state = rng.choice(following)
            contract = transaction.contract_ms
            if contract is None and state not in UNDER_CONTRACT:
                contract = now_ms
            closed = now_ms if state in CLOSING_STATES else transaction.closed_ms
            return replace(transaction, state=state, contract_ms=contract, closed_ms=closed,
                           updated_ms=now_ms)
        price = round(transaction.price * rng.uniform(0.95, 1.05), -3)
        return replace(transaction, price=price, updated_ms=now_ms)
