"""Follow Up Boss API v1 client: paged lists that follow `next`/`nextLink`, resumable."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import redis

from .dates import fub_timestamp
from .errors import MalformedAnswer, ProviderError
from .http import DEFAULT_TIMEOUT, ProviderClient, ProviderHttp, RetryPolicy
from .ratelimit import SharedRateLimit

FUB_BASE_URL = "https://api.followupboss.com/v1"
PAGE_LIMIT = 100
PROVIDER = "FUB"
AUTH_MESSAGES = {401: "FUB rejected the API key", 403: "FUB account is not active (403)"}
# Requests per 10 s window for a registered system (X-System headers); half without. Assumed
# until FUB's X-RateLimit-Limit says otherwise.
SYSTEM_RATE_LIMIT = 250


@dataclass(frozen=True)
class FubPage:
    """One page of a list; `total` is the size of the whole list, for "N of M"."""

    collection: str
    records: list[dict[str, Any]]
    total: int | None
    offset: int | None
    next: str | None
    next_link: str | None

    @property
    def checkpoint(self) -> str | None:
        """What to pass as `resume` to continue after this page; None after the last page."""
        return self.next or self.next_link


def error_detail(body: Any) -> str | None:
    if isinstance(body, dict) and isinstance(body.get("errorMessage"), str):
        return str(body["errorMessage"])
    return None


class FubClient(ProviderClient):
    """A FUB API key's view of its account. Not thread-safe: one client per job or thread.

    `system`/`system_key` identify a registered integration (FUB doubles its rate limit for
    them). Lists are generators of pages: stop iterating and no further page is fetched.
    With `shared_limit` (a Redis), every client of the same key shares one rate-limit window
    (see ratelimit.py), so concurrent syncs of one account stay under FUB's limit together.
    """

    def __init__(
        self,
        api_key: str,
        base_url: str = FUB_BASE_URL,
        *,
        system: str | None = None,
        system_key: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        pace: bool = True,
        shared_limit: redis.Redis | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if not api_key:
            raise ValueError("a FUB API key is required")
        self.base_url = base_url.rstrip("/")
        headers = {"X-System": system, "X-System-Key": system_key} if system and system_key else {}
        limiter = (
            SharedRateLimit(shared_limit, PROVIDER, api_key, sleep=sleep, rng=rng)
            if shared_limit is not None
            else None
        )
        self._http = ProviderHttp(
            PROVIDER,
            secret=api_key,
            auth=(api_key, ""),
            headers=headers,
            timeout=timeout,
            retry=retry,
            pace=pace,
            auth_messages=AUTH_MESSAGES,
            error_detail=error_detail,
            limiter=limiter,
            default_limit=SYSTEM_RATE_LIMIT if headers else SYSTEM_RATE_LIMIT // 2,
            clock=clock,
            sleep=sleep,
            rng=rng,
        )

    def __repr__(self) -> str:
        return f"<FubClient {self.base_url}>"

    def me(self) -> dict[str, Any]:
        """The user the key belongs to."""
        body = self._http.get_json(f"{self.base_url}/me")
        if not isinstance(body, dict) or "id" not in body:
            raise ProviderError(
                PROVIDER,
                200,
                urlsplit(self.base_url).path + "/me",
                "FUB answered /me without a user id",
            )
        return body

    def people(
        self,
        *,
        updated_after: datetime | str | None = None,
        updated_before: datetime | str | None = None,
        sort: str | None = None,
        include_trash: bool = False,
        fields: str | None = "allFields",
        limit: int = PAGE_LIMIT,
        filters: Mapping[str, Any] | None = None,
        resume: str | None = None,
    ) -> Iterator[FubPage]:
        """Pages of people. For an incremental sync walk `sort="-updated"` and stop once past
        the cursor (`updatedAfter` is reported unreliable on /people)."""
        params = {
            "updatedAfter": fub_timestamp(updated_after) if updated_after else None,
            "updatedBefore": fub_timestamp(updated_before) if updated_before else None,
            "sort": sort,
            "fields": fields,
            "includeTrash": "true" if include_trash else None,
            **(filters or {}),
        }
        return self.pages("people", params, limit=limit, resume=resume)

    def deals(
        self,
        *,
        sort: str | None = None,
        include_archived: bool = False,
        include_deleted: bool = False,
        limit: int = PAGE_LIMIT,
        filters: Mapping[str, Any] | None = None,
        resume: str | None = None,
    ) -> Iterator[FubPage]:
        """Pages of deals. Deals may lack `updated`, so a sync cannot rely on it."""
        params = {
            "sort": sort,
            "includeArchived": 1 if include_archived else None,
            "includeDeleted": 1 if include_deleted else None,
            **(filters or {}),
        }
        return self.pages("deals", params, limit=limit, resume=resume)

    def users(self) -> list[dict[str, Any]]:
        return [r for page in self.pages("users") for r in page.records]

    def pipelines(self) -> list[dict[str, Any]]:
        return [r for page in self.pages("pipelines") for r in page.records]

    def stages(self) -> list[dict[str, Any]]:
        return [r for page in self.pages("stages") for r in page.records]

    def pages(
        self,
        collection: str,
        params: Mapping[str, Any] | None = None,
        *,
        limit: int = PAGE_LIMIT,
        resume: str | None = None,
    ) -> Iterator[FubPage]:
        """Pages of any list, following `nextLink` (or `next`), never deep offsets.

        `resume` is a page's `checkpoint` (a `next` token or a nextLink URL) from an earlier
        walk with the same arguments; the walk continues after that page.
        """
        if not 1 <= limit <= PAGE_LIMIT:
            raise ValueError(f"limit must be between 1 and {PAGE_LIMIT}")
        query = {k: v for k, v in (params or {}).items() if v is not None}
        query["limit"] = limit
        return self._walk(collection, query, resume)

    def _walk(
        self, collection: str, query: dict[str, Any], resume: str | None
    ) -> Iterator[FubPage]:
        url, params = self._start(collection, query, resume)
        seen: set[str] = set()
        while True:
            body = self._http.get_json(url, params)
            page = self._page(collection, body, url)
            yield page
            if page.checkpoint is None:
                return
            if page.checkpoint in seen:
                raise ProviderError(
                    PROVIDER,
                    200,
                    urlsplit(url).path,
                    f"FUB repeated a page token on /{collection}; stopping",
                )
            seen.add(page.checkpoint)
            url, params = self._start(collection, query, page.next_link or page.next)

    def _start(
        self, collection: str, query: dict[str, Any], marker: str | None
    ) -> tuple[str, dict[str, Any] | None]:
        """The request for the page a marker (token or link) points at, or the first page."""
        collection_url = f"{self.base_url}/{collection}"
        if not marker:
            return collection_url, query
        if not marker.startswith(("http://", "https://")):
            return collection_url, {**query, "next": marker}
        link, base = urlsplit(marker), urlsplit(self.base_url)
        if (link.scheme, link.netloc) == (base.scheme, base.netloc):
            return marker, None
        # Never send the key to another host: take the token and ask our own base URL.
        token = parse_qs(link.query).get("next", [""])[0]
        if not token:
            raise ValueError("the resume link has no 'next' token")
        return collection_url, {**query, "next": token}

    @staticmethod
    def _page(collection: str, body: Any, url: str) -> FubPage:
        if not isinstance(body, dict) or not isinstance(body.get(collection, []), list):
            raise ProviderError(
                PROVIDER,
                200,
                urlsplit(url).path,
                f"FUB answered /{collection} without a '{collection}' list",
            )
        meta = body.get("_metadata") or {}
        records = body.get(collection) or []
        if not isinstance(meta, dict) or not all(isinstance(r, dict) for r in records) or \
                not all(isinstance(meta.get(k), str | None) for k in ("next", "nextLink")) or \
                not all(isinstance(meta.get(k), int | None) for k in ("total", "offset")):
            raise MalformedAnswer(
                PROVIDER,
                200,
                urlsplit(url).path,
                f"FUB sent {collection} that do not have the documented shape "
                "(its page of them is not what FUB documents)",
            )
        return FubPage(
            collection=collection,
            records=records,
            total=meta.get("total"),
            offset=meta.get("offset"),
            next=meta.get("next") or None,
            next_link=meta.get("nextLink") or None,
        )
