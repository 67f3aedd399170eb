"""hardening: quarantine of poison work, readable event dates, a commit-ordered inbox
watermark, and a sign-in throttle whose table stays small

Revision ID: 0012
Revises: 0011

- ``quarantine``: one row per (task, item) a task failed on; quarantined at the limit.
- ``events.occurred_at``: a year-1 date was accepted before and no row holding one could be
  read back (psycopg has no year 0); such dates are cleared (the event is flagged
  ``occurred_at_out_of_range``) and a check keeps them out from now on.
- ``tickets.arrival_xid``: the transaction that brought the ticket to its agency (created,
  rerouted, reassigned). The inbox polls with a snapshot (``pg_current_snapshot()``) and shows
  what that snapshot could not see, so a ticket committed late is never missed.
- ``login_throttle`` replaces ``login_failures``: one counter row per account and per
  address instead of one row per failure.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

SANE_DATE = "occurred_at IS NULL OR (occurred_at >= '1900-01-01' AND occurred_at < '9000-01-01')"

ARRIVAL = """
ALTER TABLE tickets ADD COLUMN arrival_xid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE FUNCTION tickets_arrival_xid() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.arrival_xid := pg_current_xact_id();
    RETURN NEW;
END $$;
CREATE TRIGGER tickets_arrival_xid BEFORE UPDATE OF arrived_at ON tickets FOR EACH ROW
    WHEN (NEW.arrived_at IS DISTINCT FROM OLD.arrived_at)
    EXECUTE FUNCTION tickets_arrival_xid();
CREATE INDEX ix_tickets_arrival_xid ON tickets (arrival_xid);
"""


def upgrade() -> None:
    op.create_table(
        "quarantine",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("task", sa.String(64), nullable=False),
        sa.Column("item", sa.String(64), nullable=False),
        sa.Column("failures", sa.Integer(), server_default="1", nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("first_failed_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.Column("quarantined_at", sa.DateTime(timezone=True)),
        sa.Column("discarded_at", sa.DateTime(timezone=True)),
        sa.Column("discarded_by", sa.String(120)),
    )
    op.create_index("ux_quarantine_task_item", "quarantine", ["task", "item"], unique=True)
    op.create_index("ix_quarantine_quarantined", "quarantine", ["quarantined_at"])
    op.execute(f"""UPDATE events SET occurred_at = NULL,
        flags = COALESCE(flags, '[]'::jsonb) || '["occurred_at_out_of_range"]'::jsonb
        WHERE NOT ({SANE_DATE})""")
    op.create_check_constraint("ck_events_occurred_at_sane", "events", SANE_DATE)
    op.execute(ARRIVAL)
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_login_throttle_window_start", "login_throttle", ["window_start"])
    op.drop_index("ix_login_failures_who_at", table_name="login_failures")
    op.drop_table("login_failures")


def downgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.create_index("ix_login_failures_who_at", "login_failures", ["username", "address", "at"])
    op.drop_index("ix_login_throttle_window_start", table_name="login_throttle")
    op.drop_table("login_throttle")
    op.execute("DROP TRIGGER tickets_arrival_xid ON tickets")
    op.execute("DROP FUNCTION tickets_arrival_xid()")
    op.drop_index("ix_tickets_arrival_xid", table_name="tickets")
    op.drop_column("tickets", "arrival_xid")
    op.drop_constraint("ck_events_occurred_at_sane", "events", type_="check")
    op.drop_index("ix_quarantine_quarantined", table_name="quarantine")
    op.drop_index("ux_quarantine_task_item", table_name="quarantine")
    op.drop_table("quarantine")
