"""One FUB agent's data, generated from (seed, key), and how it changes over time."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from .seeding import AS_OF, DAY, fub_date, fub_time, rng_for
from .vocabulary import CITIES, FIRST_NAMES, LAST_NAMES, SOURCES, STREETS, TAGS

PERSON_STAGES = ("Lead", "Prospect", "Active Client", "Under Contract", "Closed", "Past Client",
                 "Sphere", "Nurture")
TRASH = "Trash"
PIPELINES = (
    {"id": 1, "name": "Buyers", "stages": [
        {"id": 11, "name": "Showing"}, {"id": 12, "name": "Offer"},
        {"id": 13, "name": "Under Contract"}, {"id": 14, "name": "Closed"}]},
    {"id": 2, "name": "Sellers", "stages": [
        {"id": 21, "name": "Listing Appointment"}, {"id": 22, "name": "Active Listing"},
        {"id": 23, "name": "Pending"}, {"id": 24, "name": "Sold"}]},
)
DEAL_STATUS_FLAG = {"Archived": "includeArchived", "Deleted": "includeDeleted"}
MAX_CHURN_PER_CALL = 10_000


@dataclass(frozen=True)
class Row:
    """A record as served plus what listing needs; replaced, never changed, so readers outside
    the lock see a consistent record."""

    id: int
    created: str
    updated: str
    record: dict[str, Any]
    hidden_by: str | None = None
    """The query flag without which the row is left out (includeTrash, includeArchived ...)."""


def _row(record: dict[str, Any], created: str, updated: str, hidden_by: str | None) -> Row:
    return Row(record["id"], created, updated, record, hidden_by)


class FubAccount:
    """People, deals and users of the agent a key belongs to."""

    def __init__(self, seed: int, key: str, *, people: int, deals: int) -> None:
        self.seed = seed
        self.key = key
        rng = rng_for(seed, "fub", key)
        self.user = self._user(rng, rng.randrange(2, 900))
        self.users = [self.user] + [self._user(rng, self.user["id"] + n) for n in (1000, 2000)]
        self.users[1]["role"] = "Broker"
        self.people: dict[int, Row] = {}
        self.deals: dict[int, Row] = {}
        self._next_person = rng.randrange(1_000, 90_000)
        self._next_deal = rng.randrange(100, 9_000)
        for _ in range(people):
            self._add_person(rng, *self._times(rng))
        for _ in range(deals):
            self._add_deal(rng, *self._times(rng))
        self._mutations = 0
        self._churned_at: float | None = None
        self._churn_carry = 0.0
        self._orders: dict[tuple[str, str], list[Row]] = {}
        self._matches: dict[tuple[str, str, tuple], list[Row]] = {}

    # Reading

    def ordered(self, name: str, sort: str,
                order: Callable[[list[Row], str], list[Row]]) -> list[Row] | None:
        """`order(collection(name), sort)`, kept until the data changes; do not modify it."""
        rows = self._orders.get((name, sort))
        if rows is None:
            collection = self.collection(name)
            if collection is None:
                return None
            rows = self._orders[(name, sort)] = order(collection, sort)
        return rows

    def matching(self, name: str, sort: str, params: dict[str, str],
                 order: Callable[[list[Row], str], list[Row]],
                 keep: Callable[[list[Row], dict[str, str]], list[Row]]) -> list[Row] | None:
        """`keep(ordered(...), params)`, kept until the data changes; do not modify it."""
        cache_key = (name, sort, tuple(sorted(params.items())))
        rows = self._matches.get(cache_key)
        if rows is None:
            ordered = self.ordered(name, sort, order)
            if ordered is None:
                return None
            rows = self._matches[cache_key] = keep(ordered, params)
        return rows

    def collection(self, name: str) -> list[Row] | None:
        if name == "people":
            return list(self.people.values())
        if name == "deals":
            return list(self.deals.values())
        if name == "users":
            return [_row(u, u["created"], u["updated"], None) for u in self.users]
        if name == "pipelines":
            return [_row(dict(p), fub_time(AS_OF - 900 * DAY), fub_time(AS_OF - 900 * DAY), None)
                    for p in PIPELINES]
        if name == "stages":
            stages = [{"id": n, "name": s, "orderWeight": n * 100}
                      for n, s in enumerate((*PERSON_STAGES, TRASH), start=1)]
            return [_row(s, fub_time(AS_OF - 900 * DAY), fub_time(AS_OF - 900 * DAY), None)
                    for s in stages]
        return None

    def snapshot(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "people": [r.record for r in sorted(self.people.values(), key=lambda r: r.id)],
            "deals": [r.record for r in sorted(self.deals.values(), key=lambda r: r.id)],
        }

    # Changing

    def mutate(self, now: float, *, people: int = 0, deals: int = 0, new_people: int = 0,
               new_deals: int = 0, trashed_people: int = 0,
               deleted_deals: int = 0) -> dict[str, list[Any]]:
        """Change `people` existing people and `deals` deals, add the new ones, move live
        people to the trash and delete live deals; deterministic given the seed, the key and
        how many mutations came before."""
        self._mutations += 1
        self._orders.clear()
        self._matches.clear()
        rng = rng_for(self.seed, "fub", self.key, "mutation", self._mutations)
        stamp = fub_time(now)
        changed_people = rng.sample(sorted(self.people), min(people, len(self.people)))
        for person_id in changed_people:
            self.people[person_id] = self._changed_person(rng, self.people[person_id], stamp)
        changed_deals = rng.sample(sorted(self.deals), min(deals, len(self.deals)))
        for deal_id in changed_deals:
            self.deals[deal_id] = self._changed_deal(rng, self.deals[deal_id], stamp)
        live_people = sorted(k for k, row in self.people.items() if row.record["stage"] != TRASH)
        trashed = rng.sample(live_people, min(trashed_people, len(live_people)))
        for person_id in trashed:
            record = {**self.people[person_id].record, "stage": TRASH, "updated": stamp}
            self.people[person_id] = self._person_row(record)
        live_deals = sorted(k for k, row in self.deals.items()
                            if row.record["status"] != "Deleted")
        deleted = rng.sample(live_deals, min(deleted_deals, len(live_deals)))
        for deal_id in deleted:
            self.deals[deal_id] = self._deal_with_status(self.deals[deal_id], "Deleted", stamp)
        added_people = [self._add_person(rng, now, now) for _ in range(new_people)]
        added_deals = [self._add_deal(rng, now, now) for _ in range(new_deals)]
        return {"people": changed_people, "deals": changed_deals,
                "new_people": added_people, "new_deals": added_deals,
                "trashed_people": trashed, "deleted_deals": deleted}

    def churn(self, per_minute: float, now: float) -> None:
        """Apply the changes due since the last call: mostly edits, some new records, a few
        people moved to the trash."""
        if self._churned_at is None:
            self._churned_at = now
            return
        due = max(0.0, now - self._churned_at) * per_minute / 60 + self._churn_carry
        count = min(int(due), MAX_CHURN_PER_CALL)
        self._churned_at, self._churn_carry = now, due - int(due)
        if not count:
            return
        rng = rng_for(self.seed, "fub", self.key, "churn", self._mutations)
        kinds = {"people": 0, "deals": 0, "new_people": 0, "trashed_people": 0}
        for _ in range(count):
            roll = rng.random()
            if roll < 0.02:
                kinds["trashed_people"] += 1
            elif roll < 0.1:
                kinds["new_people"] += 1
            elif roll < 0.25 and self.deals:
                kinds["deals"] += 1
            else:
                kinds["people"] += 1
        self.mutate(now, **kinds)

    # Generating

    @staticmethod
    def _times(rng: random.Random) -> tuple[float, float]:
        created = AS_OF - rng.uniform(30 * DAY, 6 * 365 * DAY)
        return created, rng.uniform(created, AS_OF)

    @staticmethod
    def _user(rng: random.Random, user_id: int) -> dict[str, Any]:
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        created = fub_time(AS_OF - rng.uniform(400, 2000) * DAY)
        return {"id": user_id, "name": f"{first} {last}", "firstName": first, "lastName": last,
                "email": f"{first}.{last}{user_id}@agents.example.com".lower(),
                "role": "Agent", "status": "Active", "created": created, "updated": created}

    def _add_person(self, rng: random.Random, created: float, updated: float) -> int:
        self._next_person += rng.randint(1, 3)
        person_id = self._next_person
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        # FUB sends isPrimary as a boolean for some records and as 0/1 for others.
        yes, no = (True, False) if rng.random() < 0.5 else (1, 0)
        city, state, zip_prefix = rng.choice(CITIES)
        record: dict[str, Any] = {
            "id": person_id,
            "created": fub_time(created),
            "updated": fub_time(updated),
            "createdVia": rng.choice(("API", "Import", "Manually", "Website")),
            "name": f"{first} {last}",
            "firstName": first,
            "lastName": last,
            "stage": TRASH if rng.random() < 0.03 else rng.choice(PERSON_STAGES),
            "source": rng.choice(SOURCES),
            "price": rng.randrange(150, 2500) * 1000 if rng.random() < 0.8 else 0,
            "contacted": rng.randint(0, 1),
            "assignedUserId": self.user["id"],
            "assignedTo": self.user["name"],
            "tags": rng.sample(TAGS, rng.randint(0, 3)),
            "emails": [
                {"value": f"{first}.{last}{person_id + n}@example.com".lower(),
                 "type": ("home", "work")[n], "isPrimary": yes if n == 0 else no}
                for n in range(rng.randint(0, 2))
            ],
            "phones": [
                {"value": f"({rng.randint(201, 989)}) 555-{rng.randint(0, 9999):04d}",
                 "type": ("mobile", "home")[n], "isPrimary": yes if n == 0 else no}
                for n in range(rng.randint(0, 2))
            ],
            "addresses": [
                {"type": "home", "street": f"{rng.randint(10, 9999)} {rng.choice(STREETS)}",
                 "city": city, "state": state, "code": f"{zip_prefix}{rng.randint(0, 99):02d}",
                 "country": "United States"}
                for _ in range(rng.randint(0, 1))
            ],
            "customPreApproved": rng.choice(("Yes", "No", None)),
            "customBirthday": fub_date(AS_OF - rng.uniform(20, 80) * 365 * DAY)
            if rng.random() < 0.3 else None,
        }
        self.people[person_id] = self._person_row(record)
        return person_id

    @staticmethod
    def _person_row(record: dict[str, Any]) -> Row:
        hidden = "includeTrash" if record["stage"] == TRASH else None
        return _row(record, record["created"], record["updated"], hidden)

    def _add_deal(self, rng: random.Random, created: float, updated: float) -> int:
        self._next_deal += rng.randint(1, 4)
        deal_id = self._next_deal
        pipeline = rng.choice(PIPELINES)
        stage = rng.choice(pipeline["stages"])
        price = rng.randrange(150, 2500) * 1000
        person_ids = sorted(self.people)
        people = [self.people[pid].record for pid in rng.sample(person_ids, min(2, len(person_ids),
                                                                             rng.randint(1, 2)))]
        roll = rng.random()
        status = "Active" if roll < 0.75 else "Archived" if roll < 0.92 else "Deleted"
        record: dict[str, Any] = {
            "id": deal_id,
            "name": f"{rng.randint(10, 9999)} {rng.choice(STREETS)}",
            "status": status,
            "pipelineId": pipeline["id"],
            "pipelineName": pipeline["name"],
            "stageId": stage["id"],
            "stageName": stage["name"],
            "price": price,
            "projectedCloseDate": fub_date(updated + rng.uniform(10, 120) * DAY),
            "createdAt": fub_time(created),
            "people": [{"id": p["id"], "name": p["name"]} for p in people],
            "users": [{"id": self.user["id"], "name": self.user["name"]}],
            "commissionValue": round(price * 0.03, 2),
            "agentCommission": round(price * 0.03 * 0.7, 2),
            "teamCommission": round(price * 0.03 * 0.3, 2),
        }
        # `updated` is undocumented for deals: some carry it, some do not (clients must cope).
        if rng.random() < 0.6:
            record["updated"] = fub_time(updated)
        self.deals[deal_id] = _row(record, record["createdAt"], fub_time(updated),
                                   DEAL_STATUS_FLAG.get(status))
        return deal_id

    def _changed_person(self, rng: random.Random, row: Row, stamp: str) -> Row:
        record = {**row.record, "updated": stamp}
        change = rng.choice(("stage", "price", "tags", "phone", "contacted", "source"))
        if change == "stage":
            record["stage"] = rng.choice([s for s in PERSON_STAGES if s != record["stage"]])
        elif change == "price":
            record["price"] = rng.randrange(150, 2500) * 1000
        elif change == "tags":
            record["tags"] = sorted({*record["tags"], rng.choice(TAGS)})
        elif change == "phone":
            number = f"({rng.randint(201, 989)}) 555-{rng.randint(0, 9999):04d}"
            record["phones"] = [{"value": number, "type": "mobile", "isPrimary": True},
                                *record["phones"][:1]]
            if len(record["phones"]) > 1:
                record["phones"][1] = {**record["phones"][1], "isPrimary": False}
        elif change == "contacted":
            record["contacted"] = 1 - record["contacted"]
        else:
            record["source"] = rng.choice([s for s in SOURCES if s != record["source"]])
        return self._person_row(record)

    def _changed_deal(self, rng: random.Random, row: Row, stamp: str) -> Row:
        roll = rng.random()
        if roll < 0.1 and row.record["status"] == "Active":
            return self._deal_with_status(row, "Archived", stamp)
        record = dict(row.record)
        if "updated" in record:
            record["updated"] = stamp
        if roll < 0.55:
            record["price"] = rng.randrange(150, 2500) * 1000
            record["commissionValue"] = round(record["price"] * 0.03, 2)
        else:
            pipeline = next(p for p in PIPELINES if p["id"] == record["pipelineId"])
            stage = rng.choice(pipeline["stages"])
            record["stageId"], record["stageName"] = stage["id"], stage["name"]
        return replace(row, record=record, updated=stamp,
                       hidden_by=DEAL_STATUS_FLAG.get(record["status"]))

    @staticmethod
    def _deal_with_status(row: Row, status: str, stamp: str) -> Row:
        record = {**row.record, "status": status}
        if "updated" in record:
            record["updated"] = stamp
        return replace(row, record=record, updated=stamp, hidden_by=DEAL_STATUS_FLAG.get(status))
