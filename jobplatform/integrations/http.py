"""GET with pacing and retries, shared by the provider clients.

429: wait Retry-After (or a backoff when it is absent) and try again. 5xx, timeouts and
dropped connections: truncated exponential backoff with jitter. 401/403 and other 4xx:
raise at once. The API key lives only in the httpx client's auth or headers; it appears in
no message, log line or repr.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Self

import httpx
import orjson

from .errors import ProviderAuthError, ProviderError, ProviderUnavailable, RateLimitExceeded
from .pacing import RateLimitPacer

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
USER_AGENT = "jobplatform/0.1"
RETRIED_TRANSPORT_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


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
    """Time spent waiting for the rate limit (pacing and Retry-After)."""
    backoff_seconds: float = 0.0
    """Time spent backing off after 5xx answers and transport errors."""

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


class ProviderHttp:
    """An httpx client that paces and retries GETs and raises the errors of `errors.py`.

    `auth_messages` maps 401/403 to the sentence a person sees; `error_detail` pulls the
    provider's own message out of an error body. `secret` (the API key) is blanked out of
    anything the provider says, in case it echoes the key back.
    """

    def __init__(self, provider: str, *, secret: str,
                 auth: httpx.Auth | tuple[str, str] | None = None,
                 headers: Mapping[str, str] | None = None,
                 timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
                 retry: RetryPolicy | None = None, pace: bool = True,
                 auth_messages: Mapping[int, str],
                 error_detail: Callable[[Any], str | None],
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None) -> None:
        self.provider = provider
        self.retry = retry or RetryPolicy()
        self.stats = RequestStats()
        self.pacer = RateLimitPacer(pace=pace, clock=clock, sleep=sleep)
        self._auth_messages = auth_messages
        self._secret = secret
        self._error_detail = error_detail
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._client = httpx.Client(auth=auth, timeout=timeout, follow_redirects=False,
                                    headers={"User-Agent": USER_AGENT, **(headers or {})})

    def __repr__(self) -> str:
        return f"<ProviderHttp {self.provider}>"

    def close(self) -> None:
        self._client.close()

    def get_json(self, url: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET `url` and return its JSON body, retrying as the module says."""
        path = httpx.URL(url).path
        failures = refusals = 0
        while True:
            self.stats.paced_seconds += self.pacer.wait()
            self.stats.requests += 1
            try:
                response = self._client.get(url, params=params)
            except RETRIED_TRANSPORT_ERRORS as exc:
                failures += 1
                self._unanswered(exc, failures, path)
                continue
            except httpx.HTTPError as exc:
                raise ProviderError(self.provider, None, path,
                                    f"{self.provider} request to {path} failed: {exc}") from exc
            status = response.status_code
            self.pacer.observe(response.headers, admitted=status != 429)
            if status < 300:
                return self._json(response, path)
            if status == 429:
                refusals += 1
                self._rate_limited(response, refusals, path)
            elif status >= 500:
                failures += 1
                self._server_failed(response, failures, path)
            else:
                raise self._refusal(response, path)

    def _unanswered(self, exc: httpx.HTTPError, failures: int, path: str) -> None:
        self.pacer.unanswered()
        self.stats.transport_errors += 1
        what = "timed out" if isinstance(exc, httpx.TimeoutException) else "connection failed"
        if failures > self.retry.max_retries:
            raise ProviderUnavailable(
                self.provider, None, path,
                f"{self.provider} is unavailable: {what} on {path} "
                f"after {self.retry.max_retries} retries") from exc
        self._back_off(failures, what, path)

    def _server_failed(self, response: httpx.Response, failures: int, path: str) -> None:
        self.stats.server_errors += 1
        status = response.status_code
        if failures > self.retry.max_retries:
            raise ProviderUnavailable(
                self.provider, status, path,
                f"{self.provider} is unavailable: {status} on {path} "
                f"after {self.retry.max_retries} retries", self._detail(response))
        self._back_off(failures, str(status), path)

    def _rate_limited(self, response: httpx.Response, refusals: int, path: str) -> None:
        self.stats.rate_limited += 1
        told = retry_after_seconds(response.headers.get("Retry-After"))
        if refusals > self.retry.max_rate_limit_retries or (
                told is not None and told > self.retry.max_retry_after):
            raise RateLimitExceeded(
                self.provider, 429, path,
                f"Rate limit exceeded: {self.provider} answered 429 on {path} "
                f"{refusals} times" + (f" and asked to wait {told:.0f}s" if told else ""),
                self._detail(response))
        if told is None:
            wait = self.retry.backoff(refusals, self._rng)
        else:
            # Never early (that would be refused again); a little late spreads out clients
            # that were refused together.
            wait = told + self._rng.uniform(0, 0.1 * told + 0.05)
        self.stats.retries += 1
        log.info("%s answered 429 on %s; waiting %.2fs before retry %d",
                 self.provider, path, wait, refusals)
        self.pacer.block(wait)

    def _refusal(self, response: httpx.Response, path: str) -> ProviderError:
        status, detail = response.status_code, self._detail(response)
        if status in (401, 403):
            message = self._auth_messages.get(status) or f"{self.provider} refused access"
            return ProviderAuthError(self.provider, status, path, message, detail)
        return ProviderError(self.provider, status, path,
                             f"{self.provider} answered {status} on {path}"
                             + (f": {detail}" if detail else ""), detail)

    def _back_off(self, attempt: int, what: str, path: str) -> None:
        wait = self.retry.backoff(attempt, self._rng)
        self.stats.retries += 1
        self.stats.backoff_seconds += wait
        log.info("%s %s on %s; retry %d of %d in %.2fs", self.provider, what, path, attempt,
                 self.retry.max_retries, wait)
        self._sleep(wait)

    def _json(self, response: httpx.Response, path: str) -> Any:
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise ProviderError(self.provider, response.status_code, path,
                                f"{self.provider} answered {path} with something that is "
                                "not JSON") from None

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
