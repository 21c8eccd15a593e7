"""The `/_sim` test hooks over HTTP, for a simulator running in another process."""

from __future__ import annotations

from typing import Any

import httpx


class SimulatorControl:
    """`mutate`, `stats` and `dataset` of a simulator at `control_url` (`http://host:port/_sim`)."""

    def __init__(self, control_url: str, *, timeout: float = 30.0) -> None:
        self.control_url = control_url.rstrip("/")
        self._client = httpx.Client(timeout=timeout)

    def mutate(self, api_key: str, **counts: int) -> dict[str, list[Any]]:
        return self._call("POST", "mutate", json={"api_key": api_key, **counts})

    def configure(self, **faults: float) -> dict[str, float]:
        """Switch faults while it serves: `error_rate`, `latency_ms`, `rate_limit`,
        `churn_per_minute`."""
        return self._call("POST", "configure", json=faults)

    def stats(self, api_key: str | None = None) -> dict[str, int]:
        return self._call("GET", "stats", params={"api_key": api_key} if api_key else None)

    def dataset(self, api_key: str) -> dict[str, Any]:
        return self._call("GET", "dataset", params={"api_key": api_key})

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> SimulatorControl:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _call(self, method: str, hook: str, **kwargs: Any) -> Any:
        response = self._client.request(method, f"{self.control_url}/{hook}", **kwargs)
        response.raise_for_status()
        return response.json()
