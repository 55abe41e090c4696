"""Migrations run, reverse and match the ORM on both backends."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
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


def test_0005_round_trip_with_packed_windows(db_url: str, make_settings: Any,
                                             tmp_path: Path) -> None:
    """Down to 0004, a packed window (span > 30 s) cannot be kept: it is deleted and its job
    and recording go back to the queue; contiguous windows stay. Up again, every window is
    one piece whose speech is its span."""
    from sqlalchemy import text

    from callscribe.run import transcribe_source
    from callscribe.testing.audio import Turn, make_call

    folder = tmp_path / "calls"
    folder.mkdir()
    make_call(folder / "packed.wav", [Turn(0, "Hello, thanks for calling.", at=1.0),
                                      Turn(0, "Is there anything else?", at=40.0)],
              channels=2, duration=45.0)
    make_call(folder / "short.wav", [Turn(0, "Goodbye.")], channels=1)
    settings = make_settings(db_url)
    assert transcribe_source(settings, str(folder)).done == 2
    engine = make_engine(db_url)
    query = text("SELECT r.key, w.start_s, w.end_s FROM windows w "
                 "JOIN recordings r ON r.id = w.recording_id ORDER BY r.key")
    with engine.connect() as conn:
        before = [tuple(row) for row in conn.execute(query)]
    assert [key for key, a, b in before if b - a > 30] == ["packed.wav"]
    engine.dispose()

    downgrade(db_url, "0004")
    with engine.connect() as conn:
        after = [tuple(row) for row in conn.execute(query)]
        states = dict(conn.execute(text(
            "SELECT r.key || ':' || j.status, r.status FROM jobs j "
            "JOIN recordings r ON r.id = j.recording_id")).all())
        orphans = conn.execute(text("SELECT count(*) FROM segments s WHERE NOT EXISTS "
                                    "(SELECT 1 FROM windows w WHERE w.id = s.window_id)"))
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
