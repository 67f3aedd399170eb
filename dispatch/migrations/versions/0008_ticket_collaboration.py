"""ticket comments, internal notes and attachments; indexes for the inbox and dashboard

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None
OPEN = "('triage', 'open', 'acknowledged', 'in_progress')"


# The inbox search document (title, incident description, reference), kept by the database
# so that a GIN index can answer the search; the ORM does not map the column.
SEARCH_DOC = """
CREATE FUNCTION tickets_search_doc() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_doc := to_tsvector('english', concat_ws(' ', NEW.title,
        (SELECT description FROM incidents WHERE id = NEW.incident_id), NEW.reference));
    RETURN NEW;
END $$;
CREATE TRIGGER tickets_search_doc BEFORE INSERT OR UPDATE OF title, reference, incident_id
    ON tickets FOR EACH ROW EXECUTE FUNCTION tickets_search_doc();
CREATE FUNCTION incidents_search_doc() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE tickets SET search_doc = to_tsvector('english', concat_ws(' ', title,
        NEW.description, reference)) WHERE incident_id = NEW.id;
    RETURN NULL;
END $$;
CREATE TRIGGER incidents_search_doc AFTER UPDATE OF description ON incidents
    FOR EACH ROW EXECUTE FUNCTION incidents_search_doc();
UPDATE tickets AS t SET search_doc = to_tsvector('english', concat_ws(' ', t.title,
    i.description, t.reference)) FROM incidents AS i WHERE i.id = t.incident_id;
"""


def upgrade() -> None:
    op.add_column("tickets", sa.Column("search_doc", postgresql.TSVECTOR(), nullable=True))
    op.execute(SEARCH_DOC)
    op.create_index("ix_tickets_search_doc", "tickets", ["search_doc"], postgresql_using="gin")
    op.create_table(
        "ticket_comments",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("ticket_id", sa.BigInteger(), nullable=False),
        sa.Column("author", sa.String(length=120), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("internal", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_ticket_comments_ticket_id", "ticket_comments", ["ticket_id", "id"])
    op.create_table(
        "ticket_attachments",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("ticket_id", sa.BigInteger(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=120), nullable=False),
        sa.Column("file_name", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=16), server_default="attachment", nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_ticket_attachments_ticket_id", "ticket_attachments", ["ticket_id", "id"])
    # the dashboard, read from the indexes alone: the open tickets by agency, category and
    # status; tickets created per day; resolutions per day (from the history)
    op.create_index("ix_tickets_open_summary", "tickets", ["agency", "category", "status"],
                    postgresql_include=["district", "priority", "sla_due_at", "sla_breached"],
                    postgresql_where=sa.text(f"status IN {OPEN}"))
    op.create_index("ix_tickets_created_at", "tickets", ["created_at"],
                    postgresql_include=["agency", "category", "district", "priority"])
    op.create_index("ix_ticket_history_action_at", "ticket_history", ["action", "at"],
                    postgresql_include=["ticket_id"])
    # the inbox filtered by category or district, newest first
    op.create_index("ix_tickets_category_id", "tickets", ["category", "id"])
    op.create_index("ix_tickets_district_id", "tickets", ["district", "id"])


def downgrade() -> None:
    op.drop_index("ix_tickets_district_id", table_name="tickets")
    op.drop_index("ix_tickets_category_id", table_name="tickets")
    op.drop_index("ix_ticket_history_action_at", table_name="ticket_history")
    op.drop_index("ix_tickets_created_at", table_name="tickets")
    op.drop_index("ix_tickets_open_summary", table_name="tickets")
    op.drop_index("ix_ticket_attachments_ticket_id", table_name="ticket_attachments")
    op.drop_table("ticket_attachments")
    op.drop_index("ix_ticket_comments_ticket_id", table_name="ticket_comments")
    op.drop_table("ticket_comments")
    op.drop_index("ix_tickets_search_doc", table_name="tickets")
    op.execute("DROP TRIGGER incidents_search_doc ON incidents; DROP FUNCTION incidents_search_doc();"
               "DROP TRIGGER tickets_search_doc ON tickets; DROP FUNCTION tickets_search_doc();")
    op.drop_column("tickets", "search_doc")
