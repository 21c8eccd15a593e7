"""Errors a provider client raises; each names the provider, HTTP status and request path.

None of them ever holds the API key. The arguments are kept in `args`, so the exceptions
survive pickling and Celery's result serialisation.
"""

from __future__ import annotations

from typing import ClassVar

from ..errors import JobPlatformError


class ProviderError(JobPlatformError):
    """The provider answered with an error the client does not retry (400, 404 ...)."""

    retryable: ClassVar[bool] = False
    """Whether running the job again later may succeed."""

    def __init__(self, provider: str, status: int | None, path: str, message: str,
                 detail: str | None = None) -> None:
        super().__init__(provider, status, path, message, detail)
        self.provider = provider
        self.status = status
        self.path = path
        self.message = message
        self.detail = detail
        """What the provider said, when it said something."""

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(provider={self.provider!r}, status={self.status!r}, "
                f"path={self.path!r}, message={self.message!r})")


class MalformedAnswer(ProviderError):
    """The provider answered 200 with records that do not have its documented shape; running
    again gets the same answer until the provider is fixed."""


class ProviderAuthError(ProviderError):
    """401/403: the key is wrong or the account inactive; permanent until someone fixes it."""


class RateLimitExceeded(ProviderError):
    """The provider kept answering 429 after the client's retries."""

    retryable = True
    retry_after: float | None = None
    """The seconds the last 429's Retry-After asked to wait, when it said."""


class ProviderUnavailable(ProviderError):
    """5xx answers or timeouts after the client's retries."""

    retryable = True
