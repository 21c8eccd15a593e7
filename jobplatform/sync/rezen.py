"""What reZEN syncs do: the agent's transactions of the three lifecycle groups."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ..database import begin_write
from ..extensions import db
from ..integrations.dates import parse_timestamp
from ..integrations.rezen import GROUPS, RezenClient
from ..jobs.task import JobTask, Outcome
from .models import Integration, Transaction
from .runner import finish, load_checkpoint, save_checkpoint
from .shape import documented_shape
from .upsert import UpsertCounts, upsert

SYNC = "rezen_sync"
OVERLAP = timedelta(minutes=5)
COMPARED = ("code", "group", "lifecycle_state", "transaction_type", "address", "price",
            "currency", "gross_commission", "closing_date_estimated", "closed_at",
            "provider_updated_at")


def _money(value: Any) -> tuple[float | None, str | None]:
    if not isinstance(value, dict) or not isinstance(value.get("amount"), int | float):
        return None, None
    return float(value["amount"]), value.get("currency")


@documented_shape("rezen", "reZEN", "transactions")
def transaction_record(item: dict[str, Any], group: str) -> dict[str, Any]:
    price, currency = _money(item.get("price"))
    commission, _ = _money(item.get("grossCommission"))
    address = item.get("address") or {}
    return {
        "external_id": str(item["id"]), "code": item.get("code"), "group": group,
        "lifecycle_state": (item.get("lifecycleState") or {}).get("state"),
        "transaction_type": item.get("transactionType"),
        "address": (address.get("oneLine") or "")[:500] or None,
        "price": price, "currency": currency, "gross_commission": commission,
        "closing_date_estimated": parse_timestamp(item.get("closingDateEstimated")),
        "closed_at": parse_timestamp(item.get("closedAt")),
        "provider_updated_at": parse_timestamp(item.get("updatedAt")), "raw": item,
    }


def sync(task: JobTask, integration: Integration, client: RezenClient) -> Outcome:
    """Walk each group newest-updated first, stopping once past the cursor (minus an overlap);
    every group every run, since transactions move between groups."""
    user_id = integration.user_id
    yenta_id = integration.account_id or client.me()
    since = integration.sync_cursor - OVERLAP if integration.sync_cursor else None
    state = load_checkpoint(integration, SYNC)
    counts = UpsertCounts(**state.get("counts", {}))
    seen = state.get("seen", 0)
    newest = datetime.fromisoformat(state["newest"]) if state.get("newest") else None
    stored = db.session.scalar(
        sa.select(sa.func.count()).select_from(Transaction).where(Transaction.user_id == user_id)
    ) or 0
    first_group = state.get("group", 0)
    for index, group in enumerate(GROUPS[first_group:], start=first_group):
        start_page = state.get("page", 0) if index == first_group else 0
        for page in client.transactions(yenta_id, group, start_page=start_page):
            records = [transaction_record(item, group) for item in page.records]
            fresh = [r for r in records if not (since and r["provider_updated_at"]
                                               and r["provider_updated_at"] < since)]
            begin_write(db.session)
            counts.add(upsert(db.session, Transaction, {"user_id": user_id}, fresh, COMPARED))
            seen += len(fresh)
            newest = max([r["provider_updated_at"] for r in fresh if r["provider_updated_at"]]
                         + ([newest] if newest else []), default=None)
            done_with_group = len(fresh) < len(records) or page.next_page is None
            save_checkpoint(integration, SYNC, group=index + done_with_group,
                            page=0 if done_with_group else page.next_page, seen=seen,
                            counts=counts.as_dict(),
                            newest=newest.isoformat() if newest else None)
            db.session.commit()
            total = max(stored, seen)
            task.progress(seen, total, unit="transactions",
                          message=f"{seen:,} of {total:,} transactions ({group})")
            if done_with_group:
                break
    finish(integration, cursor=newest)
    return Outcome({"transactions": counts.changed, **counts.as_dict()},
                   f"Synced {counts.changed:,} transactions")
