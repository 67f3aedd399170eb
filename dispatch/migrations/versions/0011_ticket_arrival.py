"""tickets.arrived_at: when a ticket reached its current agency, for the inbox's live refresh

Revision ID: 0011
Revises: 0010

A ticket rerouted after a rejection or reassigned by a dispatcher keeps its id, so polling
for ids above the page's newest never showed it to its new agency.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tickets", sa.Column("arrived_at", sa.DateTime(timezone=True),
                                       server_default=sa.func.now(), nullable=True))
    op.execute("UPDATE tickets SET arrived_at = created_at")
    op.alter_column("tickets", "arrived_at", nullable=False)
    op.create_index("ix_tickets_arrived_at", "tickets", ["arrived_at"])


def downgrade() -> None:
    op.drop_index("ix_tickets_arrived_at", table_name="tickets")
    op.drop_column("tickets", "arrived_at")
