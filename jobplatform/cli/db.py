"""`jobplatform db upgrade` (and Flask-Migrate's other `db` commands, for developers)."""

from __future__ import annotations

import click
from alembic.migration import MigrationContext
from flask import current_app, g
from flask.cli import with_appcontext
from flask_migrate.cli import db as migrate_commands

from .. import database
from ..extensions import db as sql


@click.group("db")
@with_appcontext
def db() -> None:
    """Database migrations: `db upgrade` applies those not applied yet."""
    g.directory = None  # what Flask-Migrate's own commands read (None: the app's default)
    g.x_arg = ()


@db.command("upgrade")
def upgrade() -> None:
    """Apply every migration not applied yet (safe to run again; deploys run it first)."""
    database.upgrade(current_app)
    with sql.engine.connect() as connection:
        revision = MigrationContext.configure(connection).get_current_revision()
    click.echo(
        f"database {sql.engine.url.render_as_string(hide_password=True)} is at revision {revision}"
    )


for _name, _command in migrate_commands.commands.items():
    if _name not in db.commands:
        db.add_command(_command, _name)
