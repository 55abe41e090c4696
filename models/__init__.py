"""The SQLAlchemy ORM: the schema that workers write and dashboards read."""

from models.base import Base, utcnow
from models.enums import JobStatus, RecordingStatus, SourceKind, WindowStatus
from models.tables import Job, Recording, Run, Segment, Source, Window

__all__ = [
    "Base",
    "Job",
    "JobStatus",
    "Recording",
    "RecordingStatus",
    "Run",
    "Segment",
    "Source",
    "SourceKind",
    "Window",
    "WindowStatus",
    "utcnow",
]
