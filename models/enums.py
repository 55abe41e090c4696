"""Lifecycle states, stored as strings (readable in SQL, stable for dashboards)."""

from __future__ import annotations

from enum import StrEnum


class SourceKind(StrEnum):
    """Where recordings come from."""

    LOCAL = "local"
    S3 = "s3"
    MANIFEST = "manifest"


class RecordingStatus(StrEnum):
    """pending → probed → queued → running → done | failed. A changed object goes back
    to pending. A recording whose jobs are all done but whose exports could not be written
    is ``export_failed`` (with the reason) until a retry writes them (→ done) or the
    retries run out (→ failed)."""

    PENDING = "pending"
    PROBED = "probed"
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    EXPORT_FAILED = "export_failed"


class JobStatus(StrEnum):
    """queued → running → done | failed (| queued again after a retryable error)."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class WindowStatus(StrEnum):
    """A window is written once its transcription is stored."""

    DONE = "done"
    EMPTY = "empty"


FINAL_JOB_STATES = frozenset({JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED})
