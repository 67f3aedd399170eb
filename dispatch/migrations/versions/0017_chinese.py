"""chinese: full-text search over segmented text (PostgreSQL ``simple`` configuration)

Revision ID: 0017
Revises: 0016

- ``kb_chunks.search_text``: the chunk's words separated by spaces (jieba for Chinese),
  filled by ``add_documents``; existing chunks are segmented here.
- ``kb_chunks.tsv_simple``: ``to_tsvector('simple', search_text)``, with a GIN index. The
  ``'english'`` column turns an unspaced Chinese clause into one token, so Chinese
  questions found nothing by full text.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from agents.text import search_terms

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("kb_chunks", sa.Column("search_text", sa.Text(), server_default="", nullable=False))
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, text FROM kb_chunks")).all()
    for chunk_id, text in rows:
        bind.execute(sa.text("UPDATE kb_chunks SET search_text = :s WHERE id = :i"),
                     {"s": " ".join(search_terms(text)), "i": chunk_id})
    op.add_column("kb_chunks", sa.Column(
        "tsv_simple", postgresql.TSVECTOR(),
        sa.Computed("to_tsvector('simple', search_text)", persisted=True)))
    op.create_index("ix_kb_chunks_tsv_simple", "kb_chunks", ["tsv_simple"], postgresql_using="gin")


def downgrade() -> None:
    op.drop_index("ix_kb_chunks_tsv_simple", table_name="kb_chunks")
    op.drop_column("kb_chunks", "tsv_simple")
    op.drop_column("kb_chunks", "search_text")
