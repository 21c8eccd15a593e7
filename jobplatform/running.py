"""The advert of the platform running from a folder.

`jobplatform up` and `jobplatform demo` write `instance/running.json` in the folder they were
started from while they run: their pid, web address and the settings a command needs to
reach them (instance folder, database, broker, journal, providers; never a secret). A command
started in the same folder without `JOBPLATFORM_INSTANCE_PATH` takes each of those settings
from it that no `JOBPLATFORM_*` variable sets (see `Settings`). An advert whose process is
gone is ignored.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

RUNNING_FILE = "running.json"
#: What a running platform tells the commands started beside it.
ADVERTISED = (
    "instance_path",
    "database_url",
    "broker_url",
    "journal_url",
    "fub_base_url",
    "rezen_arrakis_url",
    "rezen_yenta_url",
)


def _live_advert(path: Path) -> dict[str, Any] | None:
    try:
        advert = json.loads(path.read_text())
        pid = int(advert["pid"])
        if pid == os.getpid():  # a pid reused since: we are not the platform
            return None
        os.kill(pid, 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return advert if isinstance(advert, dict) else None


def running_settings(folder: Path) -> dict[str, str]:
    """The settings advertised in `folder` by a platform that still runs, else none."""
    advert = _live_advert(folder / RUNNING_FILE) or {}
    settings = advert.get("settings")
    if not isinstance(settings, dict):
        return {}
    return {name: str(settings[name]) for name in ADVERTISED if settings.get(name)}


def advertise(folder: Path, settings: Mapping[str, object], web_url: str) -> Path:
    """Advertise this process's platform in `folder`; returns the advert's path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / RUNNING_FILE
    advert = {
        "pid": os.getpid(),
        "web_url": web_url,
        "settings": {name: str(settings[name]) for name in ADVERTISED},
    }
    # Only its owner reads it (a database URL may hold a password); and a reader never sees
    # half an advert: written aside, then renamed over.
    draft = folder / f".{RUNNING_FILE}.{os.getpid()}"
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(advert, fh, indent=2)
    os.replace(draft, path)
    return path


def withdraw(path: Path) -> None:
    """Remove the advert if it is still this process's (a platform started here since may
    have replaced it)."""
    with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
