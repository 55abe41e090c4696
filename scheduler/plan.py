"""Probe registered recordings and cut them into jobs.

A job is a contiguous span of one recording. Spans are equal and at most
``job_max_seconds`` long, so a 25-minute call becomes three ~8.3-minute jobs and a
3-minute call stays whole. The exact cut between two jobs is moved into a silence by the
workers (see ``workers.audio.cut_point``), never mid-word.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from callscribe.errors import CallscribeError, PermanentError
from models import Job, JobStatus, Recording, RecordingStatus
from models.state import recording_failed, recording_probed, recording_queued
from scheduler.probe import ProbeResult, probe
from scheduler.sources import RecordingSource

PROBE_THREADS = 4


def job_spans(duration_s: float, job_max_s: float) -> list[tuple[float, float]]:
    """Equal contiguous spans covering [0, duration], none longer than ``job_max_s``."""
    count = max(1, math.ceil(duration_s / job_max_s - 1e-9))
    step = duration_s / count
    edges = [round(i * step, 3) for i in range(count)] + [duration_s]
    return [(edges[i], edges[i + 1]) for i in range(count)]


def probe_pending(factory: sessionmaker[Session], source: RecordingSource,
                  source_id: int) -> tuple[int, int]:
    """Probe every pending recording of the source; returns (probed, failed)."""
    with factory.begin() as session:
        pending = list(session.execute(
            select(Recording.id, Recording.key, Recording.size_bytes).where(
                Recording.source_id == source_id, Recording.status == RecordingStatus.PENDING)
        ))
    if not pending:
        return 0, 0
    with ThreadPoolExecutor(PROBE_THREADS) as pool:
        outcomes = list(pool.map(lambda row: _probe_one(source, row.key, row.size_bytes), pending))
    failed = 0
    with factory.begin() as session:
        for row, outcome in zip(pending, outcomes, strict=True):
            rec = session.get_one(Recording, row.id)
            if isinstance(outcome, ProbeResult):
                recording_probed(rec, outcome.duration_s, outcome.channels,
                                 outcome.sample_rate, outcome.codec)
            else:
                recording_failed(rec, outcome)
                failed += 1
    return len(pending) - failed, failed


def _probe_one(source: RecordingSource, key: str, size: int | None) -> ProbeResult | str:
    if size == 0:
        return "empty file (0 bytes)"
    try:
        return probe(source.probe_url(key))
    except PermanentError as exc:
        return exc.one_line()
    except CallscribeError as exc:
        return f"probe failed: {exc.one_line()}"


def plan_jobs(factory: sessionmaker[Session], source_id: int, job_max_s: float,
              run_id: int | None = None, recording_ids: Sequence[int] | None = None) -> int:
    """Create jobs for every probed recording of the source; returns how many jobs."""
    created = 0
    with factory.begin() as session:
        query = select(Recording).where(Recording.source_id == source_id,
                                        Recording.status == RecordingStatus.PROBED)
        if recording_ids is not None:
            query = query.where(Recording.id.in_(recording_ids))
        for rec in session.scalars(query):
            spans = job_spans(rec.duration_s or 0.0, job_max_s)
            for seq, (start, end) in enumerate(spans):
                session.add(Job(recording_id=rec.id, seq=seq, start_s=start, end_s=end,
                                is_last=seq == len(spans) - 1, status=JobStatus.QUEUED,
                                run_id=run_id))
            recording_queued(rec)
            rec.run_id = run_id
            created += len(spans)
    return created
