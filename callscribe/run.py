"""The embedded run: register → probe → plan → transcribe in-process → summary.

The same steps the distributed mode spreads over a scheduler and Celery workers; here a
small thread pool prepares (fetch, decode, VAD) the next jobs while the model runs.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from callscribe.models import Job, JobStatus, Recording, RecordingStatus
from callscribe.scheduler.ingest import discover, finish_run
from callscribe.scheduler.reconcile import expire_leases
from callscribe.scheduler.register import Registration
from callscribe.settings import Settings
from callscribe.storage.sources import open_source
from callscribe.workers.results.finalize import finalize_unfinished

if TYPE_CHECKING:
    from callscribe.workers.runtime.context import WorkerContext


@dataclass(frozen=True)
class Failure:
    """A recording that failed, and why (one line)."""

    key: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class RunSummary:
    """The outcome of one ``transcribe`` run over a source."""

    source: str
    registration: Registration
    done: int
    failed: tuple[Failure, ...]
    audio_seconds: float
    processed_audio_seconds: float
    wall_seconds: float

    @property
    def realtime_factor(self) -> float:
        """Audio seconds transcribed in this run per wall second."""
        return self.processed_audio_seconds / self.wall_seconds if self.wall_seconds else 0.0


@dataclass(frozen=True)
class Progress:
    """Callbacks for a progress display; every one optional. ``start`` gets the number of
    jobs and recordings and the audio seconds; ``advance`` the audio seconds of a finished
    job and whether that finished its recording."""

    start: Callable[[int, int, float], None] = lambda jobs, recordings, audio_s: None
    advance: Callable[[float, bool], None] = lambda audio_s, recording_finished: None


@dataclass(frozen=True)
class QueuedJob:
    """A job to run, with what the progress display needs."""

    job_id: int
    audio_seconds: float
    recording_id: int


def queued_jobs(factory: sessionmaker[Session], source_id: int) -> list[QueuedJob]:
    """Every queued job of the source, in a stable order."""
    with factory.begin() as session:
        rows = session.execute(
            select(Job.id, Job.end_s - Job.start_s, Job.recording_id)
            .join(Recording)
            .where(Recording.source_id == source_id, Job.status == JobStatus.QUEUED)
            .order_by(Recording.id, Job.seq)
        )
        return [QueuedJob(row[0], float(row[1]), row[2]) for row in rows]


def decoded_seconds(factory: sessionmaker[Session], job_ids: list[int]) -> float:
    """Audio seconds the jobs decoded (their planned spans are only what headers said)."""
    total = 0.0
    with factory.begin() as session:
        for first in range(0, len(job_ids), 1000):
            total += (
                session.scalar(
                    select(func.coalesce(func.sum(Job.audio_seconds), 0.0)).where(
                        Job.id.in_(job_ids[first : first + 1000])
                    )
                )
                or 0.0
            )
    return float(total)


def execute(ctx: WorkerContext, jobs: list[QueuedJob], progress: Progress, in_flight: int) -> None:
    """Run the jobs, ``in_flight`` at a time, each on its own thread: a thread prepares its
    job (fetch, decode, VAD) while the model runs other jobs' windows, then hands its windows
    to the process's batcher, so model batches mix jobs and channels."""
    from callscribe.workers.job import run_job

    left = Counter(job.recording_id for job in jobs)
    lock = threading.Lock()

    def one(job: QueuedJob) -> None:
        run_job(ctx, job.job_id)
        if job_status(ctx.factory, job.job_id) == JobStatus.QUEUED:
            return  # a retryable failure: it runs again in the next round
        with lock:
            left[job.recording_id] -= 1
            progress.advance(job.audio_seconds, left[job.recording_id] == 0)

    with ThreadPoolExecutor(max(1, in_flight), thread_name_prefix="job") as pool:
        futures = [pool.submit(one, job) for job in jobs]
        try:
            for future in futures:
                future.result()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


class Due:
    """The embedded run's ``reschedule``: when each job a failure put back may run again,
    as ``callscribe.failures.classify`` decided (its jittered backoff; 0 for a job handed
    back)."""

    def __init__(self) -> None:
        self._at: dict[int, float] = {}
        self._lock = threading.Lock()

    def __call__(self, job_id: int, delay_s: float) -> None:
        with self._lock:
            self._at[job_id] = time.monotonic() + delay_s

    def wait_for(self, job_ids: list[int]) -> None:
        """Sleep until the last of these jobs is due (at once for one never rescheduled)."""
        with self._lock:
            latest = max((self._at.pop(job_id, 0.0) for job_id in job_ids), default=0.0)
        time.sleep(max(0.0, latest - time.monotonic()))


def job_status(factory: sessionmaker[Session], job_id: int) -> JobStatus | None:
    with factory.begin() as session:
        return session.scalar(select(Job.status).where(Job.id == job_id))


def retry_queued(ctx: WorkerContext, source_id: int, progress: Progress, due: Due) -> None:
    """Run again, once they are ``due``, the jobs a retryable error put back in the queue,
    until none is left: each run counts an attempt, so after ``max_attempts`` the job and its
    recording fail with the reason (the embedded run never ends with work left queued)."""
    from callscribe.workers.transcription.engine import jobs_in_flight, resolve_device

    settings = ctx.settings
    for _round in range(settings.jobs.max_attempts):
        again = queued_jobs(ctx.factory, source_id)
        if not again:
            return
        due.wait_for([job.job_id for job in again])
        execute(
            ctx,
            again,
            progress,
            in_flight=jobs_in_flight(settings.execution, resolve_device(settings.model.device)),
        )


def summarize(
    factory: sessionmaker[Session],
    source_id: int,
    source_uri: str,
    registration: Registration,
    processed_s: float,
    wall_s: float,
) -> RunSummary:
    """Counts and failure reasons for the whole source, from the database."""
    with factory.begin() as session:
        done = (
            session.scalar(
                select(func.count()).where(
                    Recording.source_id == source_id, Recording.status == RecordingStatus.DONE
                )
            )
            or 0
        )
        audio = (
            session.scalar(
                select(func.coalesce(func.sum(Recording.duration_s), 0.0)).where(
                    Recording.source_id == source_id, Recording.status == RecordingStatus.DONE
                )
            )
            or 0.0
        )
        failed = tuple(
            Failure(row.key, row.error or "unknown error")
            for row in session.execute(
                select(Recording.key, Recording.error)
                .where(
                    Recording.source_id == source_id,
                    Recording.status == RecordingStatus.FAILED,
                )
                .order_by(Recording.key)
            )
        )
    return RunSummary(
        source=source_uri,
        registration=registration,
        done=int(done),
        failed=failed,
        audio_seconds=float(audio),
        processed_audio_seconds=processed_s,
        wall_seconds=wall_s,
    )


def transcribe_source(
    settings: Settings, source_uri: str, progress: Progress | None = None
) -> RunSummary:
    """The whole embedded job for one source."""
    from callscribe.workers.runtime.context import open_context
    from callscribe.workers.transcription.engine import jobs_in_flight, resolve_device

    progress = progress or Progress()
    began = time.perf_counter()
    due = Due()
    ctx = open_context(settings, migrate=True, reschedule=due)
    factory = ctx.factory
    ctx.engine()  # load the model first: a bad --model fails before any work
    source = open_source(source_uri, settings.storage)
    found = discover(settings, factory, source, kind="embedded")
    source_id = found.registration.source_id
    expire_leases(factory)  # jobs left running by a run that died go back to the queue
    jobs = queued_jobs(factory, source_id)
    processed = sum(job.audio_seconds for job in jobs)
    progress.start(len(jobs), len({job.recording_id for job in jobs}), processed)
    execute(
        ctx,
        jobs,
        progress,
        in_flight=jobs_in_flight(settings.execution, resolve_device(settings.model.device)),
    )
    retry_queued(ctx, source_id, progress, due)
    finalize_unfinished(settings, factory, give_up=True)  # any whose finalizing failed
    finish_run(factory, found.run_id, len(jobs))
    processed = decoded_seconds(factory, [job.job_id for job in jobs]) or processed
    return summarize(
        factory, source_id, source.uri, found.registration, processed, time.perf_counter() - began
    )
