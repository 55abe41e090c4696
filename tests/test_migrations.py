"""The first migration runs, reverses and matches the ORM on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from models import Base
from models.db import downgrade, make_engine, upgrade

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
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_constraints_are_named(db_url: str) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    insp = inspect(engine)
    fks = insp.get_foreign_keys("segments")
    assert {fk["name"] for fk in fks} == {
        "fk_segments_recording_id_recordings", "fk_segments_job_id_jobs",
        "fk_segments_window_id_windows"}
    assert insp.get_pk_constraint("jobs")["name"] in ("pk_jobs", None)  # SQLite omits PK names
    engine.dispose()
