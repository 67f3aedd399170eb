"""Alembic environment: runs migrations online against the configured URL."""

from alembic import context
from sqlalchemy import create_engine, pool

from dispatch import kb_models  # noqa: F401  (registers the hotline's tables)
from dispatch import document_models  # noqa: F401  (registers the documents table)
from dispatch import perception_models  # noqa: F401  (registers clip jobs and camera status)
from dispatch.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.execute("SELECT pg_advisory_xact_lock(727001)")  # one migrator at a time
            context.run_migrations()
    engine.dispose()


run_migrations_online()
