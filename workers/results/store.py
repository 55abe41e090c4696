"""Every database write a worker makes, each in one short transaction. The job row is the
truth: a claim takes a lease; results replace (never add to) earlier results of the same
job; a worker that lost its lease writes nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from callscribe.errors import (
    LeaseLostError,
)
from callscribe.failures import Outcome, gave_up
from callscribe.models import (
    Job,
    JobStatus,
    RecordingStatus,
    RedactedSpan,
    Segment,
    TranscriptWord,
    Window,
    WindowStatus,
)
from callscribe.models.base import as_utc, utcnow
from callscribe.models.metering import (
    Device,
    Usage,
    count_recording,
    meter_job,
)
from callscribe.models.state import (
    LEASE_EXPIRED,
    job_cancelled,
    job_claimed,
    job_done,
    job_failed,
    job_handed_back,
    job_lease_expired,
    job_retry,
    recording_failed,
    recording_running,
)

from ..analytics.activity import ChannelActivity
from ..records import RedactionSpan, StoredWindow
from ..records import Segment as SegmentRecord
from .rows import segment_values, span_row, word_values


@dataclass(frozen=True, kw_only=True)
class JobSpec:
    """Everything a worker needs to run a job, read once at claim time."""

    job_id: int
    recording_id: int
    source_id: int
    seq: int
    is_last: bool
    start_s: float
    end_s: float
    duration_s: float
    channels: int
    codec: str | None
    source_uri: str
    key: str
    uri: str
    attempts: int
    options: dict[str, Any] = field(default_factory=dict)
    """The source's options this job was planned with (``SourceOptions``)."""


@dataclass(frozen=True, kw_only=True)
class JobResult:
    """All results of one job and what it used, written in one transaction."""

    windows: tuple[StoredWindow, ...]
    cut_start_s: float
    cut_end_s: float
    usage: Usage
    compute_type: str
    batch_size: int
    redactions: tuple[RedactionSpan, ...] = ()
    activity: dict[int, ChannelActivity] | None = None
    """Per channel: talk and sound spans of the job's part (for the call metrics)."""
    speakers: dict[str, list[float]] | None = None
    """A diarized job's voices: each speaker's mean embedding, by name."""


def claim_job(
    factory: sessionmaker[Session], job_id: int, worker: str, lease_s: float, max_attempts: int
) -> JobSpec | None:
    """Take the job if it is queued (or running under an expired lease) and not locked by
    another claimer; else None. Counts the attempt."""
    with factory.begin() as session:
        job = session.scalars(
            select(Job).where(Job.id == job_id).with_for_update(skip_locked=True)
        ).one_or_none()
        return _claim(session, job, worker, lease_s, max_attempts)


def is_suspect(factory: sessionmaker[Session], job_id: int) -> bool:
    """Whether the job's last attempt ended with its worker lost (read without a lock,
    before claiming: such a job is claimed only once it can run alone)."""
    with factory.begin() as session:
        row = session.execute(
            select(Job.status, Job.error, Job.lease_expires_at).where(Job.id == job_id)
        ).one_or_none()
    if row is None:
        return False
    status, error, lease = row
    return error == LEASE_EXPIRED or (status == JobStatus.RUNNING and _lapsed(lease))


def _claim(
    session: Session, job: Job | None, worker: str, lease_s: float, max_attempts: int
) -> JobSpec | None:
    if job is None:
        return None
    if job.status == JobStatus.RUNNING and _lapsed(job.lease_expires_at):
        job_lease_expired(job)
    if job.status != JobStatus.QUEUED:
        return None
    rec = job.recording
    if rec.status in (RecordingStatus.FAILED, RecordingStatus.DONE):
        job_cancelled(job, f"recording already {rec.status.value}")
        return None
    if job.attempts >= max_attempts:
        _give_up(session, job, gave_up(job.attempts, job.error or "unknown error"))
        return None
    job_claimed(job, worker, lease_s)
    recording_running(rec)
    return JobSpec(
        job_id=job.id,
        recording_id=rec.id,
        source_id=rec.source_id,
        seq=job.seq,
        is_last=job.is_last,
        start_s=job.start_s,
        end_s=job.end_s,
        duration_s=rec.duration_s or job.end_s,
        channels=rec.channels or 1,
        codec=rec.codec,
        source_uri=rec.source.uri,
        key=rec.key,
        uri=rec.uri,
        attempts=job.attempts,
        options=dict(job.options or {}),
    )


def _lapsed(lease_expires_at: datetime | None) -> bool:
    """Whether a lease (expiry time; None: no lease) has run out."""
    return lease_expires_at is None or as_utc(lease_expires_at) < utcnow()


def heartbeat(
    factory: sessionmaker[Session], job_id: int, worker: str, attempt: int, lease_s: float
) -> bool:
    """Renew the lease of the attempt this worker runs; False if it is no longer ours."""
    now = utcnow()
    with factory.begin() as session:
        result = session.execute(
            update(Job)
            .where(
                Job.id == job_id,
                Job.worker == worker,
                Job.attempts == attempt,
                Job.status == JobStatus.RUNNING,
            )
            .values(heartbeat_at=now, lease_expires_at=now + timedelta(seconds=lease_s))
        )
        return bool(getattr(result, "rowcount", 0))


def _locked_job(session: Session, job_id: int) -> Job | None:
    return session.scalars(select(Job).where(Job.id == job_id).with_for_update()).one_or_none()


def _held(job: Job | None, spec: JobSpec, worker: str) -> bool:
    """Whether the job is still running as the attempt ``spec`` claimed: the same worker
    and the same attempt number. On a threads pool one process (one worker id) can claim a
    job again after its lease lapsed, so the worker id alone cannot tell a stale attempt
    from the current one; every write is fenced by both."""
    return (
        job is not None
        and job.status == JobStatus.RUNNING
        and job.worker == worker
        and job.attempts == spec.attempts
    )


def store_result(
    factory: sessionmaker[Session], spec: JobSpec, worker: str, result: JobResult
) -> bool:
    """Replace the job's windows and segments with ``result`` and mark it done, atomically.
    Returns True when, once committed, no job of the recording is left unfinished."""
    with factory.begin() as session:
        job = _locked_job(session, spec.job_id)
        if job is None or not _held(job, spec, worker):
            raise LeaseLostError(
                f"job {spec.job_id} attempt {spec.attempts} is no longer held by {worker}"
            )
        session.execute(delete(Segment).where(Segment.job_id == job.id))
        session.execute(delete(Window).where(Window.job_id == job.id))
        session.execute(delete(RedactedSpan).where(RedactedSpan.job_id == job.id))
        _insert_windows(session, job.id, spec.recording_id, result.windows)
        session.add_all(
            span_row(span, recording_id=spec.recording_id, job_id=job.id)
            for span in result.redactions
        )
        job.cut_start_s, job.cut_end_s = result.cut_start_s, result.cut_end_s
        job.activity = (
            None
            if result.activity is None
            else {str(channel): activity.to_json() for channel, activity in result.activity.items()}
        )
        job.speakers = result.speakers
        _record_usage(job, result)
        job_done(job, result.usage.device_s, result.usage.speech_s)
        meter_job(session, result.usage)
    return recording_complete(factory, spec.recording_id)


def recording_complete(factory: sessionmaker[Session], recording_id: int) -> bool:
    """Whether every job of the recording is done, read after this job's results are
    committed: two workers committing a recording's last two jobs at once each see the
    other's work (read inside their own transactions, each saw the other unfinished and the
    recording was never finalized). Both may see it complete; finalizing is idempotent."""
    with factory.begin() as session:
        open_jobs = session.scalar(
            select(Job.id)
            .where(Job.recording_id == recording_id, Job.status != JobStatus.DONE)
            .limit(1)
        )
    return open_jobs is None


def _record_usage(job: Job, result: JobResult) -> None:
    usage = result.usage
    job.audio_seconds = usage.audio_s
    job.device_kind, job.device_name = usage.device.kind, usage.device.name
    job.worker_host, job.model = usage.device.host, usage.model
    job.compute_type, job.batch_size = result.compute_type, result.batch_size
    job.price_per_device_hour, job.cost_usd = usage.price, usage.cost


def _insert_windows(
    session: Session, job_id: int, recording_id: int, windows: Sequence[StoredWindow]
) -> None:
    segments: list[SegmentRecord] = []
    rows = []
    for item in windows:
        status = WindowStatus.DONE if item.segments else WindowStatus.EMPTY
        window = Window(
            job_id=job_id,
            recording_id=recording_id,
            channel=item.channel,
            start_s=item.window.start,
            end_s=item.window.end,
            speech_s=round(item.window.speech_s, 3),
            pieces=[list(p) for p in item.window.pieces],
            status=status,
            language=item.language,
            temperature=item.temperature,
            language_probability=item.language_probability,
        )
        session.add(window)
        session.flush()
        segments += item.segments
        rows += [
            segment_values(s, recording_id=recording_id, job_id=job_id, window_id=window.id)
            for s in item.segments
        ]
    if not rows:
        return
    ids = session.scalars(
        insert(Segment).returning(Segment.id, sort_by_parameter_order=True), rows
    ).all()
    words = [
        word_values(w, segment_id=segment_id, recording_id=recording_id, channel=s.channel)
        for segment_id, s in zip(ids, segments, strict=True)
        for w in s.words
    ]
    if words:
        session.execute(insert(TranscriptWord), words)


def record_failure(
    factory: sessionmaker[Session], spec: JobSpec, worker: str, outcome: Outcome
) -> Outcome | None:
    """After an error, what ``classify`` decided for this attempt: re-queue the job, or fail
    it and its recording (dead letter). Returns the outcome (None if the job is not this
    attempt's any more)."""
    with factory.begin() as session:
        job = _locked_job(session, spec.job_id)
        if job is None or not _held(job, spec, worker):
            return None
        if outcome.retry:
            job_retry(job, outcome.reason)
        else:
            _give_up(session, job, outcome.reason)
        return outcome


def hand_back(factory: sessionmaker[Session], spec: JobSpec, worker: str, reason: str) -> bool:
    """Give the job back to the queue without spending the attempt (``job_handed_back``);
    False if it is not this attempt's any more."""
    with factory.begin() as session:
        job = _locked_job(session, spec.job_id)
        if job is None or not _held(job, spec, worker):
            return False
        job_handed_back(job, reason)
        return True


def _give_up(session: Session, job: Job, reason: str) -> None:
    job_failed(job, reason)
    rec = job.recording
    if rec.status != RecordingStatus.DONE:
        recording_failed(rec, reason)
        count_recording(
            session,
            finished_at=utcnow(),
            source_id=rec.source_id,
            model=job.model or "",
            device=job_device(job),
            failed=True,
        )
    siblings = select(Job).where(
        Job.recording_id == rec.id,
        Job.id != job.id,
        Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]),
    )
    for other in session.scalars(siblings):
        job_cancelled(other, f"recording failed: {reason}")


def job_device(job: Job | None) -> Device | None:
    """The device a metered job ran on (None if it never finished)."""
    if job is None or not job.device_kind:
        return None
    return Device(job.device_kind, job.device_name or "", job.worker_host or "")
