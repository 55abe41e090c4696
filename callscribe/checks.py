"""Start-up checks of what a worker needs: the database (reachable, schema at the current
revision) and the broker. ``callscribe worker`` runs them before it takes any message and
exits 2 with one line if one fails; ``callscribe worker --check`` runs them alone (a
readiness probe for compose and Kubernetes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.pool import NullPool

from callscribe.errors import ConfigurationError, ServiceUnavailableError, one_line, outage
from callscribe.models.db import alembic_config, make_engine

if TYPE_CHECKING:
    from celery import Celery
from callscribe.settings import Settings

#: Seconds a check waits for a service before calling it unreachable.
CHECK_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Readiness:
    """What the checks found when everything answered."""

    schema: str
    broker: str

    def one_line(self) -> str:
        return f"ready: database schema at {self.schema}, broker {self.broker} reachable"


def check_worker(settings: Settings, app: Celery) -> Readiness:
    """Check the database and the broker; raise ``ServiceUnavailableError`` (one of them is
    away) or ``ConfigurationError`` (the schema is not current) naming what is wrong."""
    return Readiness(schema=check_database(settings), broker=check_broker(app))


def check_database(settings: Settings) -> str:
    """Connect and compare the schema's revision with the migrations' head; the revision."""
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config(settings.database_url)).get_current_head()
    engine = make_engine(
        settings.database_url, poolclass=NullPool, **_connect_timeout(settings.database_url)
    )
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    except Exception as exc:
        reason = outage(exc, only="database")
        if reason is None:
            raise ConfigurationError(f"the database cannot be used: {one_line(exc, 300)}") from exc
        raise ServiceUnavailableError(reason) from exc
    finally:
        engine.dispose()
    if current != head:
        raise ConfigurationError(
            f"the database schema is at {current or 'nothing (empty database)'}, not {head}: "
            f"run `callscribe db upgrade` (or an ingest) first"
        )
    return str(current)


def _connect_timeout(url: str) -> dict[str, Any]:
    if url.startswith("postgresql"):
        return {"connect_args": {"connect_timeout": int(CHECK_TIMEOUT_S)}}
    return {}


def check_broker(app: Celery) -> str:
    """Connect to the broker once; its host and port (never its password)."""
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=CHECK_TIMEOUT_S)
            info = conn.info()
    except Exception as exc:
        raise ServiceUnavailableError(
            outage(exc, only="broker") or f"the broker is unreachable: {one_line(exc, 300)}"
        ) from exc
    return f"{info.get('hostname')}:{info.get('port')}"
