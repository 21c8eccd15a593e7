"""What both simulators share: the request pipeline (latency, auth, rate limit, faults),
the per-key accounts and counters, and the `/_sim/*` test hooks."""

from __future__ import annotations

import copy
import threading
import time
from abc import ABC, abstractmethod
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, Self, TypeVar

import orjson
from werkzeug.wrappers import Request, Response

from .limiter import Decision, SlidingWindowLimiter
from .seeding import rng_for
from .server import BackgroundServer
from .stats import StatsBook

#: What `POST /_sim/configure` may change while a simulator serves (numbers), and `malformed`.
FAULT_SETTINGS = ("rate_limit", "latency_ms", "error_rate", "churn_per_minute",
                  "malformed_rate", "hang_seconds")
#: How a malformed answer is broken: a body that is not JSON at all, valid JSON cut short,
#: or the documented shape with every value of the wrong type.
MALFORMED_KINDS = ("garbage", "truncated", "wrong_types")

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

FAULT_STATUSES = (500, 502, 503)


class Account(Protocol):
    """One API key's data."""

    def mutate(self, now: float, **counts: int) -> dict[str, list[Any]]: ...

    def churn(self, per_minute: float, now: float) -> None: ...

    def snapshot(self) -> dict[str, Any]: ...


AccountT = TypeVar("AccountT", bound=Account)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status=status, headers=headers,
                    mimetype="application/json")


class Simulator(ABC, Generic[AccountT]):
    """A provider simulator on a loopback port; use it as a context manager or start()/stop()."""

    provider: ClassVar[str]
    mutation_kinds: ClassVar[tuple[str, ...]]

    def __init__(self, *, seed: int, rate_limit: int, latency_ms: float, error_rate: float,
                 churn_per_minute: float, window_seconds: float = 10.0,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        if not 0.0 <= error_rate <= 1.0:
            raise ValueError("error_rate is a fraction between 0 and 1")
        if rate_limit < 0 or latency_ms < 0 or churn_per_minute < 0 or window_seconds <= 0:
            raise ValueError("rate_limit, latency_ms and churn_per_minute cannot be negative")
        self.seed = seed
        self.rate_limit = rate_limit
        self.latency_ms = latency_ms
        self.error_rate = error_rate
        self.churn_per_minute = churn_per_minute
        self.window_seconds = window_seconds
        #: A share of successful answers broken the `malformed` way (see MALFORMED_KINDS).
        self.malformed = "garbage"
        self.malformed_rate = 0.0
        #: Seconds every answer is held before it is sent: a provider that hangs.
        self.hang_seconds = 0.0
        self._lock = threading.Lock()  # guards the accounts and the fault generator
        self._accounts: dict[str, AccountT] = {}
        self._faults = rng_for(seed, self.provider, "faults")
        self._limiter = SlidingWindowLimiter(window_seconds)
        self._book = StatsBook()
        self._server = BackgroundServer(self.wsgi_app, host=host, port=port)

    # Lifecycle

    def start(self) -> Self:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def root_url(self) -> str:
        return f"http://{self._server.host}:{self._server.port}"

    @property
    def control_url(self) -> str:
        """Where the `/_sim` hooks live (see `SimulatorControl`)."""
        return f"{self.root_url}/_sim"

    # Test hooks

    def configure(self, **settings: Any) -> None:
        """Change settings while serving (a test's faults): `rate_limit`, `latency_ms`,
        `error_rate`, `churn_per_minute`, `window_seconds`, and the data sizes (`people`,
        `deals`, `transactions`), which apply to keys not yet used."""
        with self._lock:
            for name, value in settings.items():
                if name.startswith("_") or not hasattr(self, name):
                    raise ValueError(f"{type(self).__name__} has no setting {name!r}")
                setattr(self, name, value)
            if "window_seconds" in settings:
                self._limiter = SlidingWindowLimiter(self.window_seconds)

    def stats(self, api_key: str | None = None) -> dict[str, int]:
        """The counters of `KeyStats` for one key, or their totals (plus `keys`)."""
        return self._book.snapshot(api_key)

    def mutate(self, api_key: str, **counts: int) -> dict[str, list[Any]]:
        """Change that key's records now; returns the ids changed or added, by kind."""
        unknown = set(counts) - set(self.mutation_kinds)
        if unknown:
            raise ValueError(f"unknown mutation kinds {sorted(unknown)}; "
                             f"use {', '.join(self.mutation_kinds)}")
        with self._lock:
            return self._account(api_key).mutate(time.time(), **counts)

    def dataset(self, api_key: str) -> dict[str, Any]:
        """Everything the simulator holds for that key, hidden records included."""
        with self._lock:
            return copy.deepcopy(self._account(api_key).snapshot())

    def _account(self, key: str) -> AccountT:
        """The key's data, created on first use and churned up to now; hold the lock."""
        account = self._accounts.get(key)
        if account is None:
            account = self._accounts[key] = self._new_account(key)
        if self.churn_per_minute:
            account.churn(self.churn_per_minute, time.time())
        return account

    # The request pipeline

    def wsgi_app(self, environ: WSGIEnvironment, start_response: StartResponse) -> Any:
        request = Request(environ)
        if request.path.startswith("/_sim/"):
            response = self._hook(request)
        else:
            response = self._serve(request)
        return response(environ, start_response)

    def _serve(self, request: Request) -> Response:
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)
        if self.hang_seconds:
            time.sleep(self.hang_seconds)
        key = self._api_key(request)
        denied = self._auth_error(key)
        if denied is not None:
            self._book.answered(key, denied.status_code)
            return denied
        headers: dict[str, str] = {}
        limit = self._limit(request)
        if limit:
            decision = self._limiter.acquire(key, limit)
            headers = self._limit_headers(decision)
            if not decision.allowed:
                response, told = self._too_many(decision)
                response.headers.update(headers)
                self._book.refused(key, time.monotonic(), told)
                return response
        fault = self._draw_fault()
        response = self._fault(fault) if fault else self._route(request, key)
        if response.status_code == 200 and self._draw(self.malformed_rate):
            response = malformed(response, self.malformed)
        response.headers.update(headers)
        self._book.answered(key, response.status_code, fault=bool(fault))
        return response

    def _draw(self, rate: float) -> bool:
        if not rate:
            return False
        with self._lock:
            return self._faults.random() < rate

    def _draw_fault(self) -> int:
        if not self.error_rate:
            return 0
        with self._lock:
            if self._faults.random() >= self.error_rate:
                return 0
            return self._faults.choice(FAULT_STATUSES)

    def _fault(self, status: int) -> Response:
        if status == 502:  # what a proxy in front of the API answers: not JSON
            return Response("<html><body><h1>502 Bad Gateway</h1></body></html>", status=502,
                            mimetype="text/html")
        return self._error(status, "The service is temporarily unavailable")

    def _hook(self, request: Request) -> Response:
        name = request.path.removeprefix("/_sim/")
        if name == "health":
            return json_response({"provider": self.provider, "ok": True})
        if name == "stats" and request.method == "GET":
            return json_response(self.stats(request.args.get("api_key")))
        if name == "dataset" and request.method == "GET" and request.args.get("api_key"):
            return json_response(self.dataset(request.args["api_key"]))
        if name == "mutate" and request.method == "POST":
            body = request.get_json(silent=True)
            if not isinstance(body, dict) or not isinstance(body.get("api_key"), str):
                return json_response({"error": "send JSON with api_key and counts"}, 400)
            counts = {k: v for k, v in body.items() if k != "api_key"}
            if set(counts) - set(self.mutation_kinds) or not all(
                    isinstance(v, int) and v >= 0 for v in counts.values()):
                return json_response({"error": "counts are non-negative integers of "
                                               f"{', '.join(self.mutation_kinds)}"}, 400)
            return json_response(self.mutate(body["api_key"], **counts))
        if name == "configure" and request.method == "POST":
            return self._configure_hook(request.get_json(silent=True))
        return json_response({"error": "unknown test hook; see jobplatform.simulators"}, 404)

    def _configure_hook(self, body: Any) -> Response:
        """`POST /_sim/configure {"error_rate": 1.0}`: faults switched from another process
        (the demo's provider outage, a test's)."""
        numbers = {k: v for k, v in body.items() if k != "malformed"} \
            if isinstance(body, dict) else {}
        if not isinstance(body, dict) or not body or not set(numbers) <= set(FAULT_SETTINGS) or \
                not all(isinstance(v, int | float) and v >= 0 for v in numbers.values()) or \
                numbers.get("error_rate", 0) > 1 or numbers.get("malformed_rate", 0) > 1 or \
                body.get("malformed", MALFORMED_KINDS[0]) not in MALFORMED_KINDS:
            return json_response({"error": "send JSON with non-negative numbers for any of "
                                           f"{', '.join(FAULT_SETTINGS)} (the rates at most 1), "
                                           f"and malformed one of {', '.join(MALFORMED_KINDS)}"},
                                 400)
        self.configure(**body)
        return json_response({name: getattr(self, name) for name in (*FAULT_SETTINGS,
                                                                      "malformed")})

    # What each provider does its own way

    @abstractmethod
    def _new_account(self, key: str) -> AccountT: ...

    @abstractmethod
    def _api_key(self, request: Request) -> str:
        """The key the request carries; empty when it carries none."""

    @abstractmethod
    def _auth_error(self, key: str) -> Response | None:
        """The provider's 401/403 for a missing, invalid or expired key; None to proceed."""

    @abstractmethod
    def _limit(self, request: Request) -> int:
        """Requests allowed per window for this request; 0 for no limit."""

    @abstractmethod
    def _limit_headers(self, decision: Decision) -> dict[str, str]: ...

    @abstractmethod
    def _too_many(self, decision: Decision) -> tuple[Response, int | None]:
        """The 429, and the Retry-After it tells the client (None when it tells none)."""

    @abstractmethod
    def _error(self, status: int, message: str) -> Response:
        """An error in the provider's body format."""

    @abstractmethod
    def _route(self, request: Request, key: str) -> Response: ...


def malformed(response: Response, kind: str) -> Response:
    """`response` (a 200 with a JSON body) broken the `kind` way of MALFORMED_KINDS."""
    body = response.get_data()
    if kind == "garbage":
        broken = b"\x00\xff<html>not json{"
    elif kind == "truncated":
        broken = body[: max(1, len(body) // 2)]
    else:
        broken = orjson.dumps(_wrong_types(orjson.loads(body)))
    return Response(broken, status=200, headers=dict(response.headers),
                    mimetype="application/json")


def _wrong_types(value: Any) -> Any:
    """The same shape with every leaf of another type: strings become numbers, numbers and
    booleans strings, nulls objects; lists and objects keep their place."""
    if isinstance(value, dict):
        return {key: _wrong_types(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_wrong_types(item) for item in value]
    if isinstance(value, str):
        return 7
    if value is None:
        return {"unexpected": True}
    return str(value)
