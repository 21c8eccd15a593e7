"""Flower's settings for jobplatform: `celery -A jobplatform flower --conf=deploy/flowerconfig.py`.

Flower runs this file and takes every top-level name that is one of its options, so the
helpers here start with an underscore. Credentials come from the environment only:
  FLOWER_BASIC_AUTH               user:password (several: comma-separated); required
  JOBPLATFORM_FLOWER_URL          where people open Flower; its path becomes url_prefix
  JOBPLATFORM_FLOWER_BROKER_API   RabbitMQ's management API URL, for the broker view;
                                  unset, derived from an amqp:// JOBPLATFORM_BROKER_URL
  JOBPLATFORM_INSTANCE_PATH       the folder of Flower's database (flower.db)
"""

import os as _os
from urllib.parse import urlsplit as _urlsplit

from jobplatform.config import Settings as _Settings
from jobplatform.config import rabbitmq_management_url as _rabbitmq_management_url

# The platform's settings, as every other process reads them (jobplatform/config.py).
try:
    _settings = _Settings.from_env()
except ValueError as _exc:
    raise SystemExit(f"Flower: {_exc}") from None

_credentials = [c.strip() for c in _os.environ.get("FLOWER_BASIC_AUTH", "").split(",")]
# Flower shows task arguments and can revoke and shut down workers: never open to anyone.
if not all(":" in c and c.split(":", 1)[1] for c in _credentials):
    raise SystemExit(
        "FLOWER_BASIC_AUTH must be set to user:password (comma-separate several) for Flower; "
        "for example FLOWER_BASIC_AUTH=admin:$(openssl rand -base64 18)"
    )
basic_auth = _credentials

# Keep the task history across restarts (saved on shutdown and every minute).
persistent = True
_settings.instance_path.mkdir(parents=True, exist_ok=True)
db = str(_settings.instance_path / "flower.db")
state_save_interval = 60_000
max_tasks = 50_000
# Workers that scaled away are dropped after a day instead of piling up as offline.
purge_offline_workers = 24 * 3600

# RabbitMQ's management API, for the broker view: the setting, else the broker's own host
# and credentials on the management port (nothing for Redis, which Flower reads itself).
_broker_api = _settings.flower_broker_api or _rabbitmq_management_url(_settings.broker_url)
if _broker_api:
    broker_api = _broker_api

# Served under a path of another site (say https://jobs.example.com/flower): that path.
_prefix = _urlsplit(_settings.flower_url or "").path.strip("/")
if _prefix:
    url_prefix = _prefix
