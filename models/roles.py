"""Group and login roles for reading one callscribe database on PostgreSQL.

Each database has two NOLOGIN groups, named after it so that two databases in one cluster
never share one (migration 0008 creates them): ``dashboard_group(db)`` reads the views and
cost tables, ``transcripts_group(db)`` reads those and the transcripts (``segments``,
``windows``, ``words``). A login is made in one of them without the password ever appearing
in SQL text (which PostgreSQL may log and drivers put in error messages), never by taking
over a role that is something else already, and with timeouts of its own: role settings are
not inherited from groups. The group names are part of the schema: changing how they are
derived needs a migration."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import text
from sqlalchemy.engine import Connection

from callscribe.errors import ConfigurationError

#: The cluster-wide group of migration 0004; 0008 leaves it without privileges here, and a
#: login still in it is moved into this database's group when it is named again.
LEGACY_GROUP = "callscribe_dashboard"
ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
SCRAM_ITERATIONS = 4096
#: Characters of the database name kept in a group name; with the prefix and the hash the
#: longest (``callscribe_transcripts_``) stays within PostgreSQL's 63 bytes.
SLUG_CHARS = 30


@dataclass(frozen=True)
class Timeouts:
    """Session defaults of a reading login, in milliseconds (0 turns one off)."""

    statement_ms: int = 30_000
    idle_in_transaction_ms: int = 60_000
    idle_session_ms: int = 15 * 60_000  # PostgreSQL >= 14; ignored before


DEFAULT_TIMEOUTS = Timeouts()


class _Existing(NamedTuple):
    powerful: bool
    is_me: bool
    owns: bool
    in_group: bool
    in_legacy: bool
    in_other: bool


def _suffix(database: str) -> str:
    """The database name made safe (ASCII lower case, digits, ``_``; cut to SLUG_CHARS)
    and a hash of the exact name, so that names differing only where they were cut or
    replaced still get different groups."""
    ascii_name = database.encode("ascii", "replace").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9_]", "_", ascii_name)[:SLUG_CHARS]
    return f"{slug}_{hashlib.sha256(database.encode('utf-8')).hexdigest()[:8]}"


def dashboard_group(database: str) -> str:
    """The group that reads the dashboard views and cost tables of ``database``."""
    return f"callscribe_dashboard_{_suffix(database)}"


def transcripts_group(database: str) -> str:
    """The group that reads what the dashboard group does and the transcripts too."""
    return f"callscribe_transcripts_{_suffix(database)}"


def scram_verifier(
    password: str, salt: bytes | None = None, iterations: int = SCRAM_ITERATIONS
) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for ``password`` (RFC 5802/7677, as
    libpq's ``PQencryptPasswordConn`` makes it): the server never sees the password."""
    salt = salt or os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = base64.b64encode
    return (
        f"SCRAM-SHA-256${iterations}:{b64(salt).decode()}"
        f"${b64(stored_key).decode()}:{b64(server_key).decode()}"
    )


def _duration(ms: int) -> str:
    ms = int(ms)
    if ms < 0:
        raise ConfigurationError("a timeout cannot be negative")
    for unit, size in (("min", 60_000), ("s", 1000)):
        if ms and ms % size == 0:
            return f"'{ms // size}{unit}'"
    return f"'{ms}ms'"


def set_timeouts(conn: Connection, role: str, timeouts: Timeouts = DEFAULT_TIMEOUTS) -> None:
    """Make ``timeouts`` the session defaults of ``role`` (a client may still change them
    with SET: they bound honest queries such as Grafana's, not a hostile client)."""
    settings = {
        "statement_timeout": timeouts.statement_ms,
        "idle_in_transaction_session_timeout": timeouts.idle_in_transaction_ms,
    }
    if (conn.dialect.server_version_info or (0,)) >= (14,):
        settings["idle_session_timeout"] = timeouts.idle_session_ms
    for setting, ms in settings.items():
        conn.exec_driver_sql(f'ALTER ROLE "{role}" SET {setting} = {_duration(ms)}')


def _existing(conn: Connection, name: str, group: str) -> _Existing | None:
    row = conn.execute(
        text(
            "SELECT r.rolsuper OR r.rolcreaterole OR r.rolcreatedb OR r.rolreplication "
            "OR r.rolbypassrls, r.rolname = current_user OR r.rolname = session_user, "
            "EXISTS (SELECT 1 FROM pg_database d WHERE d.datdba = r.oid) "
            "OR EXISTS (SELECT 1 FROM pg_class c WHERE c.relowner = r.oid), "
            "pg_has_role(r.oid, :group, 'MEMBER'), "
            "coalesce((SELECT pg_has_role(r.oid, g.oid, 'MEMBER') FROM pg_roles g "
            "          WHERE g.rolname = :legacy), false), "
            "EXISTS (SELECT 1 FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
            "        WHERE m.member = r.oid AND g.rolname <> :group "
            "        AND g.rolname ~ '^callscribe_(dashboard|transcripts|reviewer)_.') "
            "FROM pg_roles r WHERE r.rolname = :name"
        ),
        {"name": name, "group": group, "legacy": LEGACY_GROUP},
    ).one_or_none()
    return None if row is None else _Existing(*row)


def reviewer_group(database: str) -> str:
    """The group the review web app reads as: what the transcripts group reads and the web
    app's user list (migration 0019), nothing it can write."""
    return f"callscribe_reviewer_{_suffix(database)}"


#: The reading groups by kind (``callscribe db dashboard-user --transcripts/--reviewer``).
GROUPS = {
    "dashboard": dashboard_group,
    "transcripts": transcripts_group,
    "reviewer": reviewer_group,
}


def _group_of(conn: Connection, kind: str) -> str:
    database = conn.execute(text("SELECT current_database()")).scalar_one()
    group = GROUPS[kind](database)
    found = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :g"), {"g": group})
    if found.first() is None:
        raise ConfigurationError(
            f"group role {group} does not exist: migrate the database first (callscribe db upgrade)"
        )
    return group


def make_dashboard_login(
    conn: Connection,
    name: str,
    password: str,
    *,
    transcripts: bool = False,
    kind: str | None = None,
    timeouts: Timeouts = DEFAULT_TIMEOUTS,
) -> str:
    """Create the login ``name`` in this database's dashboard group (or its transcripts
    group, or with ``kind`` any of ``GROUPS``), or set the password and timeouts of one
    that is already a plain login of that group (a login of the old cluster-wide group is
    moved into it). Returns ``created`` or ``updated``."""
    if not ROLE_NAME.fullmatch(name) or name.startswith("pg_"):
        raise ConfigurationError(
            f"role name {name!r} must be lower case letters, digits and "
            "underscores, not starting with pg_"
        )
    group = _group_of(conn, kind or ("transcripts" if transcripts else "dashboard"))
    existing = _existing(conn, name, group)
    verifier = f"'{scram_verifier(password)}'"  # base64 and "$:" only: a plain literal
    if existing is None:
        conn.exec_driver_sql(f'CREATE ROLE "{name}" LOGIN PASSWORD {verifier} IN ROLE "{group}"')
        set_timeouts(conn, name, timeouts)
        return "created"
    if (
        existing.powerful
        or existing.is_me
        or existing.owns
        or existing.in_other
        or not (existing.in_group or existing.in_legacy)
    ):
        raise ConfigurationError(
            f"role {name!r} exists and is not a plain dashboard login of {group} (it is the "
            "connected role, owns objects, has extra privileges, or belongs to another group "
            "or database); choose another name"
        )
    if not existing.in_group:  # a login of the cluster-wide group: scope it to this database
        conn.exec_driver_sql(f'REVOKE "{LEGACY_GROUP}" FROM "{name}"')
        conn.exec_driver_sql(f'GRANT "{group}" TO "{name}"')
    conn.exec_driver_sql(f'ALTER ROLE "{name}" LOGIN PASSWORD {verifier}')
    set_timeouts(conn, name, timeouts)
    return "updated"
