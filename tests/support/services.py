"""The services the tests run against (PostgreSQL, Redis, moto's S3 on loopback): where
they are, a fresh database on the real server, and what a test does when one is missing:
skipped locally, failed when CI=true."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from contextlib import closing
from typing import Any

import pytest

PG_ADMIN_URL = os.environ.get("CALLSCRIBE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"


def unavailable(what: str) -> None:
    if IN_CI:
        pytest.fail(f"{what} is not available (required in CI)")
    pytest.skip(f"{what} is not available")


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


def drop_reading_groups(url: str) -> None:
    """Roles outlive their database: drop the reading groups the migrations made for the
    database of ``url`` (and what they were granted in it)."""
    import psycopg2

    from callscribe.models.roles import dashboard_group, transcripts_group

    name = url.rsplit("/", 1)[1]
    with closing(psycopg2.connect(url)) as conn, conn.cursor() as cur:
        conn.autocommit = True
        for group in (dashboard_group(name), transcripts_group(name)):
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (group,))
            if cur.fetchone():
                cur.execute(f'DROP OWNED BY "{group}"')
                cur.execute(f'DROP ROLE "{group}"')


def make_pg_database(pg_admin: Any) -> tuple[str, Callable[[], None]]:
    """A fresh, empty database on the real server; returns its URL and a dropper."""
    name = f"cs_test_{uuid.uuid4().hex[:12]}"
    with pg_admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]

    def drop() -> None:
        from callscribe.models.roles import GROUPS

        with pg_admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            for group in (make(name) for make in GROUPS.values()):
                cur.execute(f'DROP ROLE IF EXISTS "{group}"')  # roles outlive databases

    return f"{base}/{name}", drop
