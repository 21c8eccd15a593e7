"""What FUB syncs do: people to contacts, deals to deals, the onboarding and the increment."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ..database import begin_write
from ..extensions import db
from ..integrations.dates import parse_timestamp
from ..integrations.fub import FubClient
from ..integrations.readahead import read_ahead
from ..jobs.task import JobTask, Outcome
from .contacts import ContactRecord, upsert_contacts
from .models import Deal, Integration
from .runner import finish, load_checkpoint, save_checkpoint
from .shape import documented_shape
from .upsert import RecordTest, UpsertCounts, upsert

ONBOARDING = "fub_onboarding"
# People updated this long before the cursor are fetched again: clocks differ, and a person
# saved in the same second as the last sync must not be missed. Repeats are deduped by id.
OVERLAP = timedelta(minutes=5)
TRASH = "Trash"  # a person's stage in FUB's trash
DELETED = "Deleted"  # a deleted deal's status
DEAL_COMPARED = ("name", "status", "price", "pipeline_id", "stage_id", "projected_close_date",
                 "provider_updated_at")


def _primary(items: list[dict[str, Any]] | None) -> str | None:
    items = items or []
    chosen = next((i for i in items if i.get("isPrimary") in (True, 1, "1")), None)
    chosen = chosen or (items[0] if items else None)
    value = chosen.get("value") if chosen else None
    return str(value).strip() if value else None


@documented_shape("fub", "FUB", "people")
def contact_record(person: dict[str, Any]) -> ContactRecord:
    name = person.get("name") or " ".join(
        part for part in (person.get("firstName"), person.get("lastName")) if part) or None
    email = _primary(person.get("emails"))
    return ContactRecord(
        external_id=str(person["id"]), name=name, email=email.lower() if email else None,
        phone=_primary(person.get("phones")), stage=person.get("stage"),
        tags=list(person.get("tags") or []),
        provider_updated_at=parse_timestamp(person.get("updated")), raw=person,
    )


@documented_shape("fub", "FUB", "deals")
def deal_record(deal: dict[str, Any]) -> dict[str, Any]:
    price = deal.get("price")
    return {
        "external_id": str(deal["id"]), "name": deal.get("name"), "status": deal.get("status"),
        "price": float(price) if isinstance(price, int | float) else None,
        "pipeline_id": _str(deal.get("pipelineId")), "stage_id": _str(deal.get("stageId")),
        "projected_close_date": deal.get("projectedCloseDate"),
        "provider_updated_at": parse_timestamp(deal.get("updated")), "raw": deal,
    }


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _newest(records: list[ContactRecord], current: datetime | None) -> datetime | None:
    times = [r.provider_updated_at for r in records if r.provider_updated_at]
    return max([*times, *([current] if current else [])], default=None)


def _save_contacts(user_id: int, records: list[ContactRecord],
                   update_only: RecordTest | None = None) -> UpsertCounts:
    """Upsert, in the transaction `begin_write` opened; the caller commits."""
    return upsert_contacts(db.session, user_id, "fub", records, update_only=update_only)


def _save_deals(user_id: int, records: list[dict[str, Any]],
                update_only: RecordTest | None = None) -> UpsertCounts:
    return upsert(db.session, Deal, {"user_id": user_id, "source": "fub"}, records,
                  DEAL_COMPARED, update_only=update_only)


def onboard(task: JobTask, integration: Integration, client: FubClient) -> Outcome:
    """Import every person and deal; after each page the data and where to resume from are
    committed together, so a cancelled or failed run leaves consistent data behind."""
    user_id = integration.user_id
    state = load_checkpoint(integration, ONBOARDING)
    if state:
        task.log(f"resuming onboarding from a checkpoint ({state['people']:,} people, "
                 f"{state['deals']:,} deals done)")
    phase = state.get("phase", "people")
    resume = state.get("resume")
    people, deals = state.get("people", 0), state.get("deals", 0)
    newest = datetime.fromisoformat(state["newest"]) if state.get("newest") else None

    def checkpoint(next_phase: str, next_resume: str | None) -> None:
        save_checkpoint(integration, ONBOARDING, phase=next_phase, resume=next_resume,
                        people=people, deals=deals,
                        newest=newest.isoformat() if newest else None)

    if phase == "people":
        for page in read_ahead(client.people(resume=resume), task.in_context):
            records = [contact_record(p) for p in page.records]
            begin_write(db.session)
            _save_contacts(user_id, records)
            people += len(records)
            newest = _newest(records, newest)
            if page.checkpoint:
                checkpoint("people", page.checkpoint)
            else:
                checkpoint("deals", None)
            db.session.commit()
            total = max(page.total or 0, people)
            task.progress(people, total, unit="people", message=f"{people:,} of {total:,} people")
        phase, resume = "deals", None
    for page in read_ahead(client.deals(include_archived=True, resume=resume),
                           task.in_context):
        records = [deal_record(d) for d in page.records]
        begin_write(db.session)
        _save_deals(user_id, records)
        deals += len(records)
        checkpoint("deals", page.checkpoint)
        db.session.commit()
        total = max(page.total or 0, deals)
        task.progress(deals, total, unit="deals", message=f"{deals:,} of {total:,} deals")
    finish(integration, cursor=newest, onboarded=True)
    return Outcome({"contacts": people, "deals": deals},
                   f"Imported {people:,} contacts, {deals:,} deals")


def sync(task: JobTask, integration: Integration, client: FubClient) -> Outcome:
    """Fetch people changed since the cursor (newest first, stopping past it) and every deal
    (FUB gives deals no reliable update time); store what changed.

    Trashed people and deleted deals are fetched too, so a contact or deal removed in FUB
    after it was imported is marked so here; one removed before it was ever imported stays
    out, as in onboarding (upsert's `update_only`)."""
    user_id = integration.user_id
    since = integration.sync_cursor - OVERLAP if integration.sync_cursor else None
    changed: dict[str, ContactRecord] = {}
    for page in client.people(sort="-updated", include_trash=True):
        past_cursor = False
        for person in page.records:
            record = contact_record(person)
            if since and record.provider_updated_at and record.provider_updated_at < since:
                past_cursor = True
                break
            changed.setdefault(record.external_id, record)
        task.progress(len(changed), None, unit="people",
                      message=f"{len(changed):,} changed people found")
        if past_cursor:
            break
    deals = [deal_record(d) for page in client.deals(include_archived=True, include_deleted=True)
             for d in page.records]
    begin_write(db.session)
    contacts = _save_contacts(user_id, list(changed.values()),
                              update_only=lambda person: person["stage"] == TRASH)
    deal_counts = _save_deals(user_id, deals, update_only=lambda deal: deal["status"] == DELETED)
    db.session.commit()
    finish(integration, cursor=_newest(list(changed.values()), None))
    return Outcome(
        {"contacts": contacts.as_dict(), "deals": deal_counts.as_dict()},
        f"Synced {contacts.changed:,} contacts, {deal_counts.changed:,} deals",
    )

