"""Engines, sessions and migrations for the configured database."""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from callscribe.settings import Settings

#: The ``reference_prices`` row that holds the cloud price cost is compared with.
REFERENCE_PRICE = "cloud_api"


def migrations_dir() -> str:
    """Where the Alembic scripts are: the ``callscribe.migrations`` package, installed or
    not."""

    return str(resources.files("callscribe.migrations"))


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine. SQLite gets foreign keys, WAL and a busy timeout so that several
    in-process threads can write; PostgreSQL gets pre-ping so dropped connections heal."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        # SQLAlchemy 2.1 defaults to psycopg 3; callscribe ships psycopg2.
        parsed = parsed.set(drivername="postgresql+psycopg2")
        url = parsed.render_as_string(hide_password=False)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded attributes after commit (rows are read, then used)."""
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Any:
    """An Alembic config pointing at the bundled migrations and the given database."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", migrations_dir())
    config.attributes["database_url"] = url
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` up to ``revision``; two processes starting on one
    fresh database take turns (the second finds it migrated)."""
    from alembic import command

    from .locks import exclusive

    with exclusive(url, "migrate"):
        command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    """Migrate the database at ``url`` down to ``revision``."""
    from alembic import command

    command.downgrade(alembic_config(url), revision)


def open_database(settings: Settings) -> sessionmaker[Session]:
    """Migrate the configured database to the current schema, record the reference price
    from the settings, and return a session factory (the embedded run, the scheduler and
    the CLI open the database this way; workers do not migrate)."""
    from .tables import ReferencePrice

    upgrade(settings.database_url)
    factory = session_factory(make_engine(settings.database_url))
    usd = settings.cost.reference_usd_per_audio_hour
    with factory.begin() as session:
        price = session.get(ReferencePrice, REFERENCE_PRICE)
        if price is None:
            session.add(ReferencePrice(name=REFERENCE_PRICE, usd_per_audio_hour=usd))
        elif price.usd_per_audio_hour != usd:
            price.usd_per_audio_hour = usd
    return factory
