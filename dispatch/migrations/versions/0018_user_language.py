"""user language: the language of a user's pages

Revision ID: 0018
Revises: 0017

``users.language`` ("en", "zh"; NULL: the city's default, then the browser's
``Accept-Language``), set from the language menu in the page header.
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("language", sa.String(16), nullable=True))


def downgrade() -> None:
    op.drop_column("users", "language")
