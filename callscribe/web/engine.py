"""The app's database connection, which cannot write.

SQLite is opened read-only (``mode=ro``, ``query_only``). On PostgreSQL the app uses
``web.database_url``, a login of the reviewer group, and refuses to start if that login
(or a role it may switch to) can write any table or view of any schema; without it, it
connects with ``database_url`` and puts every connection in the reviewer group's role,
read-only (a warning says a reviewer login is better: a compromised app could leave that
role)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from callscribe.errors import ConfigurationError
from callscribe.models.db import make_engine
from callscribe.models.roles import reviewer_group
from callscribe.settings import Settings

log = logging.getLogger(__name__)

#: A table or view that the login, or a role it may ``SET ROLE`` to (a ``NOINHERIT``
#: membership included), can change, in any schema but the system's.
_WRITABLE = text(
    "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace CROSS JOIN pg_roles r "
    "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%' "
    "AND c.relkind IN ('r', 'p', 'v', 'f') AND pg_has_role(current_user, r.oid, 'MEMBER') "
    "AND has_table_privilege(r.oid, c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE') "
    "ORDER BY 1 LIMIT 1"
)


def reading_engine(settings: Settings) -> Engine:
    """An engine over the configured database that cannot change it: ``web.database_url``
    when set (the app then needs no other database setting), else ``database_url``."""
    if settings.web.database_url is not None:
        return _reviewer_login(settings.web.database_url.get_secret_value())
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_read_only(url.database or "")
    return _as_reviewer_group(settings.database_url)


def _reviewer_login(raw: str) -> Engine:
    url = make_url(raw)
    if url.get_backend_name() == "sqlite":
        return _sqlite_read_only(url.database or "")
    engine = make_engine(raw)
    with engine.connect() as conn:
        table = conn.execute(_WRITABLE).scalar()
    if table is not None:
        raise ConfigurationError(
            f"web.database_url's login can write table {table}: give the app a reviewer "
            "login (callscribe db dashboard-user NAME --reviewer)"
        )
    return engine


def _as_reviewer_group(raw: str) -> Engine:
    engine = make_engine(raw)
    with engine.connect() as conn:
        group = reviewer_group(str(conn.execute(text("SELECT current_database()")).scalar_one()))
        try:
            conn.exec_driver_sql(f'SET ROLE "{group}"')
        except Exception as exc:
            raise ConfigurationError(
                f"cannot read as {group} ({type(exc).__name__}): migrate the database "
                "(callscribe db upgrade) or set web.database_url to a reviewer login"
            ) from exc
    log.warning(
        "the web app reads as %s through database_url's login; set web.database_url "
        "(CALLSCRIBE_WEB__DATABASE_URL) to a reviewer login so that it cannot write even "
        "if compromised",
        group,
    )

    @event.listens_for(engine, "connect")
    def _read_only(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f'SET ROLE "{group}"')
        cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        cursor.close()
        dbapi_connection.commit()

    engine.dispose()  # connections made before the listener are not kept
    return engine


def _sqlite_read_only(database: str) -> Engine:
    path = Path(database).resolve()
    if not path.is_file():
        raise ConfigurationError(f"no database at {path}: run callscribe transcribe first")
    engine = create_engine(
        f"sqlite:///file:{path}?mode=ro&uri=true",
        connect_args={"timeout": 30, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA query_only=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    return engine
