"""the dashboard map's newest open tickets from a partial index of open ticket ids

Revision ID: 0010
Revises: 0009

Without it PostgreSQL finds one agency's newest open tickets by a parallel backward walk of
the primary key past every closed ticket, and starting the parallel workers alone costs more
than the walk (`bench/inbox_latency.py` measures the dashboard at 100,000 tickets).
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None
OPEN = "('triage', 'open', 'acknowledged', 'in_progress')"


def upgrade() -> None:
    op.create_index("ix_tickets_open_id", "tickets", ["id"],
                    postgresql_where=sa.text(f"status IN {OPEN}"))


def downgrade() -> None:
    op.drop_index("ix_tickets_open_id", table_name="tickets")
