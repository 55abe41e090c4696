"""The SQLAlchemy ORM: the schema that workers write and dashboards read."""

from .base import Base, utcnow
from .enums import JobStatus, RecordingStatus, SourceKind, WindowStatus
from .tables import (
    CallInsight,
    CallMetric,
    CallQuestion,
    CostHourly,
    Job,
    JobCostHour,
    Recording,
    RedactedSpan,
    ReferencePrice,
    Run,
    Segment,
    Source,
    Topic,
    TranscriptWord,
    WebUser,
    Window,
)

__all__ = [
    "Base",
    "CallInsight",
    "CallMetric",
    "CallQuestion",
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
    "Topic",
    "TranscriptWord",
    "WebUser",
    "Window",
    "WindowStatus",
    "utcnow",
]
