"""The migrations, as an operator runs them (`jobplatform db ...` in a subprocess), on a
database of their own: they build exactly what the models describe (`db check` finds
nothing to migrate), and every one of them downgrades and upgrades again."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
import sqlalchemy as sa

# Run again on another database or broker: see tests/conftest.py.
pytestmark = pytest.mark.database

HEAD = "0006"


@pytest.fixture
def scratch_database(tmp_path, subprocess_env):
    """An empty database on the suite's database server (a file, on SQLite)."""
    suite_url = os.environ["JOBPLATFORM_DATABASE_URL"]
    if not suite_url.startswith("postgresql"):
        yield f"sqlite:///{tmp_path}/migrations.db"
        return
    name = f"migrations_{uuid.uuid4().hex[:8]}"
    server = sa.create_engine(suite_url, isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield sa.make_url(suite_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with server.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        server.dispose()


def db_command(url: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jobplatform", "db", *args],
                          env={**env, "JOBPLATFORM_DATABASE_URL": url},
                          capture_output=True, text=True, timeout=120)


def tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_the_migrations_build_what_the_models_describe(scratch_database, subprocess_env):
    upgrade = db_command(scratch_database, subprocess_env, "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    assert f"at revision {HEAD}" in upgrade.stdout

    check = db_command(scratch_database, subprocess_env, "check")
    assert check.returncode == 0, check.stderr + check.stdout
    assert "No new upgrade operations detected" in check.stdout + check.stderr


def test_every_migration_downgrades_and_upgrades_again(scratch_database, subprocess_env):
    assert db_command(scratch_database, subprocess_env, "upgrade").returncode == 0
    built = tables(scratch_database)
    assert {"jobs", "job_events", "users", "integrations"} <= built

    down = db_command(scratch_database, subprocess_env, "downgrade", "base")
    assert down.returncode == 0, down.stderr
    assert tables(scratch_database) == {"alembic_version"}

    again = db_command(scratch_database, subprocess_env, "upgrade")
    assert again.returncode == 0, again.stderr
    assert tables(scratch_database) == built
