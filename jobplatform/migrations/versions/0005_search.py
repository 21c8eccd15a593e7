"""Indexes for the jobs list's free-text search (`q`) over summary and error message:
trigram GIN indexes on PostgreSQL (pg_trgm), an FTS5 trigram table kept by triggers on SQLite.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 10:20:00.000000

On SQLite, `jobs_search` is an external-content FTS5 table over `jobs`, keyed on the jobs
table's implicit rowid, holding only the jobs that have a summary or an error message (most
jobs get one only when they end, so inserting a pending job costs the index nothing). A later
migration that rebuilds `jobs` (a batch ALTER copies the table) drops these triggers and may
renumber the rowids: it must recreate the triggers and run the 'rebuild' command.

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SEARCHED = ("summary", "error_message")

SQLITE_UPGRADE = (
    "CREATE VIRTUAL TABLE jobs_search USING fts5("
    "summary, error_message, content='jobs', content_rowid='rowid', tokenize='trigram')",
    "INSERT INTO jobs_search (rowid, summary, error_message) "
    "SELECT rowid, summary, error_message FROM jobs "
    "WHERE summary IS NOT NULL OR error_message IS NOT NULL",
    "CREATE TRIGGER jobs_search_insert AFTER INSERT ON jobs "
    "WHEN new.summary IS NOT NULL OR new.error_message IS NOT NULL BEGIN "
    "INSERT INTO jobs_search (rowid, summary, error_message) "
    "VALUES (new.rowid, new.summary, new.error_message); END",
    "CREATE TRIGGER jobs_search_delete AFTER DELETE ON jobs "
    "WHEN old.summary IS NOT NULL OR old.error_message IS NOT NULL BEGIN "
    "INSERT INTO jobs_search (jobs_search, rowid, summary, error_message) "
    "VALUES ('delete', old.rowid, old.summary, old.error_message); END",
    # The applier SETs only the columns that changed, so this fires when a job gets its
    # summary or error, not on every transition.
    "CREATE TRIGGER jobs_search_update AFTER UPDATE OF summary, error_message ON jobs BEGIN "
    "INSERT INTO jobs_search (jobs_search, rowid, summary, error_message) "
    "SELECT 'delete', old.rowid, old.summary, old.error_message "
    "WHERE old.summary IS NOT NULL OR old.error_message IS NOT NULL; "
    "INSERT INTO jobs_search (rowid, summary, error_message) "
    "SELECT new.rowid, new.summary, new.error_message "
    "WHERE new.summary IS NOT NULL OR new.error_message IS NOT NULL; END",
    # Merge the segments the initial fill wrote, so a search reads one b-tree per trigram.
    "INSERT INTO jobs_search (jobs_search) VALUES ('optimize')",
)
SQLITE_DOWNGRADE = (
    "DROP TRIGGER IF EXISTS jobs_search_update",
    "DROP TRIGGER IF EXISTS jobs_search_delete",
    "DROP TRIGGER IF EXISTS jobs_search_insert",
    "DROP TABLE IF EXISTS jobs_search",
)


def upgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for column in SEARCHED:
            # Partial: a job without the text (every pending and running one) has no entry.
            # New entries wait in the index's pending list until it holds 256 kB (not the
            # default 4 MB): every search reads all of that list.
            op.create_index(f"ix_jobs_{column}_trgm", "jobs", [column], postgresql_using="gin",
                            postgresql_ops={column: "gin_trgm_ops"},
                            postgresql_where=sa.text(f"{column} IS NOT NULL"),
                            postgresql_with={"gin_pending_list_limit": 256})
    elif dialect == "sqlite":
        for statement in SQLITE_UPGRADE:
            op.execute(statement)


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for column in SEARCHED:
            op.drop_index(f"ix_jobs_{column}_trgm", table_name="jobs")
        # The pg_trgm extension stays: other objects may use it, and it costs nothing unused.
    elif dialect == "sqlite":
        for statement in SQLITE_DOWNGRADE:
            op.execute(statement)
