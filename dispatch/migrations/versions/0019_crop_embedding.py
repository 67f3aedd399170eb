"""crop embedding: the CLIP embedding of a camera event's best crop

Revision ID: 0019
Revises: 0018

``events.crop_embedding`` (JSONB list of floats, L2-normalised; NULL for events without a
CLIP verifier) is written with the snapshot it belongs to and read by "show similar" on the
ask page, to find camera tickets that look alike.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("events", sa.Column("crop_embedding", postgresql.JSONB(), nullable=True))


def downgrade() -> None:
    op.drop_column("events", "crop_embedding")
