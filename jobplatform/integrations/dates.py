"""Provider timestamps as timezone-aware UTC datetimes, and FUB's filter format."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def parse_timestamp(value: object) -> datetime | None:
    """A UTC datetime from any form the providers send; None for None or "".

    Accepts ISO dates (`2024-03-01`, midnight UTC), ISO date-times with or without a zone
    (without one means UTC; `Z`, offsets and any number of fraction digits are fine), and
    epoch milliseconds as a number or a numeric string. Raises ValueError for anything else.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"not a timestamp: {value!r}")
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, UTC)
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if not isinstance(value, str):
        raise ValueError(f"not a timestamp: {value!r}")
    text = value.strip()
    if _NUMBER.fullmatch(text):
        return datetime.fromtimestamp(float(text) / 1000, UTC)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a timestamp: {value!r}") from None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def fub_timestamp(value: datetime | str) -> str:
    """`value` in the form FUB filters take, `2021-07-01T04:00:00Z`; strings are parsed."""
    moment = parse_timestamp(value)
    if moment is None:
        raise ValueError("a timestamp is required")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
