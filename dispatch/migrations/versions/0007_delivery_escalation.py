"""delivery channels (state, attempts, dead letters), SLA escalation, camera re-checks

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("deliveries", sa.Column("status", sa.String(16), nullable=False,
                                          server_default="sent"))
    op.add_column("deliveries", sa.Column("attempts", sa.Integer(), nullable=False,
                                          server_default="0"))
    op.add_column("deliveries", sa.Column("last_error", sa.Text(), nullable=True))
    op.add_column("deliveries", sa.Column("claimed_at", _TS, nullable=True))
    op.add_column("deliveries", sa.Column("next_attempt_at", _TS, nullable=True))
    op.add_column("deliveries", sa.Column("sent_at", _TS, nullable=True))
    op.add_column("deliveries", sa.Column("remote_ref", sa.String(200), nullable=True))
    op.create_index("ix_deliveries_status", "deliveries", ["status"])
    op.add_column("tickets", sa.Column("escalation_level", sa.Integer(), nullable=False,
                                       server_default="0"))
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("delivery_id", sa.BigInteger(),
                  sa.ForeignKey("deliveries.id", ondelete="CASCADE"), nullable=False),
        sa.Column("ticket_id", sa.BigInteger(), sa.ForeignKey("tickets.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("agency", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("payload", postgresql.JSONB(), nullable=False),
        sa.Column("created_at", _TS, server_default=sa.func.now(), nullable=False),
        sa.Column("retried_at", _TS, nullable=True),
        sa.Column("retried_by", sa.String(120), nullable=True),
    )
    op.create_index("ix_dead_letters_ticket_id", "dead_letters", ["ticket_id"])
    op.create_index("ix_dead_letters_open", "dead_letters", ["retried_at", "id"])
    op.create_table(
        "escalations",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("ticket_id", sa.BigInteger(), sa.ForeignKey("tickets.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("at", _TS, server_default=sa.func.now(), nullable=False),
        sa.Column("priority_from", sa.String(16), nullable=False),
        sa.Column("priority_to", sa.String(16), nullable=False),
        sa.Column("notified", postgresql.JSONB(), nullable=False),
        sa.UniqueConstraint("ticket_id", "level"),
    )
    op.create_table(
        "rechecks",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("ticket_id", sa.BigInteger(), sa.ForeignKey("tickets.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("resolution_id", sa.BigInteger(),
                  sa.ForeignKey("ticket_history.id", ondelete="CASCADE"), nullable=False,
                  unique=True),
        sa.Column("camera_id", sa.String(120), nullable=False),
        sa.Column("zone", sa.String(120), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("box", postgresql.JSONB(), nullable=True),
        sa.Column("due_at", _TS, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("ran_at", _TS, nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("snapshot", sa.LargeBinary(), nullable=True),
        sa.Column("snapshot_content_type", sa.String(40), nullable=True),
    )
    op.create_index("ix_rechecks_ticket_id", "rechecks", ["ticket_id"])
    op.create_index("ix_rechecks_status_due", "rechecks", ["status", "due_at"])


def downgrade() -> None:
    op.drop_table("rechecks")
    op.drop_table("escalations")
    op.drop_table("dead_letters")
    op.drop_column("tickets", "escalation_level")
    op.drop_index("ix_deliveries_status", table_name="deliveries")
    for column in ("remote_ref", "sent_at", "next_attempt_at", "claimed_at", "last_error",
                   "attempts", "status"):
        op.drop_column("deliveries", column)
