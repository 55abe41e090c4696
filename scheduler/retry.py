"""``callscribe retry --failed``: give dead letters another round of attempts."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from callscribe.models import Job, JobStatus, Recording, RecordingStatus
from callscribe.models.state import job_requeued, recording_requeued


def requeue_failed(factory: sessionmaker[Session]) -> list[int]:
    """Failed jobs (and the jobs cancelled with them) → queued with attempts reset; their
    recordings → queued. Returns the job ids to send. Recordings that failed before any job
    was planned (unreadable files) stay failed: only a changed file is worth another look."""
    with factory.begin() as session:
        recordings = list(
            session.scalars(
                select(Recording)
                .where(
                    Recording.status == RecordingStatus.FAILED,
                    Recording.jobs.any(Job.version == Recording.version),
                )
                .with_for_update()
            )
        )
        job_ids: list[int] = []
        for rec in recordings:
            for job in rec.jobs:
                if job.status in (JobStatus.FAILED, JobStatus.CANCELLED):
                    job_requeued(job)
                    job_ids.append(job.id)
            recording_requeued(rec)
        failed_elsewhere = session.scalars(
            select(Job).where(Job.status == JobStatus.FAILED, Job.id.not_in(job_ids or [-1]))
        )
        for job in failed_elsewhere:
            job_requeued(job)
            job_ids.append(job.id)
        return sorted(job_ids)
