"""Settings read from the environment, with the embedded defaults for one machine."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self
from urllib.parse import quote, unquote, urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from .running import running_settings

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


def rabbitmq_management_url(broker_url: str) -> str | None:
    """The RabbitMQ management API of an AMQP broker URL (Flower's `broker_api`): the broker's
    host and credentials on the management plugin's port; None for any other broker."""
    if not broker_url.startswith(("amqp://", "amqps://", "pyamqp://")):
        return None
    url = urlsplit(broker_url.split(";")[0])  # of failover URLs, the first
    user, password = unquote(url.username or "guest"), unquote(url.password or "guest")
    host = url.hostname or "localhost"
    host = f"[{host}]" if ":" in host else host
    # The management plugin's default ports: 15672, and 15671 behind TLS.
    scheme, port = ("https", 15671) if url.scheme == "amqps" else ("http", 15672)
    credentials = f"{quote(user, safe='')}:{quote(password, safe='')}"
    return f"{scheme}://{credentials}@{host}:{port}/api/"


def _web_url(value: str | None, name: str) -> str | None:
    """An http(s) URL setting, or None when unset."""
    # Anything else is refused: it becomes a link on the dashboard, where `javascript:` runs.
    raw = (value or "").strip()
    if not raw:
        return None
    if urlsplit(raw).scheme not in ("http", "https") or not urlsplit(raw).netloc:
        raise ValueError(f"{PREFIX}{name} must be an http:// or https:// URL, got {raw!r}")
    return raw


def _problem(error: Mapping[str, Any]) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    if message.startswith(PREFIX):
        return message
    return f"{PREFIX}{'_'.join(map(str, error['loc'])).upper()}: {message}"


class Settings(BaseSettings):
    """Every setting the platform reads, each from `JOBPLATFORM_<NAME>` (docs/contracts.md
    "Settings"); an empty variable counts as unset."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, env_ignore_empty=True, frozen=True,
                                      extra="ignore")

    #: Unset: ./instance, or the instance of the platform running from here (running.py).
    instance_path: Path = Field(default_factory=lambda: Path.cwd() / "instance")
    #: Unset: the embedded Redis `jobplatform up` runs from this instance, else a local one.
    broker_url: str = ""
    #: Unset: the broker (which must then be Redis).
    journal_url: str = ""
    #: Unset: SQLite in the instance folder.
    database_url: str = ""
    #: Encrypts stored provider keys; unset, one is made and kept in the instance folder.
    secret_key: str | None = Field(None, repr=False)
    fub_base_url: str = "https://api.followupboss.com/v1"
    #: A registered FUB integration's X-System / X-System-Key (FUB doubles its rate limit).
    fub_system: str | None = None
    fub_system_key: str | None = Field(None, repr=False)
    rezen_arrakis_url: str = "https://arrakis.therealbrokerage.com/api/v1"
    rezen_yenta_url: str = "https://yenta.therealbrokerage.com/api/v1"
    #: Seconds a provider has to answer one request; a hung answer is retried as a timeout.
    provider_timeout: float = Field(30.0, gt=0)
    #: Seconds connecting an integration may spend checking the key (one attempt, in a web
    #: request); jobs' requests use `provider_timeout` and retry.
    key_check_timeout: float = Field(3.0, gt=0)
    #: Seconds a SQLite writer waits for the write lock before giving up: workers and the
    #: applier wait out a long holder; a web request answers 503 sooner rather than hold a
    #: server thread (its caller may try again).
    sqlite_lock_wait: float = Field(30.0, gt=0)
    sqlite_web_lock_wait: float = Field(10.0, gt=0)
    fub_sync_interval: int = 300
    rezen_sync_interval: int = 900
    job_retention_days: int = 30
    prune_interval: int = 3600
    #: Seconds between reaper runs; a dead worker's jobs are found within two of them.
    reap_interval: int = 45
    import_max_bytes: int = 5_000_000
    #: Where operators open Flower (the dashboard links to it); None when no Flower runs.
    flower_url: str | None = None
    #: The RabbitMQ management API Flower's broker view reads; unset, derived from the broker.
    flower_broker_api: str | None = None

    @field_validator("flower_url")
    @classmethod
    def _flower_url_is_a_web_address(cls, value: str | None) -> str | None:
        return _web_url(value, "FLOWER_URL")

    @model_validator(mode="after")
    def _embedded_defaults(self) -> Self:
        self._follow_running_platform()
        instance = self.instance_path.resolve()
        broker = self.broker_url or embedded_broker_url(instance) or FALLBACK_BROKER_URL
        # Frozen to everyone else; these are the defaults that depend on other settings.
        object.__setattr__(self, "instance_path", instance)
        object.__setattr__(self, "broker_url", broker)
        object.__setattr__(self, "journal_url", self.journal_url or broker)
        object.__setattr__(self, "database_url",
                           self.database_url or f"sqlite:///{instance / 'jobplatform.db'}")
        return self

    def _follow_running_platform(self) -> None:
        """Unless told which instance to use: the platform running from this folder
        (`up`, `demo`), whose advert stands in for each setting it names not set here."""
        if "instance_path" in self.model_fields_set:
            return
        for name, value in running_settings(self.instance_path).items():
            if name not in self.model_fields_set:
                object.__setattr__(self, name, Path(value) if name == "instance_path" else value)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings of this process's environment, or of `environ` alone."""
        try:
            if environ is None or environ is os.environ:
                return cls()
            values = {name[len(PREFIX):].lower(): value for name, value in environ.items()
                      if name.startswith(PREFIX) and value}
            return _GivenSettings(**values)
        except ValidationError as exc:
            # One line naming each variable, rather than pydantic's report on fields.
            problems = "; ".join(_problem(error) for error in exc.errors())
            raise ValueError(problems) from None

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


class _GivenSettings(Settings):
    """Settings from the values given alone, not this process's environment."""

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        **_: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)
