"""Discovery shared by both modes (register → probe → plan, recorded as a run) and the
distributed ``ingest``: discover, then enqueue the run's jobs and return."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from callscribe.errors import UnexpectedError, one_line, outage
from callscribe.models import Job, JobStatus, Run
from callscribe.models.base import utcnow
from callscribe.models.db import open_database
from callscribe.settings import Settings
from callscribe.storage.sources import (
    ManifestSource,
    RecordingSource,
    load_call_metadata,
    open_source,
)

from . import plan
from .enqueue import Enqueuer
from .plan import plan_jobs, probe_pending
from .reconcile import lost_jobs
from .register import Registration, ensure_source, register
from .source_options import options_of

#: The ``reference_prices`` row the dashboard views compare against.


@dataclass(frozen=True)
class Discovery:
    """What one discovery pass did."""

    run_id: int
    registration: Registration
    jobs_planned: int


@dataclass(frozen=True)
class IngestResult:
    """What ``callscribe ingest`` reports."""

    run_id: int
    registration: Registration
    jobs_enqueued: int


def discover(
    settings: Settings,
    factory: sessionmaker[Session],
    source: RecordingSource,
    kind: str = "embedded",
    on_planned: Callable[[int], None] | None = None,
    on_run: Callable[[int], None] | None = None,
) -> Discovery:
    """Register, probe and plan every new or changed recording of the source, as a run.
    Probing and planning go a step of recordings at a time (``plan.FIRST_PROBE_STEP``,
    doubling up to ``plan.PROBE_STEP``); after each step
    ``on_planned(run_id)`` may send the new jobs on, so workers start while the rest of a
    large archive is still being probed; ``on_run(run_id)`` is told the run's id as soon as
    it exists. Two discoveries of one source (two ``ingest`` or
    ``transcribe`` runs, a nightly scan) take turns: the second finds what the first
    registered and planned."""
    from callscribe.models.locks import exclusive

    with exclusive(settings.database_url, f"discover:{source.uri}"):
        return _discover(settings, factory, source, kind, on_planned, on_run)


def _discover(
    settings: Settings,
    factory: sessionmaker[Session],
    source: RecordingSource,
    kind: str,
    on_planned: Callable[[int], None] | None,
    on_run: Callable[[int], None] | None,
) -> Discovery:
    source_id = ensure_source(factory, source.uri, source.kind)
    with factory.begin() as session:
        options = options_of(session, source_id)
        run = Run(source_id=source_id, kind=kind, options=options)
        session.add(run)
        session.flush()
        run_id = run.id
    if on_run is not None:
        on_run(run_id)
    listed = source.entries() if isinstance(source, ManifestSource) else source.list()
    calls, calls_from = load_call_metadata(source, settings.storage)
    registration = register(factory, source_id, listed, calls, calls_from)
    planned = plan_jobs(
        factory,
        source_id,
        settings.planning.job_max_s,
        run_id=run_id,
        max_duration_s=settings.planning.max_recording_hours * 3600,
        options=options,
    )
    step = plan.FIRST_PROBE_STEP
    while True:  # manifests arrive probed; files and objects are probed a step at a time
        if planned and on_planned is not None:
            on_planned(run_id)
        probed, failed = probe_pending(factory, source, source_id, limit=min(step, plan.PROBE_STEP))
        if not probed + failed:
            break
        step *= 2
        planned += plan_jobs(
            factory,
            source_id,
            settings.planning.job_max_s,
            run_id=run_id,
            max_duration_s=settings.planning.max_recording_hours * 3600,
            options=options,
        )
    with factory.begin() as session:
        run = session.get_one(Run, run_id)
        run.discovered, run.new, run.changed = (
            registration.discovered,
            registration.new,
            registration.changed,
        )
    return Discovery(run_id, registration, planned)


def finish_run(
    factory: sessionmaker[Session], run_id: int, jobs: int, error: str | None = None
) -> None:
    """Record the end of a run; ``error``: why it stopped before it finished."""
    with factory.begin() as session:
        run = session.get_one(Run, run_id)
        run.jobs_enqueued = jobs
        run.finished_at = utcnow()
        run.error = None if error is None else one_line(error)


def ingest(settings: Settings, source_uri: str, enqueuer: Enqueuer) -> IngestResult:
    """Discover the source and send every job this run planned to the queue."""
    return ingest_with(settings, open_database(settings), source_uri, enqueuer, kind="ingest")


def ingest_with(
    settings: Settings,
    factory: sessionmaker[Session],
    source_uri: str,
    enqueuer: Enqueuer,
    kind: str,
) -> IngestResult:
    """``ingest`` on an open database, recorded as a run of ``kind``. Jobs an earlier run
    planned but could not send (its broker went away) are sent too. If this one stops half
    way, its run is finished with the reason, and what it planned stays queued in the
    database: the workers' healing pass, or the next ingest, sends it."""
    sent: list[int] = []
    runs: list[int] = []

    def send_new(run_id: int) -> None:
        with factory.begin() as session:
            job_ids = list(
                session.scalars(
                    select(Job.id)
                    .where(
                        Job.run_id == run_id,
                        Job.status == JobStatus.QUEUED,
                        Job.id > (sent[-1] if sent else 0),
                    )
                    .order_by(Job.id)
                )
            )
        if job_ids:
            enqueuer.send(job_ids)
            sent.extend(job_ids)

    try:
        found = discover(
            settings,
            factory,
            open_source(source_uri, settings.storage),
            kind=kind,
            on_planned=send_new,
            on_run=runs.append,
        )
        send_new(found.run_id)
        already = set(sent)
        resent = [
            job_id
            for job_id in lost_jobs(factory, enqueuer, settings.jobs.requeue_grace_s, set())
            if job_id not in already
        ]
        if resent:
            enqueuer.send(resent)
    except BaseException as exc:
        if runs:
            with contextlib.suppress(Exception):  # the database may be what went away
                finish_run(
                    factory,
                    runs[0],
                    len(sent),
                    f"stopped: {outage(exc) or UnexpectedError.wrap(exc).one_line()}",
                )
        raise
    finish_run(factory, found.run_id, len(sent) + len(resent))
    return IngestResult(found.run_id, found.registration, len(sent) + len(resent))
