"""Alembic environment: migrates the database of the Flask app it runs under."""

import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app

config = context.config
if config.config_file_name and not logging.getLogger().handlers:
    fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")

migrate = current_app.extensions["migrate"]
engine = migrate.db.engine
config.set_main_option(
    "sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%")
)


def skip_empty_autogenerate(context, revision, directives):
    """`db migrate` with no schema change writes no empty revision."""
    if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
        directives[:] = []
        logger.info("No changes in schema detected.")


# Made by migration 0005 in SQL of its own, so no model describes them: the search index
# (an FTS5 table and its shadow tables on SQLite, trigram indexes on PostgreSQL).
SEARCH_OBJECTS = ("jobs_search", "ix_jobs_summary_trgm", "ix_jobs_error_message_trgm")


def include_object(obj, name, type_, reflected, compare_to):
    """What `db check` and `db migrate` compare with the models: all but the search index."""
    return not (reflected and compare_to is None and name and name.startswith(SEARCH_OBJECTS))


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=migrate.db.metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    # Flask-Migrate sets render_as_batch, which SQLite needs to alter tables.
    options = dict(migrate.configure_args)
    options.setdefault("process_revision_directives", skip_empty_autogenerate)
    options.setdefault("include_object", include_object)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=migrate.db.metadata,
            **options,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
