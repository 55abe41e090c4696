"""Dead letters come back with ``retry --failed``; the reconciler finalizes recordings whose
worker died between storing the last job and writing exports."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from callscribe.models import Job, JobStatus, RecordingStatus
from callscribe.models.db import open_database
from callscribe.run import Progress, QueuedJob, execute, queued_jobs
from callscribe.scheduler.ingest import discover
from callscribe.scheduler.reconcile import reconcile
from callscribe.scheduler.retry import requeue_failed
from callscribe.settings import Settings
from callscribe.storage.sources import open_source
from callscribe.workers.results.finalize import finalize_unfinished
from callscribe.workers.runtime.context import WorkerContext
from tests.support.audio import Turn, make_call
from tests.support.dbcheck import recordings_by_key


class ListEnqueuer:
    """Collects what would be sent to the broker (the broker itself is tested elsewhere)."""

    def __init__(self) -> None:
        self.sent: list[int] = []

    def send(self, job_ids: object, delay_s: float = 0.0) -> int:
        ids = list(job_ids)  # type: ignore[call-overload]
        self.sent += ids
        return len(ids)

    def queued_job_ids(self, stale_after_s: float) -> set[int] | None:
        return set(self.sent)


def test_retry_failed_requeues_dead_letters_with_fresh_attempts(
    db_url: str, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    folder = tmp_path / "calls"
    folder.mkdir()
    call = make_call(folder / "flaky.wav", [Turn(0, "Hello, billing please.")], channels=1)
    make_call(folder / "fine.wav", [Turn(1, "Thanks.")])
    saved = call.path.read_bytes()
    settings = make_settings(db_url)
    factory = open_database(settings)
    found = discover(settings, factory, open_source(str(folder), settings.storage))
    call.path.unlink()  # the share was briefly unavailable: the job fails for good
    ctx = WorkerContext(settings=settings, factory=factory)
    execute(ctx, queued_jobs(factory, found.registration.source_id), Progress(), in_flight=1)
    assert recordings_by_key(db_url)["flaky.wav"].status == RecordingStatus.FAILED
    call.path.write_bytes(saved)
    job_ids = requeue_failed(factory)
    assert len(job_ids) == 1
    with factory.begin() as s:
        job = s.get_one(Job, job_ids[0])
        assert (job.status, job.attempts, job.worker) == (JobStatus.QUEUED, 0, None)
    execute(ctx, [QueuedJob(job_ids[0], 1.0, 0)], Progress(), in_flight=1)
    recs = recordings_by_key(db_url)
    assert recs["flaky.wav"].status == RecordingStatus.DONE and recs["flaky.wav"].error is None
    assert requeue_failed(factory) == []


def test_reconciler_finalizes_and_resends(
    db_url: str, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    from callscribe.workers.job import meter_cost, persist_segments, prepare, transcribe_windows
    from callscribe.workers.results import store

    folder = tmp_path / "calls"
    folder.mkdir()
    make_call(folder / "a.wav", [Turn(0, "Good morning.")], channels=1)
    make_call(folder / "b.wav", [Turn(0, "Good evening.")], channels=1)
    settings = make_settings(db_url, jobs={"requeue_grace_s": 0.0})
    factory = open_database(settings)
    found = discover(settings, factory, open_source(str(folder), settings.storage))
    ctx = WorkerContext(settings=settings, factory=factory)
    first, second = (job.job_id for job in queued_jobs(factory, found.registration.source_id))
    prepared = prepare(ctx, first)
    assert prepared is not None
    windows, device_s = transcribe_windows(ctx, prepared)
    assert persist_segments(ctx, prepared, windows, meter_cost(ctx, prepared, device_s))
    prepared.finish()  # ...and the worker dies before writing exports
    enqueuer = ListEnqueuer()
    report = reconcile(
        settings, factory, enqueuer, finalize=lambda: finalize_unfinished(settings, factory)
    )
    assert report.finalized == 1 and enqueuer.sent == [second]  # b was never sent
    assert recordings_by_key(db_url)["a.wav"].status == RecordingStatus.DONE
    assert (Path(settings.storage.output) / "a.wav.json").is_file()
    with factory.begin() as s:
        assert s.scalar(select(Job.status).where(Job.id == second)) == JobStatus.QUEUED
    assert store.claim_job(factory, second, "w", 60.0, 3) is not None


def test_ingest_sends_jobs_while_the_archive_is_still_being_probed(
    db_url: str,
    make_settings: Callable[..., Settings],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Bulk ingest: jobs go to the queue a probing step at a time, each exactly once, so
    workers start long before a large archive is fully probed."""
    from callscribe.models import Recording
    from callscribe.scheduler import plan as scheduler_plan
    from callscribe.scheduler.ingest import ingest

    monkeypatch.setattr(scheduler_plan, "FIRST_PROBE_STEP", 1)
    monkeypatch.setattr(scheduler_plan, "PROBE_STEP", 3)
    folder = tmp_path / "calls"
    folder.mkdir()
    for i in range(7):
        make_call(folder / f"c{i}.wav", [Turn(0, "Hello.")], channels=1)
    (folder / "c5.wav").write_bytes(b"")  # a bad file fails alone, in its step
    settings = make_settings(db_url)
    factory = open_database(settings)
    sends: list[tuple[list[int], int]] = []

    class Recorder:
        def send(self, job_ids: Iterable[int], delay_s: float = 0.0) -> int:
            with factory.begin() as session:
                pending = len(
                    list(
                        session.scalars(
                            select(Recording.id).where(Recording.status == RecordingStatus.PENDING)
                        )
                    )
                )
            sends.append((list(job_ids), pending))
            return len(sends[-1][0])

        def queued_job_ids(self, stale_after_s: float) -> set[int] | None:
            return None

    result = ingest(settings, str(folder), Recorder())
    assert [pending for _, pending in sends] == [6, 4, 1, 0]  # probed 1, 2, 3 (the most), 1
    sent = [job for ids, _ in sends for job in ids]
    assert sent == sorted(set(sent)) and result.jobs_enqueued == len(sent) == 6
    with factory.begin() as session:
        assert sorted(session.scalars(select(Job.id))) == sent


def test_a_celery_worker_resends_a_job_with_the_delay_it_is_given(
    db_url: str, make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Celery runner's ``reschedule`` (issue 21, item 3) is one send of the transcribe
    task, by id, on the worker's queue, with the failure policy's delay as its countdown; a
    broker that refuses it leaves the job queued for the healing pass, and raises nothing."""
    from callscribe import tasks
    from callscribe.broker import TRANSCRIBE_TASK

    sent: list[tuple[str, list[int], str, float | None]] = []

    class App:
        refuse = False

        @contextlib.contextmanager
        def producer_or_acquire(self) -> Iterator[None]:
            yield None

        def send_task(
            self,
            name: str,
            *,
            args: list[int],
            queue: str,
            countdown: float | None,
            producer: None,
            retry: bool,
        ) -> None:
            if self.refuse:
                raise ConnectionError("Connection refused")
            assert retry is False  # one try: the healing pass owns the rest
            sent.append((name, args, queue, countdown))

    app = App()
    monkeypatch.setattr(tasks._STATE, "app", app)
    monkeypatch.setattr(tasks._STATE, "context", None)
    settings = make_settings(db_url)
    ctx = tasks.worker_context(settings)
    ctx.reschedule(7, 1.5)
    ctx.reschedule(8, 0.0)
    assert sent == [
        (TRANSCRIBE_TASK, [7], settings.queue.name, 1.5),
        (TRANSCRIBE_TASK, [8], settings.queue.name, None),
    ]
    app.refuse = True
    ctx.reschedule(9, 2.0)
    assert len(sent) == 2
    ctx.factory.kw["bind"].dispose()
