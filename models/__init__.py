"""The SQLAlchemy ORM: the schema that workers write and dashboards read."""

from .base import Base, utcnow
from .enums import JobStatus, RecordingStatus, SourceKind, WindowStatus
from .tables import (
    CallMetric,
    CostHourly,
    Job,
    JobCostHour,
    Recording,
    RedactedSpan,
    ReferencePrice,
    Run,
    Segment,
    Source,
    TranscriptWord,
    Window,
)

__all__ = [
    "Base",
    "CallMetric",
    "CostHourly",
    "Job",
    "JobCostHour",
    "JobStatus",
    "Recording",
    "RecordingStatus",
    "RedactedSpan",
    "ReferencePrice",
    "Run",
    "Segment",
    "Source",
    "SourceKind",
    "TranscriptWord",
    "Window",
    "WindowStatus",
    "utcnow",
]
