"""The Follow Up Boss API v1 simulator (see /work/shared/API-NOTES.md for the contract)."""

from __future__ import annotations

import base64
import binascii
from typing import Any, ClassVar
from urllib.parse import urlencode

from werkzeug.wrappers import Request, Response

from . import fub_listing
from .base import Simulator, json_response
from .fub_data import FubAccount
from .limiter import Decision


class FubSimulator(Simulator[FubAccount]):
    """FUB on `http://127.0.0.1:<port>/v1`: each API key is one agent with its own data.

    `rate_limit` is the window's limit for requests with `X-System` and `X-System-Key`
    (without them it is halved); 0 means none. Keys starting with `invalid` get 401, with
    `expired` 403. `people_updated_after_returns_nothing` reproduces a reported quirk of
    `/people?updatedAfter=` (off by default).
    """

    provider: ClassVar[str] = "fub"
    mutation_kinds: ClassVar[tuple[str, ...]] = ("people", "deals", "new_people", "new_deals",
                                                 "trashed_people", "deleted_deals")

    def __init__(self, *, seed: int = 1, people: int = 500, deals: int = 50,
                 rate_limit: int = 250, latency_ms: float = 0, error_rate: float = 0.0,
                 churn_per_minute: float = 0, window_seconds: float = 10.0,
                 host: str = "127.0.0.1", port: int = 0,
                 people_updated_after_returns_nothing: bool = False) -> None:
        super().__init__(seed=seed, rate_limit=rate_limit, latency_ms=latency_ms,
                         error_rate=error_rate, churn_per_minute=churn_per_minute,
                         window_seconds=window_seconds, host=host, port=port)
        self.people = people
        self.deals = deals
        self.people_updated_after_returns_nothing = people_updated_after_returns_nothing

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    def mutate(self, api_key: str, *, people: int = 0, deals: int = 0, new_people: int = 0,
               new_deals: int = 0, trashed_people: int = 0,
               deleted_deals: int = 0) -> dict[str, list[Any]]:
        """Change that many of the key's people and deals now (bumping `updated`), add new
        ones, move people to the trash and delete deals; returns the ids by kind.
        Deterministic given the seed and prior mutations."""
        return super().mutate(api_key, people=people, deals=deals, new_people=new_people,
                              new_deals=new_deals, trashed_people=trashed_people,
                              deleted_deals=deleted_deals)

    def _new_account(self, key: str) -> FubAccount:
        return FubAccount(self.seed, key, people=self.people, deals=self.deals)

    def _api_key(self, request: Request) -> str:
        header = request.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return ""
        try:
            user, _, _password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return ""
        return user

    def _auth_error(self, key: str) -> Response | None:
        if not key or key.startswith("invalid"):
            return self._error(401, "Access denied: invalid or missing API key")
        if key.startswith("expired"):
            return self._error(403, "This account is not active")
        return None

    def _limit(self, request: Request) -> int:
        if not self.rate_limit:
            return 0
        registered = request.headers.get("X-System") and request.headers.get("X-System-Key")
        return self.rate_limit if registered else max(1, self.rate_limit // 2)

    def _limit_headers(self, decision: Decision) -> dict[str, str]:
        window = self.window_seconds
        return {
            "X-RateLimit-Limit": str(decision.limit),
            "X-RateLimit-Remaining": str(decision.remaining),
            "X-RateLimit-Window": str(int(window)) if window == int(window) else str(window),
            "X-RateLimit-Context": "global",
        }

    def _too_many(self, decision: Decision) -> tuple[Response, int | None]:
        response = self._error(429, "Too many requests. Please wait before retrying.")
        response.headers["Retry-After"] = str(decision.retry_after)
        return response, decision.retry_after

    def _error(self, status: int, message: str) -> Response:
        return json_response({"errorMessage": message}, status)

    def _route(self, request: Request, key: str) -> Response:
        if request.method != "GET":
            return self._error(405, "Method not allowed")
        parts = request.path.strip("/").split("/")
        if len(parts) not in (2, 3) or parts[0] != "v1":
            return self._error(404, "Not found")
        if parts[1:] == ["me"]:
            with self._lock:
                user = self._account(key).user
            return json_response({**user, "account": 10_000 + user["id"]})
        if len(parts) == 3:
            with self._lock:
                rows = self._account(key).collection(parts[1]) or []
            found = [r.record for r in rows if str(r.id) == parts[2]]
            return json_response(found[0]) if found else self._error(404, "Not found")
        return self._list(request, key, parts[1])

    def _list(self, request: Request, key: str, collection: str) -> Response:
        try:
            query = fub_listing.parse(request.args)
            with self._lock:
                rows = self._account(key).matching(collection, query.sort, query.params,
                                                   fub_listing.order, fub_listing.matching)
            if rows is None:
                return self._error(404, "Not found")
            if (self.people_updated_after_returns_nothing and collection == "people"
                    and "updatedAfter" in query.params):
                rows = []
            selection = fub_listing.select(rows, query)
        except fub_listing.QueryError as exc:
            return self._error(400, str(exc))
        fields = query.params.get("fields")
        next_link = None
        if selection.next:
            # The original query plus the token, pointing at whatever host the client used.
            link_query = {**query.params, "limit": str(query.limit), "next": selection.next}
            next_link = f"{request.host_url}v1/{collection}?{urlencode(link_query)}"
        return json_response({
            "_metadata": {
                "collection": collection,
                "offset": selection.offset,
                "limit": query.limit,
                "total": selection.total,
                "next": selection.next,
                "nextLink": next_link,
            },
            collection: [fub_listing.project(r.record, fields) for r in selection.rows],
        })
