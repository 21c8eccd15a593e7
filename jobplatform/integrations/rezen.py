"""reZEN client: the agent from yenta, the agent's transactions from arrakis, page by page."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import redis

from .errors import ProviderError
from .http import DEFAULT_TIMEOUT, ProviderClient, ProviderHttp, RetryPolicy
from .ratelimit import SharedRateLimit

ARRAKIS_URL = "https://arrakis.therealbrokerage.com/api/v1"
YENTA_URL = "https://yenta.therealbrokerage.com/api/v1"
GROUPS = ("OPEN", "CLOSED", "TERMINATED")
PAGE_SIZE = 100
PROVIDER = "reZEN"
AUTH_MESSAGES = {
    401: "reZEN rejected the API key",
    403: "reZEN refused access (403): the account may be inactive or not this agent's",
}
API_ERROR = "com.real.commons.apierror.ApiError"


@dataclass(frozen=True)
class RezenPage:
    group: str
    page_number: int
    records: list[dict[str, Any]]
    has_next: bool

    @property
    def next_page(self) -> int | None:
        """The `start_page` that continues after this page; None after the last page."""
        return self.page_number + 1 if self.has_next and self.records else None


def error_detail(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    error = body.get(API_ERROR, body)
    message = error.get("message") if isinstance(error, dict) else None
    return message if isinstance(message, str) else None


class RezenClient(ProviderClient):
    """A reZEN API key's view. Not thread-safe: one client per job or thread.

    reZEN documents no rate limit, so with `shared_limit` (a Redis) the clients of one key
    share a window only once reZEN announces a limit; a 429 holds all of them back either way.
    """

    def __init__(
        self,
        api_key: str,
        arrakis_url: str = ARRAKIS_URL,
        yenta_url: str = YENTA_URL,
        *,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        pace: bool = True,
        shared_limit: redis.Redis | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if not api_key:
            raise ValueError("a reZEN API key is required")
        self.arrakis_url = arrakis_url.rstrip("/")
        self.yenta_url = yenta_url.rstrip("/")
        limiter = (
            SharedRateLimit(shared_limit, PROVIDER, api_key, sleep=sleep, rng=rng)
            if shared_limit is not None
            else None
        )
        self._http = ProviderHttp(
            PROVIDER,
            secret=api_key,
            headers={"X-API-KEY": api_key},
            timeout=timeout,
            retry=retry,
            pace=pace,
            auth_messages=AUTH_MESSAGES,
            error_detail=error_detail,
            limiter=limiter,
            clock=clock,
            sleep=sleep,
            rng=rng,
        )

    def __repr__(self) -> str:
        return f"<RezenClient {self.arrakis_url} {self.yenta_url}>"

    def agent(self) -> dict[str, Any]:
        """The agent the key belongs to, as yenta describes it."""
        body = self._http.get_json(f"{self.yenta_url}/users/me")
        if not isinstance(body, dict) or not body.get("id"):
            raise ProviderError(
                PROVIDER,
                200,
                httpx.URL(self.yenta_url).path + "/users/me",
                "reZEN answered /users/me without an id",
            )
        return body

    def me(self) -> str:
        """The agent's yentaId, which the transaction lists are keyed by."""
        return str(self.agent()["id"])

    def transactions(
        self,
        yenta_id: str,
        group: str,
        *,
        page_size: int = PAGE_SIZE,
        start_page: int = 0,
        sort_by: str = "UPDATED_AT",
        sort_direction: str = "DESC",
    ) -> Iterator[RezenPage]:
        """Pages of one group's transactions, newest-updated first by default.

        Resume a walk with `start_page=page.next_page`. Transactions move between groups, so
        a sync walks all of `GROUPS` every run.
        """
        if group not in GROUPS:
            raise ValueError(f"group must be one of {', '.join(GROUPS)}")
        if page_size < 1 or start_page < 0:
            raise ValueError("page_size must be positive and start_page not negative")
        url = (
            f"{self.arrakis_url}/transactions/participant/{quote(yenta_id, safe='')}"
            f"/transactions/{group}"
        )
        params = {"pageSize": page_size, "sortBy": sort_by, "sortDirection": sort_direction}
        return self._walk(url, group, params, start_page)

    def _walk(
        self, url: str, group: str, params: dict[str, Any], page_number: int
    ) -> Iterator[RezenPage]:
        while True:
            body = self._http.get_json(url, {**params, "pageNumber": page_number})
            if not isinstance(body, dict) or not isinstance(body.get("transactions", []), list):
                raise ProviderError(
                    PROVIDER,
                    200,
                    httpx.URL(url).path,
                    "reZEN answered without a 'transactions' list",
                )
            page = RezenPage(
                group, page_number, body.get("transactions") or [], bool(body.get("hasNext"))
            )
            yield page
            if page.next_page is None:
                return
            page_number = page.next_page
