"""Issue 10, item 7: runs that start together on one database or one source take turns
instead of crashing: two first runs migrating a fresh database, two discoveries of one
source (PostgreSQL and SQLite). Each recording is registered and planned once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from callscribe.models import Job, Recording
from callscribe.models.db import open_database, upgrade
from callscribe.scheduler.ingest import discover
from callscribe.settings import Settings
from callscribe.storage.sources import open_source
from tests.support.audio import Turn, make_call


def _together(n: int, body: Callable[[int], Any]) -> list[BaseException]:
    """Run ``body(i)`` on ``n`` threads released at once; the errors they raised."""
    start = threading.Barrier(n, timeout=30)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            start.wait()
            body(i)
        except BaseException as exc:  # collected, asserted by the caller
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return errors


def test_two_first_runs_migrate_one_fresh_database(db_url: str) -> None:
    assert _together(3, lambda _i: upgrade(db_url)) == []
    upgrade(db_url)  # and it is at head


def test_two_discoveries_of_one_source_register_and_plan_once(
    db_url: str, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    folder = tmp_path / "calls"
    folder.mkdir()
    for i in range(6):
        make_call(folder / f"c{i}.wav", [Turn(0, "Hello."), Turn(1, "Hi.")])
    settings = make_settings(db_url)
    factory = open_database(settings)
    found: list[Any] = []

    def run(_i: int) -> None:
        found.append(discover(settings, factory, open_source(str(folder), settings.storage)))

    assert _together(3, run) == []
    assert sorted(d.registration.new for d in found) == [0, 0, 6]
    with factory.begin() as session:
        assert session.scalar(select(func.count()).select_from(Recording)) == 6
        assert session.scalar(select(func.count()).select_from(Job)) == 6
