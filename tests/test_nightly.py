"""Scheduled scans: beat entries from the settings, and two schedulers at once enqueue each
recording once."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis as redis_lib
from celery.schedules import crontab

from callscribe.broker import celery_config, make_celery
from callscribe.models.db import open_database
from callscribe.scheduler.enqueue import CeleryEnqueuer, _job_ids
from callscribe.scheduler.nightly import scan
from callscribe.settings import Settings
from tests.support.audio import Turn, make_call


@pytest.fixture
def redis_db() -> Iterator[redis_lib.Redis]:
    client = redis_lib.Redis(host="127.0.0.1", port=6379, db=14)
    try:
        client.flushdb()
    except redis_lib.ConnectionError:
        from tests.support.services import unavailable

        unavailable("Redis")
    yield client
    client.flushdb()


def test_beat_schedule_comes_from_settings() -> None:
    settings = Settings(
        broker_url="redis://127.0.0.1:6379/14", schedules={"s3://calls/incoming": "30 2 * * *"}
    )
    schedule = celery_config(settings)["beat_schedule"]
    nightly = [v for k, v in schedule.items() if k.startswith("scan ")]
    assert len(nightly) == 1
    assert nightly[0]["args"] == ["s3://calls/incoming"]
    assert nightly[0]["schedule"] == crontab(minute="30", hour="2")
    assert "reconcile" in schedule


def test_bad_cron_is_rejected() -> None:
    with pytest.raises(ValueError):
        Settings(schedules={"./calls": "not a cron"})


def test_two_schedulers_at_once_enqueue_each_job_once(
    pg_url: str, redis_db: redis_lib.Redis, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    folder = tmp_path / "calls"
    folder.mkdir()
    for i in range(12):
        make_call(folder / f"c{i:02d}.wav", [Turn(0, "Hello."), Turn(1, "Hi.")])
    settings = make_settings(pg_url, broker_url="redis://127.0.0.1:6379/14")
    factory = open_database(settings)
    barrier = threading.Barrier(2)
    outcomes = []

    def fire() -> None:
        enqueuer = CeleryEnqueuer(make_celery(settings), settings.queue.name)
        barrier.wait()
        outcomes.append(scan(settings, factory, str(folder), enqueuer))

    threads = [threading.Thread(target=fire) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sent = [_job_ids(json.loads(raw)) for raw in redis_db.lrange(settings.queue.name, 0, -1)]
    ids = [i for found in sent for i in found]
    assert len(ids) == 12 and len(set(ids)) == 12
    enqueued = sum(o.result.jobs_enqueued for o in outcomes if o.result is not None)
    assert enqueued == 12
    # a later nightly run finds nothing new
    again = scan(
        settings, factory, str(folder), CeleryEnqueuer(make_celery(settings), settings.queue.name)
    )
    assert again.result is not None and again.result.jobs_enqueued == 0
    assert redis_db.llen(settings.queue.name) == 12


def test_a_forged_scan_of_an_unscheduled_path_is_refused(
    pg_url: str, redis_db: redis_lib.Redis, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    """Issue 10, item 12: the scan task scans only the sources the worker's own settings
    schedule; a message naming any other path (anything the worker can read) is refused
    and registers nothing. A scheduled source still scans."""
    from sqlalchemy import func, select

    from callscribe.broker import SCAN_TASK
    from callscribe.models import Recording
    from callscribe.tasks import register_tasks

    scheduled, secret = tmp_path / "calls", tmp_path / "private"
    for folder in (scheduled, secret):
        folder.mkdir()
        make_call(folder / "a.wav", [Turn(0, "Hello.")], channels=1)
    settings = make_settings(
        pg_url, broker_url="redis://127.0.0.1:6379/14", schedules={str(scheduled): "0 2 * * *"}
    )
    app = make_celery(settings)
    register_tasks(app, settings)
    refused = app.tasks[SCAN_TASK](str(secret))
    assert refused == {"source": str(secret), "refused": "not a configured schedule"}
    factory = open_database(settings)
    with factory.begin() as session:
        assert session.scalar(select(func.count()).select_from(Recording)) == 0
    done = app.tasks[SCAN_TASK](str(scheduled))
    assert done.get("jobs_enqueued") == 1, done
    assert redis_db.llen(settings.queue.name) == 1
