"""One function per state transition. Each checks where it comes from, so an illegal move
(a job finished twice, a failed recording marked running) is an error, not a silent edit."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from callscribe.errors import IllegalTransition, one_line

from .base import utcnow
from .enums import JobStatus, RecordingStatus
from .tables import Job, Recording


def _require(current: object, allowed: set, what: str) -> None:
    if current not in allowed:
        raise IllegalTransition(f"{what}: not allowed from {current!r}")


# -- recordings ---------------------------------------------------------------------------


def recording_changed(rec: Recording, etag: str | None, size: int, mtime: datetime | None) -> None:
    """The object behind the recording changed: forget its results and start over."""
    rec.etag, rec.size_bytes, rec.mtime = etag, size, mtime
    rec.version += 1
    rec.status = RecordingStatus.PENDING
    rec.error = None
    rec.duration_s = rec.channels = rec.sample_rate = None
    rec.codec = rec.language = None
    rec.finished_at = None
    rec.meta = {k: v for k, v in (rec.meta or {}).items() if k != "warnings"}


def recording_warned(rec: Recording, warning: str) -> None:
    """Note something wrong that did not stop the recording (a header that lied about its
    duration); kept in ``metadata.warnings``, once each."""
    warnings = list((rec.meta or {}).get("warnings", []))
    if warning not in warnings:
        rec.meta = {**(rec.meta or {}), "warnings": [*warnings, warning]}


def recording_probed(
    rec: Recording, duration_s: float, channels: int, sample_rate: int, codec: str
) -> None:
    """Headers read: pending → probed."""
    _require(rec.status, {RecordingStatus.PENDING}, "recording_probed")
    rec.duration_s, rec.channels, rec.sample_rate, rec.codec = (
        duration_s,
        channels,
        sample_rate,
        codec,
    )
    rec.status = RecordingStatus.PROBED


def recordings_queued(session: Session, ids: list[int], run_id: int | None) -> None:
    """Bulk probed → queued (planning many recordings at once)."""
    session.execute(
        update(Recording)
        .where(
            Recording.id.in_(ids),
            Recording.status == RecordingStatus.PROBED,
        )
        .values(status=RecordingStatus.QUEUED, error=None, run_id=run_id, updated_at=utcnow())
    )


def recording_running(rec: Recording) -> None:
    """A worker started one of its jobs: queued → running (idempotent)."""
    _require(rec.status, {RecordingStatus.QUEUED, RecordingStatus.RUNNING}, "recording_running")
    rec.status = RecordingStatus.RUNNING


def recording_done(rec: Recording, language: str | None) -> None:
    """All jobs done and exports written: running (or export_failed) → done."""
    _require(
        rec.status,
        {RecordingStatus.QUEUED, RecordingStatus.RUNNING, RecordingStatus.EXPORT_FAILED},
        "recording_done",
    )
    rec.status = RecordingStatus.DONE
    rec.meta = {k: v for k, v in (rec.meta or {}).items() if k != EXPORT_ATTEMPTS}
    rec.transcript_version = rec.version
    rec.language = language
    rec.error = None
    rec.finished_at = utcnow()


#: Where a recording's count of failed export attempts is kept (``recordings.metadata``).
EXPORT_ATTEMPTS = "export_attempts"


def export_attempts(rec: Recording) -> int:
    """How many times writing the recording's exports failed since its jobs finished."""
    value = (rec.meta or {}).get(EXPORT_ATTEMPTS, 0)
    return value if isinstance(value, int) else 0


def recording_export_failed(rec: Recording, reason: str) -> None:
    """All jobs done, but the exports could not be written (a full or read-only disk, the
    object store away): running → export_failed, with the reason and one more attempt
    counted; retried later (``workers.results.finalize``)."""
    _require(
        rec.status,
        {RecordingStatus.QUEUED, RecordingStatus.RUNNING, RecordingStatus.EXPORT_FAILED},
        "recording_export_failed",
    )
    rec.status = RecordingStatus.EXPORT_FAILED
    rec.error = one_line(reason)
    rec.meta = {**(rec.meta or {}), EXPORT_ATTEMPTS: export_attempts(rec) + 1}


def recording_failed(rec: Recording, reason: str) -> None:
    """Failed for good, with a one-line reason. Allowed from any state but done."""
    _require(rec.status, set(RecordingStatus) - {RecordingStatus.DONE}, "recording_failed")
    rec.status = RecordingStatus.FAILED
    if rec.transcript_version is not None and rec.transcript_version != rec.version:
        reason = f"{reason} (the transcript of version {rec.transcript_version} is kept)"
    rec.error = one_line(reason)
    rec.finished_at = utcnow()


# -- jobs ---------------------------------------------------------------------------------


def job_claimed(job: Job, worker: str, lease_s: float) -> None:
    """A worker takes the job: queued → running, one more attempt, a lease."""
    _require(job.status, {JobStatus.QUEUED}, "job_claimed")
    now = utcnow()
    job.status = JobStatus.RUNNING
    job.attempts += 1
    job.worker = worker
    job.started_at = job.heartbeat_at = now
    job.lease_expires_at = now + timedelta(seconds=lease_s)
    job.error = None


def job_done(job: Job, device_seconds: float, speech_seconds: float) -> None:
    """Results stored: running → done."""
    _require(job.status, {JobStatus.RUNNING}, "job_done")
    job.status = JobStatus.DONE
    job.finished_at = utcnow()
    job.lease_expires_at = None
    job.device_seconds = device_seconds
    job.speech_seconds = speech_seconds


def job_retry(job: Job, reason: str) -> None:
    """A retryable failure with attempts left: running → queued."""
    _require(job.status, {JobStatus.RUNNING}, "job_retry")
    job.status = JobStatus.QUEUED
    job.error = reason
    job.worker = None
    job.lease_expires_at = None
    job.queued_at = utcnow()


def job_handed_back(job: Job, reason: str) -> None:
    """The worker could not finish for a reason not the job's (the database was away while
    it stored): running → queued, and the attempt does not count."""
    _require(job.status, {JobStatus.RUNNING}, "job_handed_back")
    job.status = JobStatus.QUEUED
    job.attempts = max(0, job.attempts - 1)
    job.error = reason
    job.worker = None
    job.lease_expires_at = None
    job.queued_at = utcnow()


def job_failed(job: Job, reason: str) -> None:
    """Failed for good (permanent error or attempts used up): the dead letter."""
    _require(job.status, {JobStatus.RUNNING, JobStatus.QUEUED}, "job_failed")
    job.status = JobStatus.FAILED
    job.error = reason
    job.finished_at = utcnow()
    job.lease_expires_at = None


def job_cancelled(job: Job, reason: str) -> None:
    """A sibling job failed the recording: this one will not run."""
    _require(job.status, {JobStatus.QUEUED, JobStatus.RUNNING}, "job_cancelled")
    job.status = JobStatus.CANCELLED
    job.error = reason
    job.finished_at = utcnow()
    job.lease_expires_at = None


#: A job's error after its worker vanished mid-attempt (its next attempt runs alone).
LEASE_EXPIRED = "lease expired (worker lost)"


def job_lease_expired(job: Job) -> None:
    """The worker holding it vanished: running → queued (the attempt stays counted)."""
    _require(job.status, {JobStatus.RUNNING}, "job_lease_expired")
    job.status = JobStatus.QUEUED
    job.worker = None
    job.lease_expires_at = None
    job.error = LEASE_EXPIRED
    job.queued_at = utcnow()


def job_requeued(job: Job) -> None:
    """An operator retries a dead letter (or a job cancelled with it): fresh attempts."""
    _require(job.status, {JobStatus.FAILED, JobStatus.CANCELLED}, "job_requeued")
    job.status = JobStatus.QUEUED
    job.attempts = 0
    job.worker = None
    job.lease_expires_at = None
    job.finished_at = None
    job.queued_at = utcnow()


def recording_requeued(rec: Recording) -> None:
    """An operator retries a failed recording whose jobs were planned."""
    _require(rec.status, {RecordingStatus.FAILED}, "recording_requeued")
    rec.status = RecordingStatus.QUEUED
    rec.error = None
    rec.finished_at = None
