"""GET with pacing and retries, shared by the provider clients.

429: wait Retry-After (or a backoff when it is absent) and try again. 5xx, timeouts and
dropped connections: truncated exponential backoff with jitter. 401/403 and other 4xx:
raise at once. tenacity runs the attempts; what to retry, how long to wait and when to give
up are decided here. With a `SharedRateLimit` every request takes a slot of its account's
window first, so many clients of one account stay under its limit together. The API key
lives only in the httpx client's auth or headers; it appears in no message, log line or repr.
"""

from __future__ import annotations

import email.utils
import functools
import logging
import random
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Self

import certifi
import httpx
import orjson
import redis
from tenacity import RetryCallState, Retrying, retry_if_exception_type

from .errors import ProviderAuthError, ProviderError, ProviderUnavailable, RateLimitExceeded
from .pacing import RateLimitPacer
from .ratelimit import SharedRateLimit

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
USER_AGENT = "jobplatform/0.1"
RETRIED_TRANSPORT_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


_tls_lock = threading.Lock()


def tls_context() -> ssl.SSLContext:
    """The process's TLS settings (httpx's defaults), shared by every client: loading the CA
    bundle costs tens of milliseconds of CPU, more than the rest of a short sync."""
    with _tls_lock:  # a threads pool's first syncs all start at once: load it once
        return _load_tls_context()


@functools.cache
def _load_tls_context() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=certifi.where())


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 5
    """Retries of one request after 5xx answers, timeouts or dropped connections."""
    max_rate_limit_retries: int = 10
    """Retries of one request after 429s."""
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    max_retry_after: float = 300.0
    """A Retry-After longer than this fails the request at once rather than blocking a worker."""

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Truncated exponential with jitter: half the step fixed, half random."""
        step = min(self.backoff_cap, self.backoff_base * 2 ** max(0, attempt - 1))
        return step / 2 + rng.uniform(0, step / 2)


@dataclass
class RequestStats:
    """What a client went through; callers record it in job logs."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    """429 answers seen."""
    server_errors: int = 0
    """5xx answers seen."""
    transport_errors: int = 0
    """Timeouts and dropped connections."""
    paced_seconds: float = 0.0
    """Time spent waiting for the rate limit (pacing, the shared limit and Retry-After)."""
    backoff_seconds: float = 0.0
    """Time spent backing off after 5xx answers and transport errors."""

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


class _Retryable(Exception):
    """An attempt that failed in a way worth trying again; never leaves `get_json`.

    `error` is what the caller gets once the retries are used up; `count` is how many
    attempts in a row failed this way and `budget` how many retries that kind allows.
    """

    def __init__(
        self,
        error: ProviderError,
        *,
        count: int,
        budget: int,
        delay: float,
        what: str,
        rate_limited: bool = False,
        give_up: bool = False,
    ) -> None:
        super().__init__(error.message)
        self.error = error
        self.count = count
        self.budget = budget
        self.delay = delay
        self.what = what
        self.rate_limited = rate_limited
        self.give_up = give_up


@dataclass
class _Tally:
    """One request's failures so far, by kind."""

    failures: int = 0
    refusals: int = 0


def _failure(state: RetryCallState) -> _Retryable:
    exc = state.outcome.exception() if state.outcome else None
    assert isinstance(exc, _Retryable)
    return exc


def _exhausted(state: RetryCallState) -> bool:
    failure = _failure(state)
    return failure.give_up or failure.count > failure.budget


def _give_up(state: RetryCallState) -> Any:
    failure = _failure(state)
    raise failure.error from failure.__cause__


class ProviderHttp:
    """An httpx client that paces and retries GETs and raises the errors of `errors.py`.

    `auth_messages` maps 401/403 to the sentence a person sees; `error_detail` pulls the
    provider's own message out of an error body. `secret` (the API key) is blanked out of
    anything the provider says, in case it echoes the key back. `limiter` shares the
    account's window with its other clients (then the client's own pacing is only a fallback
    for when Redis cannot be reached); `default_limit` is the limit assumed until the
    provider announces one, None for "no limit until told".
    """

    def __init__(
        self,
        provider: str,
        *,
        secret: str,
        auth: httpx.Auth | tuple[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        pace: bool = True,
        auth_messages: Mapping[int, str],
        error_detail: Callable[[Any], str | None],
        limiter: SharedRateLimit | None = None,
        default_limit: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.provider = provider
        self.retry = retry or RetryPolicy()
        self.stats = RequestStats()
        self.limiter = limiter
        self.default_limit = default_limit
        self.pacer = RateLimitPacer(pace=pace and limiter is None, clock=clock, sleep=sleep)
        self._pace = pace
        self._auth_messages = auth_messages
        self._secret = secret
        self._error_detail = error_detail
        self._rng = rng or random.Random()
        self._client = httpx.Client(
            auth=auth,
            timeout=timeout,
            follow_redirects=False,
            verify=tls_context(),
            headers={"User-Agent": USER_AGENT, **(headers or {})},
        )
        self._retrying = Retrying(
            sleep=sleep,
            retry=retry_if_exception_type(_Retryable),
            stop=_exhausted,
            wait=lambda state: 0.0 if _failure(state).rate_limited else _failure(state).delay,
            before_sleep=self._before_retry,
            retry_error_callback=_give_up,
        )

    def __repr__(self) -> str:
        return f"<ProviderHttp {self.provider}>"

    def close(self) -> None:
        self._client.close()

    def get_json(self, url: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET `url` and return its JSON body, retrying as the module says."""
        path = httpx.URL(url).path
        return self._retrying.copy()(self._attempt, url, params, path, _Tally())

    def _attempt(self, url: str, params: Mapping[str, Any] | None, path: str, tally: _Tally) -> Any:
        self.stats.paced_seconds += self.pacer.wait()
        slot = self._take_slot()
        self.stats.requests += 1
        try:
            response = self._client.get(url, params=params)
        except BaseException as exc:
            self._release_slot(slot)
            if isinstance(exc, RETRIED_TRANSPORT_ERRORS):
                self.pacer.unanswered()
                self.stats.transport_errors += 1
                tally.failures += 1
                what = (
                    "timed out" if isinstance(exc, httpx.TimeoutException) else "connection failed"
                )
                raise self._retryable(
                    ProviderUnavailable(
                        self.provider,
                        None,
                        path,
                        f"{self.provider} is unavailable: {what} on {path} "
                        f"after {self.retry.max_retries} retries",
                    ),
                    tally.failures,
                    what,
                ) from exc
            if isinstance(exc, httpx.HTTPError):
                raise ProviderError(
                    self.provider, None, path, f"{self.provider} request to {path} failed: {exc}"
                ) from exc
            raise
        status = response.status_code
        self.pacer.observe(response.headers, admitted=status != 429)
        self._release_slot(slot)
        if status < 300:
            return self._json(response, path)
        if status == 429:
            tally.refusals += 1
            raise self._rate_limited(response, tally.refusals, path)
        if status >= 500:
            self.stats.server_errors += 1
            tally.failures += 1
            raise self._retryable(
                ProviderUnavailable(
                    self.provider,
                    status,
                    path,
                    f"{self.provider} is unavailable: {status} on {path} "
                    f"after {self.retry.max_retries} retries",
                    self._detail(response),
                ),
                tally.failures,
                str(status),
            )
        raise self._refusal(response, path)

    def _retryable(self, error: ProviderError, failures: int, what: str) -> _Retryable:
        return _Retryable(
            error,
            count=failures,
            budget=self.retry.max_retries,
            what=what,
            delay=self.retry.backoff(failures, self._rng),
        )

    def _rate_limited(self, response: httpx.Response, refusals: int, path: str) -> _Retryable:
        self.stats.rate_limited += 1
        told = retry_after_seconds(response.headers.get("Retry-After"))
        error = RateLimitExceeded(
            self.provider,
            429,
            path,
            f"Rate limit exceeded: {self.provider} answered 429 on {path} "
            f"{refusals} times" + (f" and asked to wait {told:.0f}s" if told else ""),
            self._detail(response),
        )
        error.retry_after = told
        if told is None:
            wait = self.retry.backoff(refusals, self._rng)
        else:
            # Never early (that would be refused again); a little late spreads out clients
            # that were refused together.
            wait = told + self._rng.uniform(0, 0.1 * told + 0.05)
        return _Retryable(
            error,
            count=refusals,
            budget=self.retry.max_rate_limit_retries,
            delay=wait,
            what="answered 429",
            rate_limited=True,
            give_up=told is not None and told > self.retry.max_retry_after,
        )

    def _before_retry(self, state: RetryCallState) -> None:
        failure = _failure(state)
        self.stats.retries += 1
        path = failure.error.path
        if failure.rate_limited:
            log.info(
                "%s answered 429 on %s; waiting %.2fs before retry %d",
                self.provider,
                path,
                failure.delay,
                failure.count,
            )
            self.pacer.block(failure.delay)
            if self.limiter is not None:
                self._shared(self.limiter.block, failure.delay)
            return
        self.stats.backoff_seconds += failure.delay
        log.info(
            "%s %s on %s; retry %d of %d in %.2fs",
            self.provider,
            failure.what,
            path,
            failure.count,
            self.retry.max_retries,
            failure.delay,
        )

    # -- the shared limit ----------------------------------------------------------------

    def _take_slot(self) -> str | None:
        limit = self.pacer.limit or self.default_limit
        if self.limiter is None or not limit:
            return None
        taken = self._shared(self.limiter.acquire, limit, self.pacer.window)
        if taken is None:
            return None
        slot, waited = taken
        self.stats.paced_seconds += waited
        return slot

    def _release_slot(self, slot: str | None) -> None:
        if slot is not None and self.limiter is not None:
            self._shared(self.limiter.release, slot, self.pacer.limit)

    def _shared(self, call: Callable[..., Any], *args: Any) -> Any:
        """`call` on the shared limit; if Redis fails, this client paces itself from now on
        rather than failing its job (429s are still honoured either way)."""
        try:
            return call(*args)
        except redis.RedisError as exc:
            if self.pacer.pace != self._pace:
                log.warning(
                    "%s: the shared rate limit is unreachable (%s); this client paces itself",
                    self.provider,
                    exc,
                )
                self.pacer.pace = self._pace
            return None

    # -- answers -------------------------------------------------------------------------

    def _refusal(self, response: httpx.Response, path: str) -> ProviderError:
        status, detail = response.status_code, self._detail(response)
        if status in (401, 403):
            message = self._auth_messages.get(status) or f"{self.provider} refused access"
            return ProviderAuthError(self.provider, status, path, message, detail)
        return ProviderError(
            self.provider,
            status,
            path,
            f"{self.provider} answered {status} on {path}" + (f": {detail}" if detail else ""),
            detail,
        )

    def _json(self, response: httpx.Response, path: str) -> Any:
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise ProviderError(
                self.provider,
                response.status_code,
                path,
                f"{self.provider} answered {path} with something that is not JSON",
            ) from None

    def _detail(self, response: httpx.Response) -> str | None:
        try:
            detail = self._error_detail(orjson.loads(response.content))
        except orjson.JSONDecodeError:
            return None
        return detail.replace(self._secret, "***") if detail and self._secret else detail


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP date; None if absent or bad."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class ProviderClient:
    """What every provider's client shares: its transport's counters, and closing it."""

    _http: ProviderHttp

    @property
    def stats(self) -> RequestStats:
        return self._http.stats

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
