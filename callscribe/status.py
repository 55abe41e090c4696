"""Read-only progress figures from the database (``callscribe status``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from callscribe.errors import ConfigurationError, ServiceUnavailableError, one_line, outage
from callscribe.models import Job, JobStatus, Recording, RecordingStatus
from callscribe.models.base import utcnow
from callscribe.models.db import make_engine, session_factory
from callscribe.settings import Settings


@dataclass(frozen=True)
class StatusRow:
    """How many rows of a table are in one status."""

    table: str
    status: str
    count: int
    audio_hours: float


@dataclass(frozen=True)
class StatusSnapshot:
    """Counts by status plus the latest failures."""

    rows: tuple[StatusRow, ...]
    recent_failures: tuple[tuple[str, str], ...]


def read_status(settings: Settings, failures: int = 10) -> StatusSnapshot:
    """Counts by status for recordings and jobs, and the latest failure reasons."""
    factory = session_factory(make_engine(settings.database_url))
    try:
        with factory.begin() as session:
            recs = session.execute(
                select(
                    Recording.status,
                    func.count(),
                    func.coalesce(func.sum(Recording.duration_s), 0.0),
                )
                .group_by(Recording.status)
                .order_by(Recording.status)
            ).all()
            jobs = session.execute(
                select(
                    Job.status, func.count(), func.coalesce(func.sum(Job.end_s - Job.start_s), 0.0)
                )
                .group_by(Job.status)
                .order_by(Job.status)
            ).all()
            failed = session.execute(
                select(Recording.key, Recording.error)
                .where(
                    Recording.status.in_([RecordingStatus.FAILED, RecordingStatus.EXPORT_FAILED])
                )
                .order_by(Recording.updated_at.desc())
                .limit(failures)
            ).all()
    except (OperationalError, ProgrammingError) as exc:
        reason = outage(exc, only="database")
        if reason is not None:
            raise ServiceUnavailableError(reason) from exc
        raise ConfigurationError(
            "cannot read the database (run `callscribe db upgrade` or a transcription first): "
            + one_line(exc.orig, 200)
        ) from exc
    rows = [
        StatusRow(
            "recordings", str(s.value if hasattr(s, "value") else s), int(n), float(a or 0.0) / 3600
        )
        for s, n, a in recs
    ]
    rows += [
        StatusRow(
            "jobs", str(s.value if hasattr(s, "value") else s), int(n), float(a or 0.0) / 3600
        )
        for s, n, a in jobs
    ]
    return StatusSnapshot(tuple(rows), tuple((k, e or "") for k, e in failed))


@dataclass(frozen=True, kw_only=True)
class LiveProgress:
    """Live figures for ``status --watch``, all from the database."""

    jobs: dict[str, int]
    audio_done_h: float
    audio_left_h: float
    throughput_h_per_h: float
    window_s: float

    @property
    def eta_s(self) -> float | None:
        """Seconds until the backlog is done at the recent throughput."""
        if self.audio_left_h <= 0:
            return 0.0
        if self.throughput_h_per_h <= 0:
            return None
        return self.audio_left_h / self.throughput_h_per_h * 3600

    @property
    def finished(self) -> bool:
        return not self.jobs.get("queued") and not self.jobs.get("running")


def read_progress(factory: sessionmaker[Session], window_s: float = 600.0) -> LiveProgress:
    """Job counts, audio hours done and left, and throughput over the last ``window_s``."""
    span = Job.end_s - Job.start_s
    since = utcnow() - timedelta(seconds=window_s)
    with factory.begin() as session:
        by_status = {
            str(getattr(s, "value", s)): (int(n), float(a or 0.0))
            for s, n, a in session.execute(
                select(Job.status, func.count(), func.sum(span)).group_by(Job.status)
            )
        }
        recent = (
            session.scalar(
                select(func.coalesce(func.sum(span), 0.0)).where(
                    Job.status == JobStatus.DONE, Job.finished_at >= since
                )
            )
            or 0.0
        )
    done_s = by_status.get("done", (0, 0.0))[1]
    left_s = sum(by_status.get(k, (0, 0.0))[1] for k in ("queued", "running"))
    return LiveProgress(
        jobs={k: v[0] for k, v in by_status.items()},
        audio_done_h=done_s / 3600,
        audio_left_h=left_s / 3600,
        throughput_h_per_h=float(recent) / 3600 / (window_s / 3600),
        window_s=window_s,
    )
