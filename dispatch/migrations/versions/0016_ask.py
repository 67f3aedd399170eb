"""ask: incident embeddings in forms search can read fast; pgvector's HNSW index where available

Revision ID: 0016
Revises: 0015

"Show similar" and the semantic half of a question's text search look for the nearest
incident embeddings, which the incident flow stores as JSONB. A trigger now keeps, from it:

- ``incidents.embedding_f32`` (always): the vector as a binary ``real[]`` (``array_send``),
  which the numpy fallback reads with ``numpy.frombuffer``. Reading the JSONB instead means
  parsing 384 decimal numbers per incident: on a loaded 2-core machine, 5,000 incidents took
  3 s that way (in Python or in PostgreSQL alike) and 0.09 s from the binary form.
- ``incidents.embedding_vec vector(384)`` with an HNSW index on cosine distance, where the
  server offers the ``vector`` extension (the embedded PostgreSQL 18 does; Debian's
  PostgreSQL usually does not). Vectors of another size stay NULL there and are searched in
  numpy.
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")
DIM = 384
IS_ARRAY = "jsonb_typeof(NEW.embedding) = 'array'"
AS_REAL = "translate(NEW.embedding::text, '[]', '{}')::real[]"
F32 = f"NEW.embedding_f32 := CASE WHEN {IS_ARRAY} THEN array_send({AS_REAL}) ELSE NULL END;"
VEC = (f"NEW.embedding_vec := CASE WHEN {IS_ARRAY} AND jsonb_array_length(NEW.embedding) = {DIM} "
       "THEN NEW.embedding::text::vector ELSE NULL END;")
KEEP = """
CREATE FUNCTION incidents_embedding_forms() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {body}
    RETURN NEW;
END $$;
CREATE TRIGGER incidents_embedding_forms BEFORE INSERT OR UPDATE OF embedding ON incidents
    FOR EACH ROW EXECUTE FUNCTION incidents_embedding_forms();
"""


def _vector_extension() -> bool:
    """Whether the ``vector`` extension is (or could be made) present; a role that may not
    create it leaves the schema without it."""
    bind = op.get_bind()
    available = bind.execute(sa.text(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")).first()
    if available is None:
        log.info("pgvector is not available on this server: semantic search uses numpy")
        return False
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS vector"))
    except sa.exc.DBAPIError as exc:
        log.warning("cannot create the vector extension (%s): semantic search uses numpy",
                    str(exc.orig).strip().splitlines()[0])
        return False
    return True


def upgrade() -> None:
    op.add_column("incidents", sa.Column("embedding_f32", sa.LargeBinary(), nullable=True))
    vector = _vector_extension()
    if vector:
        op.execute(f"ALTER TABLE incidents ADD COLUMN embedding_vec vector({DIM})")
    op.execute(KEEP.format(body=F32 + (VEC if vector else "")))
    op.execute("UPDATE incidents SET embedding = embedding WHERE embedding IS NOT NULL")
    if vector:
        op.execute("CREATE INDEX ix_incidents_embedding_vec ON incidents "
                   "USING hnsw (embedding_vec vector_cosine_ops)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_incidents_embedding_vec")
    op.execute("DROP TRIGGER IF EXISTS incidents_embedding_forms ON incidents")
    op.execute("DROP FUNCTION IF EXISTS incidents_embedding_forms()")
    op.execute("ALTER TABLE incidents DROP COLUMN IF EXISTS embedding_vec")
    op.drop_column("incidents", "embedding_f32")
