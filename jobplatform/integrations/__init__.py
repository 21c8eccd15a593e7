"""Clients of the providers a user connects: Follow Up Boss and reZEN (real HTTP via httpx)."""

from .dates import fub_timestamp, parse_timestamp
from .errors import ProviderAuthError, ProviderError, ProviderUnavailable, RateLimitExceeded
from .fub import FUB_BASE_URL, FubClient, FubPage
from .http import RequestStats, RetryPolicy
from .rezen import ARRAKIS_URL, GROUPS, YENTA_URL, RezenClient, RezenPage

__all__ = [
    "ARRAKIS_URL",
    "FUB_BASE_URL",
    "GROUPS",
    "YENTA_URL",
    "FubClient",
    "FubPage",
    "ProviderAuthError",
    "ProviderError",
    "ProviderUnavailable",
    "RateLimitExceeded",
    "RequestStats",
    "RetryPolicy",
    "RezenClient",
    "RezenPage",
    "fub_timestamp",
    "parse_timestamp",
]
