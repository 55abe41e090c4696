"""Alembic environment. The URL comes from the caller (``models.db.alembic_config``) or,
for the plain ``alembic`` command, from ``CALLSCRIBE_DATABASE_URL`` via the settings."""

from __future__ import annotations

from alembic import context
from sqlalchemy import pool

from callscribe.models import Base
from callscribe.models.db import make_engine
from callscribe.models.search import include_name


def _database_url() -> str:
    url = context.config.attributes.get("database_url")
    if url:
        return str(url)
    from callscribe.settings import load_settings

    return load_settings().database_url


def run_migrations() -> None:
    engine = make_engine(_database_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=True,
            compare_type=True,
            include_name=include_name,  # type: ignore[arg-type]  # 0010: outside the ORM
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
