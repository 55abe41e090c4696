"""A recording's last two jobs finishing at the same moment on two workers: the recording
is finalized (issue 10, item 10: each saw the other unfinished and it stayed running)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from callscribe.models.base import utcnow
from callscribe.models.db import open_database
from callscribe.models.metering import Device, Usage
from callscribe.scheduler.ingest import discover
from callscribe.settings import JobSection, Settings
from callscribe.storage.sources import open_source
from callscribe.workers.results import store
from tests.support.audio import Turn, make_call


@pytest.mark.postgres
def test_last_two_jobs_committing_together_complete_the_recording(
    pg_url: str,
    make_settings: Callable[..., Settings],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = tmp_path / "calls"
    folder.mkdir()
    make_call(
        folder / "long.wav",
        [Turn(0, "Thank you for calling."), Turn(0, seconds=50.0), Turn(0, "Goodbye.")],
        channels=1,
    )
    settings = make_settings(pg_url, planning={"job_max_s": 40.0})
    factory = open_database(settings)
    found = discover(settings, factory, open_source(str(folder), settings.storage))
    specs = [
        store.claim_job(factory, job_id, f"worker-{i}", 60, 3)
        for i, job_id in enumerate(_job_ids(factory, found.registration.source_id))
    ]
    assert len(specs) == 2 and all(specs)
    both_written = threading.Barrier(2, timeout=20)
    real_meter = store.meter_job

    def meter_then_wait(session: Any, usage: Usage) -> None:
        real_meter(session, usage)
        session.flush()
        both_written.wait()  # both jobs are done in their open transactions, neither committed

    monkeypatch.setattr(store, "meter_job", meter_then_wait)
    complete: list[bool] = []

    def commit(i: int, spec: store.JobSpec) -> None:
        device = Device("cpu", f"cpu-{i}", "host")  # own cost rows: no lock orders the two
        usage = Usage(
            job_id=spec.job_id,
            source_id=spec.source_id,
            model="m",
            device=device,
            worker=f"worker-{i}",
            audio_s=40.0,
            speech_s=5.0,
            device_s=1.0,
            finished_at=utcnow(),
            price=0.1,
        )
        result = store.JobResult(
            windows=(),
            cut_start_s=spec.start_s,
            cut_end_s=spec.end_s,
            usage=usage,
            compute_type="int8",
            batch_size=8,
        )
        complete.append(store.store_result(factory, spec, f"worker-{i}", result))

    threads = [
        threading.Thread(target=commit, args=(i, s)) for i, s in enumerate(specs) if s is not None
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(complete) == 2 and any(complete), complete


def _job_ids(factory: Any, source_id: int) -> list[int]:
    from sqlalchemy import select

    from callscribe.models import Job, Recording

    with factory.begin() as session:
        return list(
            session.scalars(
                select(Job.id)
                .join(Recording)
                .where(Recording.source_id == source_id)
                .order_by(Job.seq)
            )
        )


def test_a_stale_attempt_of_the_same_worker_cannot_touch_the_current_one(
    db_url: str, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    """Issue 10, item 9: on a threads pool one process (one worker id) re-claims a job whose
    lease lapsed; the first attempt, still running somewhere, then fails. Its failure, its
    results and its heartbeat must not touch attempt 2."""
    from sqlalchemy import update

    from callscribe.errors import BadAudioError, LeaseLostError
    from callscribe.failures import classify
    from callscribe.models import Job, JobStatus, Recording, RecordingStatus

    folder = tmp_path / "calls"
    folder.mkdir()
    make_call(folder / "a.wav", [Turn(0, "Thank you for calling.")], channels=1)
    settings = make_settings(db_url)
    factory = open_database(settings)
    found = discover(settings, factory, open_source(str(folder), settings.storage))
    (job_id,) = _job_ids(factory, found.registration.source_id)
    first = store.claim_job(factory, job_id, "host:1", 60, 3)
    with factory.begin() as session:  # its lease lapses (the attempt hangs)
        session.execute(update(Job).where(Job.id == job_id).values(lease_expires_at=utcnow()))
    second = store.claim_job(factory, job_id, "host:1", 60, 3)
    assert first is not None and second is not None and second.attempts == first.attempts + 1
    outcome = classify(BadAudioError("late"), first.attempts, JobSection(max_attempts=3))
    assert store.record_failure(factory, first, "host:1", outcome) is None
    assert not store.heartbeat(factory, job_id, "host:1", first.attempts, 60)
    usage = Usage(
        job_id=job_id,
        source_id=first.source_id,
        model="m",
        device=Device("cpu", "c", "h"),
        worker="host:1",
        audio_s=1.0,
        speech_s=1.0,
        device_s=1.0,
        finished_at=utcnow(),
        price=0.1,
    )
    with pytest.raises(LeaseLostError):
        store.store_result(
            factory,
            first,
            "host:1",
            store.JobResult(
                windows=(),
                cut_start_s=0.0,
                cut_end_s=1.0,
                usage=usage,
                compute_type="int8",
                batch_size=8,
            ),
        )
    with factory.begin() as session:
        job = session.get_one(Job, job_id)
        assert (job.status, job.attempts, job.error) == (JobStatus.RUNNING, 2, None)
        assert session.get_one(Recording, job.recording_id).status == RecordingStatus.RUNNING
    assert store.heartbeat(factory, job_id, "host:1", second.attempts, 60)
    assert store.store_result(
        factory,
        second,
        "host:1",
        store.JobResult(
            windows=(),
            cut_start_s=0.0,
            cut_end_s=1.0,
            usage=usage,
            compute_type="int8",
            batch_size=8,
        ),
    )
