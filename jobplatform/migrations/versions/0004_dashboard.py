"""The dashboard's data: per-minute counters, scope versions (ETags), progress rates, and an
index for finding a job's retries.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 13:05:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("jobs", sa.Column("progress_rate", sa.Float(), nullable=True))
    op.create_index("ix_jobs_retry_of", "jobs", ["retry_of"],
                    postgresql_where=sa.text("retry_of IS NOT NULL"),
                    sqlite_where=sa.text("retry_of IS NOT NULL"))
    op.create_table(
        "queue_minutes",
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("queue", sa.String(length=32), nullable=False),
        sa.Column("minute", sa.BigInteger(), nullable=False),
        sa.Column("complete", sa.BigInteger(), nullable=False),
        sa.Column("error", sa.BigInteger(), nullable=False),
        sa.Column("cancelled", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "queue", "minute"),
    )
    op.create_table(
        "scope_versions",
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("scope"),
    )


def downgrade():
    op.drop_table("scope_versions")
    op.drop_table("queue_minutes")
    op.drop_index("ix_jobs_retry_of", table_name="jobs")
    op.drop_column("jobs", "progress_rate")
