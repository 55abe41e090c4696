"""Read-only progress figures from the database (``callscribe status``)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError, ProgrammingError

from callscribe.errors import ConfigurationError
from callscribe.settings import Settings
from models import Job, Recording, RecordingStatus
from models.db import make_engine, session_factory


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
                select(Recording.status, func.count(),
                       func.coalesce(func.sum(Recording.duration_s), 0.0))
                .group_by(Recording.status).order_by(Recording.status)).all()
            jobs = session.execute(
                select(Job.status, func.count(), func.coalesce(func.sum(Job.end_s - Job.start_s),
                                                               0.0))
                .group_by(Job.status).order_by(Job.status)).all()
            failed = session.execute(
                select(Recording.key, Recording.error)
                .where(Recording.status == RecordingStatus.FAILED)
                .order_by(Recording.updated_at.desc()).limit(failures)).all()
    except (OperationalError, ProgrammingError) as exc:
        raise ConfigurationError(
            "cannot read the database (run `callscribe db upgrade` or a transcription first): "
            + " ".join(str(exc.orig).split())[:200]) from exc
    rows = [StatusRow("recordings", str(s.value if hasattr(s, "value") else s), int(n),
                      float(a or 0.0) / 3600) for s, n, a in recs]
    rows += [StatusRow("jobs", str(s.value if hasattr(s, "value") else s), int(n),
                       float(a or 0.0) / 3600) for s, n, a in jobs]
    return StatusSnapshot(tuple(rows), tuple((k, e or "") for k, e in failed))
