"""Emptying the system of record between tests: every table on ``Base.metadata``."""

from __future__ import annotations

from sqlalchemy import create_engine, inspect, text

import dispatch.tables  # noqa: F401  (registers every domain's tables on Base.metadata)
from dispatch.core.base import Base

KEEP = frozenset({"alembic_version"})  # Alembic's own: the schema stays migrated


def truncate_all(database_url: str) -> None:
    """Empty every table of the system of record in one statement, identities restarted.

    A table on the metadata that the migrated database lacks is a model without its
    migration: that is said by name rather than as PostgreSQL's "relation does not exist"."""
    tables = [table for table in Base.metadata.sorted_tables if table.name not in KEEP]
    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:
            present = set(inspect(conn).get_table_names())
            missing = sorted(table.name for table in tables if table.name not in present)
            if missing:
                raise RuntimeError(f"tables without a migration (dispatch/migrations/versions): {missing}")
            quote = conn.dialect.identifier_preparer.format_table
            conn.execute(text(f"TRUNCATE {', '.join(quote(table) for table in tables)} "
                              "RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()
