"""Probe registered recordings and cut them into jobs.

A job is a contiguous span of one recording. Spans are equal and at most
``planning.job_max_s`` long, so a 25-minute call becomes three ~8.3-minute jobs and a
3-minute call stays whole. The exact cut between two jobs is moved into a silence by the
workers (see ``workers.audio.decode.cut_point``), never mid-word.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import Row, insert, select
from sqlalchemy.orm import Session, sessionmaker

from callscribe.errors import CallscribeError, PermanentError
from callscribe.media.probe import ProbeResult, probe
from callscribe.models import Job, JobStatus, Recording, RecordingStatus
from callscribe.models.base import utcnow
from callscribe.models.metering import count_recording
from callscribe.models.state import (
    recording_failed,
    recording_probed,
    recording_warned,
    recordings_queued,
)
from callscribe.storage.sources import RecordingSource

PROBE_THREADS = 4
PLAN_CHUNK = 5000
#: Recordings probed, then planned and handed on, per step of a discovery: the first jobs
#: reach the queue after one step, not after the whole archive is probed. Steps start at
#: ``FIRST_PROBE_STEP`` (idle workers get work within a fraction of a second) and double up
#: to ``PROBE_STEP``.
FIRST_PROBE_STEP = 4
PROBE_STEP = 200


def job_spans(duration_s: float, job_max_s: float) -> list[tuple[float, float]]:
    """Equal contiguous spans covering [0, duration], none longer than ``job_max_s``."""
    count = max(1, math.ceil(duration_s / job_max_s - 1e-9))
    step = duration_s / count
    edges = [round(i * step, 3) for i in range(count)] + [duration_s]
    return [(edges[i], edges[i + 1]) for i in range(count)]


def probe_pending(
    factory: sessionmaker[Session],
    source: RecordingSource,
    source_id: int,
    limit: int | None = None,
) -> tuple[int, int]:
    """Probe the source's pending recordings (at most ``limit``, oldest first); returns
    (probed, failed)."""
    with factory.begin() as session:
        pending = list(
            session.execute(
                select(Recording.id, Recording.key, Recording.uri, Recording.size_bytes)
                .where(
                    Recording.source_id == source_id, Recording.status == RecordingStatus.PENDING
                )
                .order_by(Recording.id)
                .limit(limit)
            )
        )
    if not pending:
        return 0, 0
    with ThreadPoolExecutor(PROBE_THREADS) as pool:
        outcomes = list(
            pool.map(lambda row: _probe_one(source, row.key, row.uri, row.size_bytes), pending)
        )
    failed = 0
    with factory.begin() as session:
        for row, outcome in zip(pending, outcomes, strict=True):
            rec = session.get_one(Recording, row.id)
            if isinstance(outcome, ProbeResult):
                recording_probed(
                    rec, outcome.duration_s, outcome.channels, outcome.sample_rate, outcome.codec
                )
                if outcome.warning:
                    recording_warned(rec, outcome.warning)
            else:
                recording_failed(rec, outcome)
                count_recording(
                    session,
                    finished_at=rec.finished_at or utcnow(),
                    source_id=source_id,
                    model="",
                    device=None,
                    failed=True,
                )
                failed += 1
    return len(pending) - failed, failed


def _probe_one(source: RecordingSource, key: str, uri: str, size: int | None) -> ProbeResult | str:
    if size == 0:
        return "empty file (0 bytes)"
    try:
        return probe(source.probe_url(key, uri), size)
    except PermanentError as exc:
        return exc.one_line()
    except CallscribeError as exc:
        return f"probe failed: {exc.one_line()}"


def plan_jobs(
    factory: sessionmaker[Session],
    source_id: int,
    job_max_s: float,
    *,
    max_duration_s: float,
    run_id: int | None = None,
    options: dict[str, Any] | None = None,
) -> int:
    """Create jobs for every probed recording of the source (in bulk, a chunk of
    recordings per transaction), each with the source's ``options`` (what it runs with);
    returns how many jobs. A recording longer than
    ``max_duration_s`` (a lying manifest or header, or a stuck line recorded for days)
    fails with the reason instead of becoming thousands of jobs."""
    created = 0
    while True:
        with factory.begin() as session:
            chunk = list(
                session.execute(
                    select(Recording.id, Recording.duration_s, Recording.version)
                    .where(
                        Recording.source_id == source_id, Recording.status == RecordingStatus.PROBED
                    )
                    .order_by(Recording.id)
                    .limit(PLAN_CHUNK)
                )
            )
            if not chunk:
                return created
            chunk = _refuse_too_long(session, chunk, source_id, max_duration_s)
            if not chunk:
                continue
            rows = [
                {
                    "recording_id": rec_id,
                    "seq": seq,
                    "start_s": start,
                    "end_s": end,
                    "is_last": seq == len(spans) - 1,
                    "status": JobStatus.QUEUED,
                    "attempts": 0,
                    "run_id": run_id,
                    "queued_at": utcnow(),
                    "version": version,
                    "options": options or None,
                }
                for rec_id, duration, version in chunk
                for spans in [job_spans(duration or 0.0, job_max_s)]
                for seq, (start, end) in enumerate(spans)
            ]
            session.execute(insert(Job), rows)
            recordings_queued(session, [row.id for row in chunk], run_id)
            created += len(rows)


def _refuse_too_long(
    session: Session,
    chunk: list[Row[int, float | None, int]],
    source_id: int,
    max_duration_s: float,
) -> list[Row[int, float | None, int]]:
    """Fail the recordings of ``chunk`` longer than the limit; the rest, to plan."""
    kept = []
    for row in chunk:
        if (row.duration_s or 0.0) <= max_duration_s:
            kept.append(row)
            continue
        rec = session.get_one(Recording, row.id)
        recording_failed(
            rec,
            f"recording is {row.duration_s / 3600:,.1f} h long, more than "
            f"max_recording_hours ({max_duration_s / 3600:g} h)",
        )
        count_recording(
            session,
            finished_at=rec.finished_at or utcnow(),
            source_id=source_id,
            model="",
            device=None,
            failed=True,
        )
    return kept
