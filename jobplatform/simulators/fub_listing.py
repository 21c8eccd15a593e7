"""FUB list queries: filters, sort, limit/offset and the opaque `next` token."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from .fub_data import Row
from .seeding import normalise_fub_time

DEFAULT_LIMIT = 10
MAX_LIMIT = 100
MAX_OFFSET = 2000  # FUB refuses deep offsets and points at nextLink
TIME_FILTERS = {
    "updatedAfter": ("updated", 1), "updatedBefore": ("updated", -1),
    "createdAfter": ("created", 1), "createdBefore": ("created", -1),
}
FLAGS = ("includeTrash", "includeArchived", "includeDeleted")
SORT_KEYS: dict[str, Callable[[Row], tuple[Any, ...]]] = {
    "id": lambda row: (row.id,),
    "created": lambda row: (row.created, row.id),
    "updated": lambda row: (row.updated, row.id),
}
# What a `next` token carries besides the position: everything that shapes the result.
CARRIED = (*TIME_FILTERS, "idGreaterThan", "idLessThan", "sort", "fields", *FLAGS)


class QueryError(ValueError):
    """A 400 with this message."""


@dataclass(frozen=True)
class Query:
    params: dict[str, str]
    limit: int
    offset: int
    after: tuple[Any, ...] | None

    @property
    def sort(self) -> str:
        return self.params.get("sort", "-id")


@dataclass(frozen=True)
class Selection:
    rows: list[Row]
    total: int
    offset: int
    next: str | None


def parse(args: Mapping[str, str]) -> Query:
    limit = _integer(args, "limit", DEFAULT_LIMIT)
    if limit < 1:
        raise QueryError("Invalid value for 'limit'")
    limit = min(limit, MAX_LIMIT)
    if args.get("next"):
        params, after = decode_token(args["next"])
        query = Query(params, limit, 0, after)
    else:
        offset = _integer(args, "offset", 0)
        if offset < 0:
            raise QueryError("Invalid value for 'offset'")
        if offset >= MAX_OFFSET:
            raise QueryError("Deep pagination disabled, use 'nextLink' url")
        query = Query({name: args[name] for name in CARRIED if args.get(name)}, limit, offset, None)
    _sort(query.sort)
    return query


def order(rows: list[Row], sort: str) -> list[Row]:
    """`rows` in the order a `sort` parameter asks for (callers cache this, it is the cost)."""
    field, descending = _sort(sort)
    return sorted(rows, key=SORT_KEYS[field], reverse=descending)


def matching(ordered: list[Row], params: dict[str, str]) -> list[Row]:
    """The rows of `ordered` that pass the query's flags and filters (callers cache this too:
    a page is 100 rows of 50,000)."""
    return list(filter(_predicate(params), ordered))


def select(matching: list[Row], query: Query) -> Selection:
    """The page the query asks for from the rows `matching` it, in its order, and the token
    for the page after it."""
    field, descending = _sort(query.sort)
    key = SORT_KEYS[field]
    if query.after is None:
        start = query.offset
    else:
        # Rows strictly after the last one served, so a row changed meanwhile is not repeated.
        after = query.after
        start = _first(matching, lambda r: key(r) < after if descending else key(r) > after)
    page = matching[start:start + query.limit]
    more = start + query.limit < len(matching)
    token = encode_token(query.params, key(page[-1])) if page and more else None
    return Selection(page, len(matching), start, token)


def project(record: dict[str, Any], fields: str | None) -> dict[str, Any]:
    """Custom fields only with `fields=allFields`; a comma list picks fields (id always)."""
    if fields == "allFields":
        return record
    if fields:
        wanted = {f.strip() for f in fields.split(",")} | {"id"}
        return {k: v for k, v in record.items() if k in wanted}
    return {k: v for k, v in record.items() if not k.startswith("custom")}


def encode_token(params: dict[str, str], after: tuple[Any, ...]) -> str:
    raw = orjson.dumps({"p": params, "a": list(after)})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> tuple[dict[str, str], tuple[Any, ...]]:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        params, after = data["p"], tuple(data["a"])
    except (binascii.Error, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        raise QueryError("Invalid value for 'next'") from None
    if not isinstance(params, dict):
        raise QueryError("Invalid value for 'next'")
    return params, after


def _sort(value: str) -> tuple[str, bool]:
    field = value.removeprefix("-")
    if field not in SORT_KEYS:
        raise QueryError(f"Invalid sort field '{field}'; use one of {', '.join(SORT_KEYS)}")
    return field, value.startswith("-")


def _first(rows: list[Row], past: Callable[[Row], bool]) -> int:
    """The index of the first row for which `past` holds; it holds for every row after it."""
    low, high = 0, len(rows)
    while low < high:
        middle = (low + high) // 2
        if past(rows[middle]):
            high = middle
        else:
            low = middle + 1
    return low


def _predicate(params: dict[str, str]) -> Callable[[Row], bool]:
    """Whether a row passes the visibility flags and filters; parses the filters once."""
    shown = {flag for flag in FLAGS if params.get(flag, "").lower() in ("1", "true", "yes")}
    bounds = [(field, direction, _time(params, name))
              for name, (field, direction) in TIME_FILTERS.items() if name in params]
    above = _integer(params, "idGreaterThan", -1)
    below = _integer(params, "idLessThan", 0) if "idLessThan" in params else None

    def matches(row: Row) -> bool:
        if row.hidden_by and row.hidden_by not in shown:
            return False
        for field, direction, bound in bounds:
            value = getattr(row, field)
            if (value <= bound) if direction > 0 else (value >= bound):
                return False
        return row.id > above and (below is None or row.id < below)

    return matches


def _time(params: Mapping[str, str], name: str) -> str:
    try:
        return normalise_fub_time(params[name])
    except ValueError:
        raise QueryError(f"Invalid date for '{name}'; use ISO-8601 such as "
                         "2021-07-01T04:00:00Z") from None


def _integer(args: Mapping[str, str], name: str, default: int) -> int:
    value = args.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise QueryError(f"Invalid value for '{name}'") from None
