"""Login roles for dashboards: created in the read-only ``callscribe_dashboard`` group
without the password ever appearing in SQL text (which PostgreSQL may log and drivers put
in error messages), and never by taking over a role that is something else already."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re

from sqlalchemy import text
from sqlalchemy.engine import Connection

from callscribe.errors import ConfigurationError

DASHBOARD_GROUP = "callscribe_dashboard"
ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
SCRAM_ITERATIONS = 4096


def scram_verifier(password: str, salt: bytes | None = None,
                   iterations: int = SCRAM_ITERATIONS) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for ``password`` (RFC 5802/7677, as
    libpq's ``PQencryptPasswordConn`` makes it): the server never sees the password."""
    salt = salt or os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = base64.b64encode
    return (f"SCRAM-SHA-256${iterations}:{b64(salt).decode()}"
            f"${b64(stored_key).decode()}:{b64(server_key).decode()}")


def make_dashboard_login(conn: Connection, name: str, password: str) -> str:
    """Create the login ``name`` in the dashboard group, or set the password of one that
    is already a plain dashboard login. Returns ``created`` or ``updated``."""
    if not ROLE_NAME.fullmatch(name) or name.startswith("pg_"):
        raise ConfigurationError(f"role name {name!r} must be lower case letters, digits and "
                                 "underscores, not starting with pg_")
    row = conn.execute(text(
        "SELECT r.rolsuper OR r.rolcreaterole OR r.rolcreatedb OR r.rolreplication "
        "OR r.rolbypassrls, r.rolname = current_user OR r.rolname = session_user, "
        "pg_has_role(r.oid, :group, 'MEMBER'), "
        "EXISTS (SELECT 1 FROM pg_database d WHERE d.datdba = r.oid) "
        "OR EXISTS (SELECT 1 FROM pg_class c WHERE c.relowner = r.oid) "
        "FROM pg_roles r WHERE r.rolname = :name"), {"name": name, "group": DASHBOARD_GROUP}
    ).one_or_none()
    verifier = f"'{scram_verifier(password)}'"  # base64 and "$:" only: a plain literal
    if row is None:
        conn.exec_driver_sql(f'CREATE ROLE "{name}" LOGIN PASSWORD {verifier} '
                             f"IN ROLE {DASHBOARD_GROUP}")
        return "created"
    powerful, is_me, in_group, owns = row
    if powerful or is_me or owns or not in_group:
        raise ConfigurationError(
            f"role {name!r} exists and is not a plain dashboard login (it is the connected "
            "role, owns objects, has extra privileges or is not in callscribe_dashboard); "
            "choose another name")
    conn.exec_driver_sql(f'ALTER ROLE "{name}" LOGIN PASSWORD {verifier}')
    return "updated"
