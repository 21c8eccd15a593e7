"""The reZEN simulator: yenta (who am I) and arrakis (an agent's transactions) on one port."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, ClassVar

from werkzeug.wrappers import Request, Response

from .base import Simulator, json_response
from .limiter import Decision
from .rezen_data import GROUP_STATES, RezenAgent
from .seeding import rng_for

ARRAKIS_PREFIX = "/arrakis/api/v1"
YENTA_PREFIX = "/yenta/api/v1"
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20
SORT_FIELDS = {"UPDATED_AT": "updated_ms", "CREATED_AT": "created_ms"}


class RezenSimulator(Simulator[RezenAgent]):
    """reZEN on one loopback port: arrakis under `/arrakis/api/v1`, yenta under `/yenta/api/v1`.

    Header `X-API-KEY`; keys starting with `invalid` get 401, with `expired` 403. With a
    `rate_limit`, a 429 carries `Retry-After` only some of the time (no limit headers: none
    are known for reZEN).
    """

    provider: ClassVar[str] = "rezen"
    mutation_kinds: ClassVar[tuple[str, ...]] = ("transactions", "new_transactions")

    def __init__(self, *, seed: int = 1, transactions: int = 300, rate_limit: int = 0,
                 latency_ms: float = 0, error_rate: float = 0.0, churn_per_minute: float = 0,
                 window_seconds: float = 10.0, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(seed=seed, rate_limit=rate_limit, latency_ms=latency_ms,
                         error_rate=error_rate, churn_per_minute=churn_per_minute,
                         window_seconds=window_seconds, host=host, port=port)
        self.transactions = transactions
        self._retry_after_draws = rng_for(seed, "rezen", "retry-after")

    @property
    def arrakis_url(self) -> str:
        return self.root_url + ARRAKIS_PREFIX

    @property
    def yenta_url(self) -> str:
        return self.root_url + YENTA_PREFIX

    def mutate(self, api_key: str, *, transactions: int = 0,
               new_transactions: int = 0) -> dict[str, list[Any]]:
        """Change that many of the key's transactions now (some move between groups) and add
        new ones; returns their ids by kind."""
        return super().mutate(api_key, transactions=transactions,
                              new_transactions=new_transactions)

    def yenta_id(self, api_key: str) -> str:
        with self._lock:
            return self._account(api_key).yenta_id

    def _new_account(self, key: str) -> RezenAgent:
        return RezenAgent(self.seed, key, transactions=self.transactions)

    def _api_key(self, request: Request) -> str:
        return request.headers.get("X-API-KEY", "")

    def _auth_error(self, key: str) -> Response | None:
        if not key or key.startswith("invalid"):
            return self._error(401, "Not authorized.")
        if key.startswith("expired"):
            return self._error(403, "Access is denied")
        return None

    def _limit(self, request: Request) -> int:
        return self.rate_limit

    def _limit_headers(self, decision: Decision) -> dict[str, str]:
        return {}

    def _too_many(self, decision: Decision) -> tuple[Response, int | None]:
        response = self._error(429, "Too many requests")
        with self._lock:
            tell = self._retry_after_draws.random() < 0.5
        if not tell:
            return response, None
        response.headers["Retry-After"] = str(decision.retry_after)
        return response, decision.retry_after

    def _error(self, status: int, message: str) -> Response:
        return json_response({"com.real.commons.apierror.ApiError": {
            "status": HTTPStatus(status).name, "message": message}}, status)

    def _route(self, request: Request, key: str) -> Response:
        if request.method != "GET":
            return self._error(405, "Request method not supported")
        with self._lock:
            agent = self._account(key)
            if request.path == f"{YENTA_PREFIX}/users/me":
                return json_response(agent.agent)
            parts = request.path.removeprefix(ARRAKIS_PREFIX).strip("/").split("/")
            if (not request.path.startswith(ARRAKIS_PREFIX + "/") or len(parts) != 5
                    or parts[:2] != ["transactions", "participant"] or parts[3] != "transactions"):
                return self._error(404, "Not found")
            if parts[2] != agent.yenta_id:
                return self._error(403, "Access is denied")
            if parts[4] not in GROUP_STATES:
                return self._error(400, f"Invalid lifecycle group {parts[4]}; "
                                        f"use {', '.join(GROUP_STATES)}")
            rows = agent.in_group(parts[4])
        return self._page(request, rows)

    def _page(self, request: Request, rows: list[Any]) -> Response:
        try:
            number = int(request.args.get("pageNumber", 0))
            size = min(int(request.args.get("pageSize", DEFAULT_PAGE_SIZE)), MAX_PAGE_SIZE)
        except ValueError:
            return self._error(400, "pageNumber and pageSize must be integers")
        sort_by = request.args.get("sortBy", "UPDATED_AT")
        direction = request.args.get("sortDirection", "DESC")
        if number < 0 or size < 1 or sort_by not in SORT_FIELDS or direction not in ("ASC", "DESC"):
            return self._error(400, "Invalid paging or sort parameters")
        attribute = SORT_FIELDS[sort_by]
        rows.sort(key=lambda t: (getattr(t, attribute), t.id), reverse=direction == "DESC")
        start = number * size
        page = rows[start:start + size]
        return json_response({"pageNumber": number, "pageSize": size,
                              "hasNext": start + size < len(rows),
                              "transactions": [t.record for t in page]})
