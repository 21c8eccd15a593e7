"""Importing the package's plain modules has no side effects (see docs/architecture.md)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support import ROOT

# Run in a fresh interpreter: this one has imported everything already. os.environ is
# replaced by a mapping that records which of jobplatform's settings anyone reads.
PROBE = """
import json, os, sys

class RecordingEnviron(dict):
    reads = []
    def __getitem__(self, key):
        self.reads.append(key)
        return super().__getitem__(key)
    def get(self, key, default=None):
        self.reads.append(key)
        return super().get(key, default)
    def __contains__(self, key):
        self.reads.append(key)
        return super().__contains__(key)
    def items(self):  # reading them all (as pydantic-settings does) reads each
        self.reads.extend(super().keys())
        return super().items()
    def keys(self):
        self.reads.extend(super().keys())
        return super().keys()
    def __iter__(self):
        self.reads.extend(super().keys())
        return super().__iter__()

os.environ = RecordingEnviron(os.environ)
for name in sys.argv[1:]:
    __import__(name)
print(json.dumps({
    "settings_read": sorted({k for k in os.environ.reads if k.startswith("JOBPLATFORM_")}),
    "loaded": sorted(m for m in sys.modules if m in (
        "celery", "celeryconfig", "jobplatform.celery_app", "jobplatform.app", "flask",
        "sqlalchemy", "jobplatform.config")),
}))
"""


def imported(*modules: str) -> dict:
    env = {
        "PATH": "/usr/bin:/bin",
        "JOBPLATFORM_BROKER_URL": "redis://127.0.0.1:1/0",
        "JOBPLATFORM_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none",
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *modules],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_simulators_and_lifecycle_import_without_settings_celery_or_a_database():
    seen = imported("jobplatform.simulators", "jobplatform.jobs.lifecycle")
    assert seen == {"settings_read": [], "loaded": []}


def test_the_package_builds_celery_and_the_app_only_when_asked():
    assert imported("jobplatform")["loaded"] == []
    probe = PROBE.replace("__import__(name)", "print(__import__(name).celery.conf.broker_url)")
    env = {"PATH": "/usr/bin:/bin", "JOBPLATFORM_BROKER_URL": "redis://127.0.0.1:1/0"}
    out = subprocess.run(
        [sys.executable, "-c", probe, "jobplatform"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    *printed, last = out.stdout.strip().splitlines()
    seen = json.loads(last)
    assert printed == ["redis://127.0.0.1:1/0"]
    assert "jobplatform.celery_app" in seen["loaded"]
    assert "JOBPLATFORM_BROKER_URL" in seen["settings_read"]
