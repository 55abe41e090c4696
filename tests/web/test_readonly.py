"""The web app cannot write: on PostgreSQL it reads through a reviewer login (and refuses
one that can write) or, without one, as the reviewer group in read-only transactions;
SQLite is opened read-only. The pages work the same over PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from callscribe.errors import ConfigurationError
from callscribe.models.db import make_engine
from callscribe.models.roles import make_dashboard_login
from callscribe.web.app import create_app
from callscribe.web.engine import reading_engine

from .conftest import XSS_NAME, Archive, login, settings_for

WRITES = (
    "UPDATE recordings SET key = 'changed'",
    "DELETE FROM segments",
    "INSERT INTO web_users (name, role, password_hash, created_at, updated_at) "
    "VALUES ('intruder', 'admin', 'x', now(), now())",
    "UPDATE web_users SET role = 'admin'",
)


def _refused(engine: Any, statement: str) -> bool:
    try:
        with engine.begin() as conn:
            conn.execute(text(statement))
    except DBAPIError as exc:
        return "permission denied" in str(exc) or "read-only" in str(exc) or "readonly" in str(exc)
    return False


def copy_to_postgresql(archive: Archive, url: str) -> Archive:
    """The transcribed archive's rows, copied table by table into a migrated PostgreSQL
    database (its generated search column and indexes made there): the same calls without
    transcribing them again."""
    from sqlalchemy import insert, select

    from callscribe.models import Base
    from callscribe.models.db import upgrade

    upgrade(url)
    source, target = make_engine(archive.database_url), make_engine(url)
    with source.connect() as read, target.begin() as write:
        for table in reversed(Base.metadata.sorted_tables):  # what the migrations seeded
            write.execute(table.delete())
        for table in Base.metadata.sorted_tables:
            rows = [dict(r._mapping) for r in read.execute(select(table))]
            if rows:
                write.execute(insert(table), rows)
            if "id" in table.c and rows:
                write.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                    f"(SELECT max(id) FROM {table.name}))"
                ))  # fmt: skip
    return Archive(archive.root, url, archive.settings.updated(database_url=url),
                   archive.clear_dir, archive.masked_dir, archive.calls, archive.ids)  # fmt: skip


@pytest.fixture(scope="module")
def pg_archive(archive: Archive, pg_admin: Any) -> Any:
    from tests.support.services import make_pg_database

    url, drop = make_pg_database(pg_admin)
    yield copy_to_postgresql(archive, url)
    from sqlalchemy.orm import close_all_sessions

    close_all_sessions()
    with pg_admin.cursor() as cur:
        cur.execute("DROP ROLE IF EXISTS cs_web_reviewer")
    drop()


@pytest.mark.postgres
def test_a_reviewer_login_reads_every_page_and_cannot_write(pg_archive: Archive) -> None:
    with make_engine(pg_archive.database_url).begin() as conn:
        make_dashboard_login(conn, "cs_web_reviewer", "reviewer-secret-1", kind="reviewer")
    url = make_url(pg_archive.database_url).set(
        username="cs_web_reviewer", password="reviewer-secret-1"
    )
    settings = pg_archive.settings.updated(
        web={"database_url": url.render_as_string(hide_password=False)}
    )
    engine = reading_engine(settings)
    for statement in WRITES:
        assert _refused(engine, statement), statement
    with TestClient(create_app(settings)) as c:
        assert login(c).status_code == 303
        assert c.get("/api/calls").json()["total"] == 3
        rid = pg_archive.ids["plain.wav"]
        assert len(c.get(f"/api/calls/{rid}").json()["turns"]) > 3
        assert c.get(f"/calls/{rid}/audio", headers={"Range": "bytes=0-9"}).status_code == 206
        assert "&lt;img src=x" in c.get(f"/calls/{pg_archive.ids[XSS_NAME]}").text
        word = next(
            w for w in c.get(f"/api/calls/{rid}").json()["turns"][0]["words"] if len(w["word"]) > 4
        )
        assert c.get("/api/search", params={"q": word["word"].strip(".,?!")}).json()
        assert c.get("/api/runs").json()


@pytest.mark.postgres
def test_a_login_that_can_write_is_refused(pg_archive: Archive) -> None:
    settings = pg_archive.settings.updated(web={"database_url": pg_archive.database_url})
    with pytest.raises(ConfigurationError, match="can write table"):
        reading_engine(settings)


@pytest.mark.postgres
@pytest.mark.parametrize("how", ["another schema", "a role it can switch to"])
def test_a_reviewer_login_that_can_write_elsewhere_is_refused(
    pg_archive: Archive, how: str
) -> None:
    """Write rights outside the public schema, or through a role the login may SET ROLE to
    (a NOINHERIT membership: its own privileges look read-only), are write rights."""
    name = "cs_web_sneaky"
    with make_engine(pg_archive.database_url).begin() as conn:
        make_dashboard_login(conn, name, "sneaky-secret-1", kind="reviewer")
        if how == "another schema":
            conn.execute(text("CREATE SCHEMA IF NOT EXISTS cs_extra"))
            conn.execute(text("CREATE TABLE IF NOT EXISTS cs_extra.notes (body text)"))
            conn.execute(text(f"GRANT USAGE ON SCHEMA cs_extra TO {name}"))
            conn.execute(text(f"GRANT INSERT ON cs_extra.notes TO {name}"))
            want = "cs_extra.notes"
        else:
            conn.execute(text("CREATE ROLE cs_web_writer NOLOGIN"))
            conn.execute(text("GRANT UPDATE ON recordings TO cs_web_writer"))
            conn.execute(text(f"ALTER ROLE {name} NOINHERIT"))
            database = conn.execute(text("SELECT current_database()")).scalar_one()
            conn.execute(text(f'GRANT CONNECT ON DATABASE "{database}" TO {name}'))
            conn.execute(text(f"GRANT cs_web_writer TO {name}"))
            want = "public.recordings"
    url = make_url(pg_archive.database_url).set(username=name, password="sneaky-secret-1")
    settings = pg_archive.settings.updated(
        web={"database_url": url.render_as_string(hide_password=False)}
    )
    try:
        with pytest.raises(ConfigurationError, match=f"can write table {want}"):
            reading_engine(settings)
    finally:
        with make_engine(pg_archive.database_url).begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS cs_extra CASCADE"))
            conn.execute(text(f"DROP OWNED BY {name}"))
            conn.execute(text(f"DROP ROLE {name}"))
            if how != "another schema":
                conn.execute(text("DROP OWNED BY cs_web_writer"))
                conn.execute(text("DROP ROLE cs_web_writer"))


@pytest.mark.postgres
def test_without_a_reviewer_login_every_connection_reads_as_the_reviewer_group(
    pg_archive: Archive, caplog: pytest.LogCaptureFixture
) -> None:
    engine = reading_engine(pg_archive.settings)
    assert "set web.database_url" in caplog.text
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT current_user"))
            .scalar_one()
            .startswith("callscribe_reviewer_")
        )
    for statement in WRITES:
        assert _refused(engine, statement), statement


def test_sqlite_is_opened_read_only(archive: Archive) -> None:
    engine = reading_engine(archive.settings)
    for statement in ("UPDATE recordings SET key = 'changed'", "DELETE FROM segments"):
        assert _refused(engine, statement), statement
    before = os.stat(make_url(archive.database_url).database or "").st_mtime_ns
    with TestClient(create_app(archive.settings)) as c:
        login(c)
        c.get("/calls")
    assert os.stat(make_url(archive.database_url).database or "").st_mtime_ns == before


def test_a_missing_sqlite_database_is_one_line(tmp_path: Path, tiny_en: Path) -> None:
    settings = settings_for(tmp_path, f"sqlite:///{tmp_path / 'none.db'}", tiny_en)
    with pytest.raises(ConfigurationError, match="no database at"):
        reading_engine(settings)
