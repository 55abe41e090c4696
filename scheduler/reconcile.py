"""The reconciler: the database alone is enough to rebuild the queue.

One pass (periodic task, or ``callscribe reconcile``):

1. a running job whose lease expired (its worker died) goes back to ``queued``;
2. every queued job the broker does not hold (never sent, lost in a Redis restart or
   ``FLUSHALL``, or just re-queued above) is sent again — duplicates are harmless because a
   claim only succeeds on a queued job;
3. a recording whose jobs are all done but that is not ``done`` yet (its worker died between
   storing results and writing exports, or the exports failed and their retry is due) is
   finalized.

Every worker runs a pass on a jittered interval under a database lock
(``callscribe.healing``), so nothing waits for an operator.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from callscribe.models import Job, JobStatus, Recording, RecordingStatus
from callscribe.models.base import as_utc, utcnow
from callscribe.models.state import job_lease_expired
from callscribe.settings import Settings

from .enqueue import Enqueuer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReconcileReport:
    """What one pass did."""

    lease_expired: int
    resent: int
    finalized: int
    exports_failed: int = 0
    """Recordings still ``export_failed`` after the pass (their exports will be retried)."""

    @property
    def finished(self) -> bool:
        """Whether every recording the pass could finish is finished."""
        return not self.exports_failed


def expire_leases(factory: sessionmaker[Session]) -> list[int]:
    """Running jobs whose lease has run out → queued. Returns their ids."""
    with factory.begin() as session:
        jobs = list(
            session.scalars(
                select(Job)
                .where(Job.status == JobStatus.RUNNING, Job.lease_expires_at < utcnow())
                .with_for_update(skip_locked=True)
            )
        )
        for job in jobs:
            job_lease_expired(job)
        return [job.id for job in jobs]


def lost_jobs(
    factory: sessionmaker[Session], enqueuer: Enqueuer, grace_s: float, always: set[int]
) -> list[int]:
    """Queued jobs the broker does not hold (older than ``grace_s``), plus ``always``."""
    cutoff = utcnow() - timedelta(seconds=grace_s)
    with factory.begin() as session:
        queued = [
            (job_id, as_utc(at))
            for job_id, at in session.execute(
                select(Job.id, Job.queued_at).where(Job.status == JobStatus.QUEUED)
            )
        ]
    held = enqueuer.queued_job_ids(grace_s)
    lost = [
        job_id
        for job_id, at in queued
        if job_id in always or (at <= cutoff and (held is None or job_id not in held))
    ]
    return sorted(set(lost))


def reconcile(
    settings: Settings,
    factory: sessionmaker[Session],
    enqueuer: Enqueuer,
    *,
    finalize: Callable[[], int],
) -> ReconcileReport:
    """One reconciliation pass. ``finalize`` finalizes every recording whose jobs are all
    done and returns how many (the workers' ``finalize_unfinished``, passed in by the entry
    point: the scheduler does not import worker code)."""
    expired = expire_leases(factory)
    lost = lost_jobs(factory, enqueuer, settings.jobs.requeue_grace_s, set(expired))
    enqueuer.send(lost)
    finalized = finalize()  # failures: the next pass tries again
    report = ReconcileReport(len(expired), len(lost), finalized, export_failed_count(factory))
    if any((report.lease_expired, report.resent, report.finalized)):
        log.info("reconcile: %s", report)
    return report


def export_failed_count(factory: sessionmaker[Session]) -> int:
    """Recordings whose exports failed and are waiting for a retry."""
    with factory.begin() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Recording)
                .where(Recording.status == RecordingStatus.EXPORT_FAILED)
            )
            or 0
        )
