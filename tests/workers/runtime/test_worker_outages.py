"""A database, broker or object store going away, in one worker process: the real
PostgreSQL behind a proxy that is cut (connections reset, new ones refused) and restored.
The fault suite with Celery workers is ``test_faults``. (Its path sorts it after
``workers/protection/test_protect``: run before it in one process, these jobs made that
module's real-model transcript of one window differ, an order dependence not yet
understood.)"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from callscribe.errors import ServiceUnavailableError, outage
from callscribe.models import Job, JobStatus, Recording, RecordingStatus, Window
from callscribe.models.db import make_engine, open_database, session_factory
from callscribe.scheduler.ingest import discover
from callscribe.settings import Settings
from callscribe.storage.sources import open_source
from callscribe.workers.job import run_job
from callscribe.workers.results import store
from callscribe.workers.runtime.context import WorkerContext
from callscribe.workers.runtime.outage import Backoff
from tests.support.audio import Turn, make_call
from tests.support.proxy import CuttableProxy


def _one_job(
    pg_url: str, make_settings: Any, tmp_path: Path, proxy: CuttableProxy, **overrides: Any
) -> tuple[WorkerContext, int, Settings]:
    """A planned one-job call; a worker context whose database is behind ``proxy``."""
    folder = tmp_path / "calls"
    folder.mkdir()
    make_call(
        folder / "a.wav",
        [Turn(0, "Hello, thanks for calling."), Turn(1, "My parcel is late.")],
        channels=2,
    )
    direct = make_settings(pg_url, **overrides)
    factory = open_database(direct)
    discover(direct, factory, open_source(str(folder), direct.storage))
    with factory.begin() as session:
        job_id = session.scalars(select(Job.id)).one()
    proxied = make_settings(proxy.url(pg_url), **overrides)
    factory = session_factory(make_engine(proxied.database_url))
    ctx = WorkerContext(
        settings=proxied, factory=factory, backoff=Backoff(first_s=0.2, longest_s=1.0)
    )
    return ctx, job_id, direct


def _job(settings: Settings, job_id: int) -> tuple[JobStatus, int, str | None]:
    factory = session_factory(make_engine(settings.database_url))
    with factory.begin() as session:
        job = session.get_one(Job, job_id)
        return job.status, job.attempts, job.error


def test_outage_names_the_service_and_nothing_else() -> None:
    import psycopg2
    from sqlalchemy.exc import OperationalError

    refused = OperationalError("SELECT 1", {}, psycopg2.OperationalError("connection refused"))
    assert outage(refused) == "the database is unreachable: connection refused"
    assert outage(refused, only="broker") is None
    assert outage(ValueError("bad")) is None
    deadlock = psycopg2.errors.DeadlockDetected("deadlock detected")  # a statement's trouble
    assert outage(OperationalError("UPDATE", {}, deadlock)) is None
    wrapped = RuntimeError("store failed")
    wrapped.__cause__ = refused
    assert outage(wrapped, only="database") == "the database is unreachable: connection refused"


def test_database_away_while_a_job_stores_hands_it_back_without_spending_the_attempt(
    pg_url: str,
    make_settings: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The database goes away just as the job stores its results and comes back 2 s later:
    one warning, the job is queued again with its attempt given back (not a chained
    traceback and a job parked until its lease expires), and it then runs to the end."""
    proxy = CuttableProxy("127.0.0.1", 5432)
    ctx, job_id, direct = _one_job(pg_url, make_settings, tmp_path, proxy)
    real_store = store.store_result

    def store_while_away(*args: Any) -> bool:
        proxy.cut()
        threading.Timer(2.0, proxy.restore).start()
        return real_store(*args)

    monkeypatch.setattr(store, "store_result", store_while_away)
    caplog.set_level(logging.WARNING)
    assert run_job(ctx, job_id) == JobStatus.QUEUED
    status, attempts, error = _job(direct, job_id)
    assert (status, attempts) == (JobStatus.QUEUED, 0)
    assert error is not None and error.startswith("handed back: the database is unreachable")
    handing = [r for r in caplog.records if "handed back" in r.getMessage()]
    assert len(handing) == 1 and not any(r.exc_info for r in caplog.records)
    assert all("\n" not in r.getMessage() for r in caplog.records)

    monkeypatch.setattr(store, "store_result", real_store)
    assert run_job(ctx, job_id) == JobStatus.DONE
    status, attempts, _error = _job(direct, job_id)
    assert (status, attempts) == (JobStatus.DONE, 1)
    proxy.close()


def test_a_job_that_cannot_be_claimed_is_not_taken(
    pg_url: str, make_settings: Any, tmp_path: Path
) -> None:
    """With the database away a claim raises ``ServiceUnavailableError`` (the task hands the
    message back and the worker backs off) and the job stays queued, no attempt spent."""
    proxy = CuttableProxy("127.0.0.1", 5432)
    ctx, job_id, direct = _one_job(pg_url, make_settings, tmp_path, proxy)
    proxy.cut()
    with pytest.raises(ServiceUnavailableError, match="the database is unreachable"):
        run_job(ctx, job_id)
    assert ctx.backoff.in_outage is False  # the task notes the outage, not the pipeline
    assert ctx.backoff.failed("x") > 0 and ctx.backoff.in_outage
    assert _job(direct, job_id)[:2] == (JobStatus.QUEUED, 0)
    proxy.restore()
    assert run_job(ctx, job_id) == JobStatus.DONE
    assert not ctx.backoff.in_outage  # a successful claim ends it
    proxy.close()


def test_exports_that_fail_are_export_failed_then_retried_then_done(
    pg_url: str, redis_url: str, make_settings: Any, tmp_path: Path
) -> None:
    """The output directory cannot be written (a file is where it should be): the recording
    is ``export_failed`` with the reason, its results kept; each healing pass whose retry
    is due tries again; when writing works it is done; a second recording that never can
    is ``failed`` after ``exports.max_attempts``."""
    from callscribe.broker import make_celery
    from callscribe.healing import Healer
    from callscribe.workers.results.finalize import finalize_unfinished

    blocked = tmp_path / "out"
    blocked.write_text("not a directory")
    proxy = CuttableProxy("127.0.0.1", 5432)
    ctx, job_id, direct = _one_job(
        pg_url, make_settings, tmp_path, proxy, exports={"max_attempts": 3, "retry_delay_s": 0.3}
    )
    assert run_job(ctx, job_id) == JobStatus.DONE
    factory = session_factory(make_engine(direct.database_url))

    def recording() -> tuple[RecordingStatus, str | None, int]:
        with factory.begin() as session:
            rec = session.scalars(select(Recording)).one()
            return rec.status, rec.error, (rec.meta or {}).get("export_attempts", 0)

    status, error, attempts = recording()
    assert status == RecordingStatus.EXPORT_FAILED and attempts == 1
    assert error is not None and error.startswith("exports failed: ")
    with factory.begin() as session:
        assert session.scalars(select(Window.id)).first() is not None  # results kept
    assert finalize_unfinished(direct, factory) == 0 and recording()[2] == 1  # not due yet
    time.sleep(0.4)
    healer = Healer(direct, make_celery(direct.updated(broker_url=redis_url)))
    report = healer.heal_once(factory)
    assert report is not None and report.exports_failed == 1 and not report.finished
    assert recording()[:1] == (RecordingStatus.EXPORT_FAILED,) and recording()[2] == 2

    blocked.unlink()  # the disk is writable again
    time.sleep(0.7)
    report = healer.heal_once(factory)
    assert report is not None and report.finalized == 1 and report.finished
    assert recording() == (RecordingStatus.DONE, None, 0)
    assert any((tmp_path / "out").iterdir())
    proxy.close()


def test_exports_fail_for_good_after_max_attempts(
    pg_url: str, make_settings: Any, tmp_path: Path
) -> None:
    from callscribe.workers.results.finalize import finalize_unfinished

    (tmp_path / "out").write_text("not a directory")
    proxy = CuttableProxy("127.0.0.1", 5432)
    ctx, job_id, direct = _one_job(
        pg_url, make_settings, tmp_path, proxy, exports={"max_attempts": 2, "retry_delay_s": 0}
    )
    assert run_job(ctx, job_id) == JobStatus.DONE
    factory = session_factory(make_engine(direct.database_url))
    assert finalize_unfinished(direct, factory) == 0
    with factory.begin() as session:
        rec = session.scalars(select(Recording)).one()
        assert rec.status == RecordingStatus.FAILED
        assert rec.error is not None
        assert rec.error.startswith("gave up after 2 export attempts: exports failed: ")
    assert finalize_unfinished(direct, factory) == 0  # nothing left to try
    proxy.close()


def test_one_healing_pass_at_a_time(db_url: str) -> None:
    """``try_exclusive``: while one process holds the lock another gets False at once (a
    worker skips its turn); once released the next takes it."""
    import multiprocessing

    from callscribe.models.locks import try_exclusive

    context = multiprocessing.get_context("spawn")
    for expected in (False, True):
        results = context.Queue()
        if expected is False:
            with try_exclusive(db_url, "reconcile") as mine:
                assert mine
                child = context.Process(target=_hold_once, args=(db_url, results))
                child.start()
                child.join(60)
        else:
            child = context.Process(target=_hold_once, args=(db_url, results))
            child.start()
            child.join(60)
        assert results.get(timeout=10) is expected


def _hold_once(url: str, out: Any) -> None:
    from callscribe.models.locks import try_exclusive

    with try_exclusive(url, "reconcile") as held:
        out.put(held)


def test_a_cut_releases_the_lock_its_holder_held(pg_url: str) -> None:
    """PostgreSQL stopping ends every session and with it their advisory locks; the proxy
    must do the same, or a healing pass cut while it held the lock keeps it for good and no
    later pass runs (seen: one recording left ``running`` after every job was done)."""
    from sqlalchemy.exc import OperationalError

    from callscribe.models.locks import try_exclusive

    proxy = CuttableProxy("127.0.0.1", 5432)
    with pytest.raises(OperationalError), try_exclusive(proxy.url(pg_url), "reconcile") as mine:
        assert mine
        proxy.cut()
        # the holder's connection is gone: its unlock fails
    deadline = time.monotonic() + 10
    while True:
        with try_exclusive(pg_url, "reconcile") as held:
            if held:
                break
        assert time.monotonic() < deadline, "the cut session still holds the lock"
        time.sleep(0.1)
    proxy.close()
