"""A job's due time (`due_at`): when a job published with an ETA or countdown may start, so a
copy the reaper publishes again keeps it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 19:20:00.000000

A plain ADD / DROP COLUMN on both dialects (SQLite 3.35+ drops a column in place): no batch
rebuild of `jobs`, which would drop the search triggers of 0005.

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("jobs", sa.Column("due_at", sa.DateTime(), nullable=True))


def downgrade():
    op.execute("ALTER TABLE jobs DROP COLUMN due_at")
