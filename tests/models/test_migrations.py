"""Migrations run, reverse and match the ORM on both backends."""

from __future__ import annotations

import json
import uuid
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from callscribe.models import Base
from callscribe.models.db import downgrade, make_engine, upgrade
from callscribe.models.search import include_name
from tests.support.services import drop_reading_groups

TABLES = {"sources", "recordings", "jobs", "windows", "segments"}


def test_upgrade_downgrade_upgrade(db_url: str) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    assert TABLES <= set(inspect(engine).get_table_names())
    downgrade(db_url, "base")
    assert not TABLES & set(inspect(engine).get_table_names())
    upgrade(db_url)
    assert TABLES <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_migration_matches_models(db_url: str) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": include_name})
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert diff == []


def test_constraints_are_named(db_url: str) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    insp = inspect(engine)
    fks = insp.get_foreign_keys("segments")
    assert {fk["name"] for fk in fks} == {
        "fk_segments_recording_id_recordings",
        "fk_segments_job_id_jobs",
        "fk_segments_window_id_windows",
    }
    assert insp.get_pk_constraint("jobs")["name"] in ("pk_jobs", None)  # SQLite omits PK names
    engine.dispose()


def test_0005_round_trip_with_packed_windows(
    db_url: str, make_settings: Any, tmp_path: Path
) -> None:
    """Down to 0004, a packed window (span > 30 s) cannot be kept: it is deleted and its job
    and recording go back to the queue; contiguous windows stay. Up again, every window is
    one piece whose speech is its span."""
    from sqlalchemy import text

    from callscribe.run import transcribe_source
    from tests.support.audio import Turn, make_call

    folder = tmp_path / "calls"
    folder.mkdir()
    make_call(
        folder / "packed.wav",
        [
            Turn(0, "Hello, thanks for calling.", at=1.0),
            Turn(0, "Is there anything else?", at=40.0),
        ],
        channels=2,
        duration=45.0,
    )
    make_call(folder / "short.wav", [Turn(0, "Goodbye.")], channels=1)
    settings = make_settings(db_url)
    assert transcribe_source(settings, str(folder)).done == 2
    engine = make_engine(db_url)
    query = text(
        "SELECT r.key, w.start_s, w.end_s FROM windows w "
        "JOIN recordings r ON r.id = w.recording_id ORDER BY r.key"
    )
    with engine.connect() as conn:
        before = [tuple(row) for row in conn.execute(query)]
    assert [key for key, a, b in before if b - a > 30] == ["packed.wav"]
    engine.dispose()

    downgrade(db_url, "0004")
    with engine.connect() as conn:
        after = [tuple(row) for row in conn.execute(query)]
        states = dict(
            conn.execute(
                text(
                    "SELECT r.key || ':' || j.status, r.status FROM jobs j "
                    "JOIN recordings r ON r.id = j.recording_id"
                )
            ).all()
        )
        orphans = conn.execute(
            text(
                "SELECT count(*) FROM segments s WHERE NOT EXISTS "
                "(SELECT 1 FROM windows w WHERE w.id = s.window_id)"
            )
        )
        assert orphans.scalar() == 0  # the packed window's segments went with it
    assert after == [row for row in before if row[0] == "short.wav"]
    assert states == {"packed.wav:queued": "queued", "short.wav:done": "done"}
    engine.dispose()

    upgrade(db_url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT start_s, end_s, speech_s, pieces FROM windows")).all()
    engine.dispose()
    assert rows
    for start, end, speech, pieces in rows:
        pieces = json.loads(pieces) if isinstance(pieces, str) else pieces
        assert speech == pytest.approx(end - start) and pieces == [[start, end]]


def test_0016_keeps_every_row_and_allows_export_failed(
    db_url: str, make_settings: Any, tmp_path: Path
) -> None:
    """0016 changes the status check of ``recordings``: down and up again on a database
    with results, every job, segment and word is still there (a SQLite table rebuild would
    have deleted them through ON DELETE CASCADE); ``export_failed`` is accepted only at 0016."""
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    from callscribe.run import transcribe_source
    from tests.support.audio import Turn, make_call

    folder = tmp_path / "calls"
    folder.mkdir()
    make_call(
        folder / "a.wav",
        [Turn(0, "Hello, thanks for calling."), Turn(1, "Hi, my parcel is late.")],
        channels=2,
    )
    assert transcribe_source(make_settings(db_url), str(folder)).done == 1
    engine = make_engine(db_url)
    count = text(
        "SELECT (SELECT count(*) FROM jobs), (SELECT count(*) FROM segments), "
        "(SELECT count(*) FROM words), (SELECT count(*) FROM runs)"
    )
    mark = text("UPDATE recordings SET status = 'export_failed'")
    with engine.connect() as conn:
        before = tuple(conn.execute(count).one())
    engine.dispose()
    assert before[0] and before[3]

    downgrade(db_url, "0015")
    with engine.connect() as conn:
        assert tuple(conn.execute(count).one()) == before
        with pytest.raises(IntegrityError):
            conn.execute(mark)
        conn.rollback()
    engine.dispose()
    upgrade(db_url)
    with engine.begin() as conn:
        assert tuple(conn.execute(count).one()) == before
        conn.execute(mark)
        conn.execute(text("UPDATE runs SET error = 'the broker is unreachable'"))
    engine.dispose()


def _privileges(url: str, checks: list[str]) -> list[bool]:
    import psycopg2

    with closing(psycopg2.connect(url)) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT {', '.join(checks)}")
        return list(cur.fetchone())


def test_0008_round_trip_on_postgresql(pg_admin: Any, pg_url: str) -> None:
    """Up, 0004's cluster-wide group loses everything here, two groups of this database
    take over (transcripts for one only) and PUBLIC loses CONNECT and TEMPORARY; down,
    0004's grants come back and this database's logins are in 0004's group again."""
    from callscribe.models.roles import LEGACY_GROUP, dashboard_group, transcripts_group

    database = pg_url.rsplit("/", 1)[1]
    dash, trans = dashboard_group(database), transcripts_group(database)
    login = f"dash_{uuid.uuid4().hex[:8]}"
    before = [
        f"has_table_privilege('{LEGACY_GROUP}', 'segments', 'SELECT')",
        f"has_database_privilege('public', '{database}', 'CONNECT')",
        f"has_database_privilege('public', '{database}', 'TEMPORARY')",
    ]
    after = [
        f"has_table_privilege('{dash}', 'v_runs', 'SELECT')",
        f"has_table_privilege('{dash}', 'segments', 'SELECT')",
        f"has_table_privilege('{trans}', 'words', 'SELECT')",
        f"has_database_privilege('{dash}', '{database}', 'CONNECT')",
        f"has_database_privilege('{dash}', '{database}', 'TEMPORARY')",
        f"has_database_privilege(current_user, '{database}', 'TEMPORARY')",
    ]
    upgrade(pg_url, "0007")
    assert _privileges(pg_url, before) == [True, True, True]
    try:
        upgrade(pg_url)
        assert _privileges(pg_url, before) == [False, False, False]
        assert _privileges(pg_url, after) == [True, False, True, True, False, True]
        with pg_admin.cursor() as cur:
            cur.execute(f'CREATE ROLE "{login}" LOGIN IN ROLE "{dash}"')
        downgrade(pg_url, "0007")
        assert _privileges(pg_url, before) == [True, True, True]
        with pg_admin.cursor() as cur:
            cur.execute("SELECT rolname FROM pg_roles WHERE rolname IN (%s, %s)", (dash, trans))
            assert cur.fetchall() == []
            cur.execute("SELECT pg_has_role(%s, %s, 'MEMBER')", (login, LEGACY_GROUP))
            assert cur.fetchone()[0]
        upgrade(pg_url)
        assert _privileges(pg_url, after) == [True, False, True, True, False, True]
    finally:
        drop_reading_groups(pg_url)
        with pg_admin.cursor() as cur:
            cur.execute(f'DROP ROLE IF EXISTS "{login}"')


def test_0008_leaves_the_owner_its_database(pg_admin: Any, pg_url: str) -> None:
    """The application's role, owner of the database but no superuser, migrates, keeps
    CONNECT and TEMPORARY after PUBLIC loses them, and makes dashboard logins."""
    import psycopg2
    from psycopg2 import errors

    from callscribe.models.roles import make_dashboard_login

    app, viewer = f"app_{uuid.uuid4().hex[:8]}", f"dash_{uuid.uuid4().hex[:8]}"
    database = pg_url.rsplit("/", 1)[1]
    as_app = pg_url.replace("postgres@", f"{app}@", 1)
    with pg_admin.cursor() as cur:
        cur.execute(f'CREATE ROLE "{app}" LOGIN CREATEROLE')
        cur.execute(f'ALTER DATABASE "{database}" OWNER TO "{app}"')
    try:
        upgrade(as_app)
        engine = make_engine(as_app)
        with engine.begin() as conn:
            make_dashboard_login(conn, viewer, "unused")
        engine.dispose()
        with closing(psycopg2.connect(as_app)) as conn, conn.cursor() as cur:
            cur.execute("CREATE TEMP TABLE scratch (id int)")
        viewer_url = pg_url.replace("postgres@", f"{viewer}@", 1)
        with closing(psycopg2.connect(viewer_url)) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM v_backlog")
            with pytest.raises(errors.InsufficientPrivilege):
                cur.execute("CREATE TEMP TABLE scratch (id int)")
        downgrade(as_app, "base")
    finally:
        drop_reading_groups(pg_url)
        with closing(psycopg2.connect(pg_url)) as conn, conn.cursor() as cur:
            conn.autocommit = True
            cur.execute(f'REASSIGN OWNED BY "{app}" TO postgres')  # alembic_version, db
            cur.execute(f'DROP OWNED BY "{app}"')
        with pg_admin.cursor() as cur:
            cur.execute(f'DROP ROLE IF EXISTS "{viewer}"')
            cur.execute(f'DROP ROLE IF EXISTS "{app}"')
