"""Settings read from the environment, with the embedded defaults for one machine."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

PREFIX = "JOBPLATFORM_"
FALLBACK_BROKER_URL = "redis://127.0.0.1:6379/0"
EMBEDDED_REDIS_FILE = "embedded-redis.json"


def instance_path(environ: Mapping[str, str] = os.environ) -> Path:
    """The folder for the embedded database, Redis data and generated secrets."""
    return Path(environ.get(PREFIX + "INSTANCE_PATH") or Path.cwd() / "instance").resolve()


def embedded_broker_url(instance: Path) -> str | None:
    """The URL of the embedded Redis that `jobplatform up` runs from this instance, if it runs."""
    try:
        info = json.loads((instance / EMBEDDED_REDIS_FILE).read_text())
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return str(info["url"])


def load_or_create_secret_key(instance: Path) -> str:
    """The secret generated once for this instance and kept in its folder."""
    path = instance / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    # O_EXCL: when two processes start at once, one wins and the other reads its key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def _web_url(environ: Mapping[str, str], name: str) -> str | None:
    """An http(s) URL setting, or None when unset."""
    # Anything else is refused: it becomes a link on the dashboard, where `javascript:` runs.
    raw = (environ.get(PREFIX + name) or "").strip()
    if not raw:
        return None
    if urlsplit(raw).scheme not in ("http", "https") or not urlsplit(raw).netloc:
        raise ValueError(f"{PREFIX}{name} must be an http:// or https:// URL, got {raw!r}")
    return raw


@dataclass(frozen=True)
class Settings:
    """Every setting the platform reads; see DESIGN.md "Settings"."""

    instance_path: Path
    broker_url: str
    journal_url: str
    database_url: str
    secret_key: str | None
    fub_base_url: str
    fub_system: str | None
    fub_system_key: str | None
    rezen_arrakis_url: str
    rezen_yenta_url: str
    fub_sync_interval: int
    rezen_sync_interval: int
    job_retention_days: int
    prune_interval: int
    reap_interval: int
    import_max_bytes: int
    # Where operators open Flower (the dashboard links to it); None when no Flower runs.
    flower_url: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        def get(name: str, default: str) -> str:
            return environ.get(PREFIX + name) or default

        def get_int(name: str, default: int) -> int:
            raw = environ.get(PREFIX + name)
            if not raw:
                return default
            try:
                return int(raw)
            except ValueError:
                raise ValueError(f"{PREFIX}{name} must be a whole number, got {raw!r}") from None

        instance = instance_path(environ)
        broker = get("BROKER_URL", embedded_broker_url(instance) or FALLBACK_BROKER_URL)
        return cls(
            instance_path=instance,
            broker_url=broker,
            journal_url=get("JOURNAL_URL", broker),
            database_url=get("DATABASE_URL", f"sqlite:///{instance / 'jobplatform.db'}"),
            secret_key=environ.get(PREFIX + "SECRET_KEY") or None,
            fub_base_url=get("FUB_BASE_URL", "https://api.followupboss.com/v1"),
            # A registered FUB integration's X-System / X-System-Key (FUB doubles its limit).
            fub_system=environ.get(PREFIX + "FUB_SYSTEM") or None,
            fub_system_key=environ.get(PREFIX + "FUB_SYSTEM_KEY") or None,
            rezen_arrakis_url=get(
                "REZEN_ARRAKIS_URL", "https://arrakis.therealbrokerage.com/api/v1"
            ),
            rezen_yenta_url=get("REZEN_YENTA_URL", "https://yenta.therealbrokerage.com/api/v1"),
            fub_sync_interval=get_int("FUB_SYNC_INTERVAL", 300),
            rezen_sync_interval=get_int("REZEN_SYNC_INTERVAL", 900),
            job_retention_days=get_int("JOB_RETENTION_DAYS", 30),
            prune_interval=get_int("PRUNE_INTERVAL", 3600),
            reap_interval=get_int("REAP_INTERVAL", 60),
            import_max_bytes=get_int("IMPORT_MAX_BYTES", 5_000_000),
            flower_url=_web_url(environ, "FLOWER_URL"),
        )

    def flask_config(self) -> dict[str, object]:
        """The Flask config keys these settings map to."""
        return {
            "SECRET_KEY": self.secret_key or load_or_create_secret_key(self.instance_path),
            "SQLALCHEMY_DATABASE_URI": self.database_url,
            "JOBPLATFORM_SETTINGS": self,
            "JOBPLATFORM_IMPORT_MAX_BYTES": self.import_max_bytes,
            # Anything much larger than an import is refused before it is read (413).
            "MAX_CONTENT_LENGTH": self.import_max_bytes + 1_000_000,
        }
