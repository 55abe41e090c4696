"""The schema. Ops dashboards query these tables directly: every column is documented in
``docs/schema.md`` and changes go through an Alembic migration."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, JSONType, utcnow
from .enums import JobStatus, RecordingStatus, SourceKind, WindowStatus

#: Integer primary keys: BIGINT on PostgreSQL, INTEGER (rowid alias) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def _enum(enum_cls: type, name: str) -> Enum:
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


def _ts(**kwargs: Any) -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), **kwargs)


class Source(Base):
    """A place recordings are listed from: a local directory or an S3 prefix."""

    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    uri: Mapped[str] = mapped_column(Text, unique=True)
    kind: Mapped[SourceKind] = mapped_column(_enum(SourceKind, "source_kind"))
    created_at: Mapped[datetime] = _ts(default=utcnow)
    last_scanned_at: Mapped[datetime | None] = _ts(nullable=True)
    options: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    """What this source overrides of the global settings (``SourceOptions``)."""

    recordings: Mapped[list[Recording]] = relationship(back_populates="source")


class Run(Base):
    """One ingest (distributed) or transcribe (embedded) run over a source."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = _ts(default=utcnow)
    finished_at: Mapped[datetime | None] = _ts(nullable=True)
    discovered: Mapped[int] = mapped_column(Integer, default=0)
    new: Mapped[int] = mapped_column(Integer, default=0)
    changed: Mapped[int] = mapped_column(Integer, default=0)
    jobs_enqueued: Mapped[int] = mapped_column(Integer, default=0)
    options: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    """The source's options when the run began (what its jobs were planned with)."""
    error: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    """Why the run stopped before it finished (its broker went away); None if it did not."""


class Recording(Base):
    """One audio object of a source, identified by (source, key)."""

    __tablename__ = "recordings"
    __table_args__ = (
        UniqueConstraint("source_id", "key"),
        Index("ix_recordings_status", "status"),
        Index("ix_recordings_export_name", "export_name", unique=True),
        Index("ix_recordings_queue", "queue"),
        Index("ix_recordings_agent", "agent"),
        Index("ix_recordings_started_at", "started_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(Text)
    uri: Mapped[str] = mapped_column(Text)
    etag: Mapped[str | None] = mapped_column(String(128))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    mtime: Mapped[datetime | None] = _ts(nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    duration_s: Mapped[float | None] = mapped_column(Float)
    channels: Mapped[int | None] = mapped_column(Integer)
    sample_rate: Mapped[int | None] = mapped_column(Integer)
    codec: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[RecordingStatus] = mapped_column(
        _enum(RecordingStatus, "recording_status"), default=RecordingStatus.PENDING
    )
    error: Mapped[str | None] = mapped_column(Text)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    transcript_version: Mapped[int | None] = mapped_column(Integer)
    """The version whose results are the recording's transcript: set when a version is
    done; while a changed object is transcribed again (or if that fails), the previous
    version's segments stay and this still names it."""
    export_name: Mapped[str | None] = mapped_column(Text)
    """Path of the recording's exports under the output, without the format suffix; unique,
    so no two recordings' exports overwrite each other."""
    discovered_at: Mapped[datetime] = _ts(default=utcnow)
    updated_at: Mapped[datetime] = _ts(default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None] = _ts(nullable=True)
    # the call's metadata, from the source's metadata file or manifest (docs/metadata.md)
    call_id: Mapped[str | None] = mapped_column(Text)
    agent: Mapped[str | None] = mapped_column(Text)
    queue: Mapped[str | None] = mapped_column(Text)
    direction: Mapped[str | None] = mapped_column(Text)
    """``inbound`` or ``outbound``."""
    started_at: Mapped[datetime | None] = _ts(nullable=True)
    call_meta: Mapped[dict[str, Any] | None] = mapped_column(
        JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
    )
    """The metadata's other columns (name → text); NULL (not JSON null) when none."""

    source: Mapped[Source] = relationship(back_populates="recordings")
    jobs: Mapped[list[Job]] = relationship(
        back_populates="recording", cascade="all, delete-orphan", passive_deletes=True
    )


class Job(Base):
    """A contiguous span of one recording, transcribed by one worker in one go."""

    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("recording_id", "seq"),
        Index("ix_jobs_status", "status"),
        CheckConstraint("end_s > start_s", name="span"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    """Order within the recording's version; a superseded version's jobs, kept until the
    new version is done, have negative numbers."""
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    """The version of the recording's object this job transcribes."""
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    is_last: Mapped[bool] = mapped_column(default=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    status: Mapped[JobStatus] = mapped_column(
        _enum(JobStatus, "job_status"), default=JobStatus.QUEUED
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(255))
    lease_expires_at: Mapped[datetime | None] = _ts(nullable=True)
    heartbeat_at: Mapped[datetime | None] = _ts(nullable=True)
    error: Mapped[str | None] = mapped_column(Text)
    cut_start_s: Mapped[float | None] = mapped_column(Float)
    cut_end_s: Mapped[float | None] = mapped_column(Float)
    speech_seconds: Mapped[float | None] = mapped_column(Float)
    device_seconds: Mapped[float | None] = mapped_column(Float)
    audio_seconds: Mapped[float | None] = mapped_column(Float)
    device_kind: Mapped[str | None] = mapped_column(String(16))
    device_name: Mapped[str | None] = mapped_column(String(128))
    worker_host: Mapped[str | None] = mapped_column(String(255))
    model: Mapped[str | None] = mapped_column(String(255))
    compute_type: Mapped[str | None] = mapped_column(String(32))
    batch_size: Mapped[int | None] = mapped_column(Integer)
    price_per_device_hour: Mapped[float | None] = mapped_column(Float)
    cost_usd: Mapped[float | None] = mapped_column(Float)
    options: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    """The source's options the job runs with (copied when it was planned)."""
    activity: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    """Per channel: talk and sound spans of this job's part (``workers.analytics.activity``)."""
    speakers: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    """A diarized job's voices: each speaker's mean embedding, by name (``workers.speakers``)."""
    queued_at: Mapped[datetime] = _ts(default=utcnow)
    started_at: Mapped[datetime | None] = _ts(nullable=True)
    finished_at: Mapped[datetime | None] = _ts(nullable=True)

    recording: Mapped[Recording] = relationship(back_populates="jobs")
    windows: Mapped[list[Window]] = relationship(
        back_populates="job", cascade="all, delete-orphan", passive_deletes=True
    )


class Window(Base):
    """What the model transcribed in one pass: speech pieces of one channel, at most 30 s of
    speech in all, concatenated. ``start_s``/``end_s`` span the pieces (the silences between
    them were left out, so the span may be longer than 30 s); ``pieces`` lists them."""

    __tablename__ = "windows"
    __table_args__ = (
        Index("ix_windows_job_id", "job_id"),
        CheckConstraint("end_s > start_s", name="span"),
        CheckConstraint(
            "speech_s > 0 AND speech_s <= 30.001 AND speech_s <= end_s - start_s + 0.001",
            name="speech",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id", ondelete="CASCADE"))
    channel: Mapped[int] = mapped_column(Integer)
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    speech_s: Mapped[float] = mapped_column(Float)
    pieces: Mapped[list[list[float]]] = mapped_column(JSONType)
    status: Mapped[WindowStatus] = mapped_column(_enum(WindowStatus, "window_status"))
    language: Mapped[str | None] = mapped_column(String(16))
    language_probability: Mapped[float | None] = mapped_column(Float)
    """How sure language detection was of the channel's language (1.0 when it was set)."""
    temperature: Mapped[float | None] = mapped_column(Float)
    """Decoding temperature of the kept text: 0, or higher after a fallback."""

    job: Mapped[Job] = relationship(back_populates="windows")


class Segment(Base):
    """A piece of transcript, with times absolute in the recording."""

    __tablename__ = "segments"
    __table_args__ = (
        Index("ix_segments_recording_id_start_s", "recording_id", "start_s"),
        Index("ix_segments_job_id", "job_id"),
        CheckConstraint("end_s >= start_s", name="span"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id", ondelete="CASCADE"))
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    window_id: Mapped[int] = mapped_column(ForeignKey("windows.id", ondelete="CASCADE"))
    channel: Mapped[int] = mapped_column(Integer)
    speaker: Mapped[str] = mapped_column(String(64))
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text)
    avg_logprob: Mapped[float | None] = mapped_column(Float)
    no_speech_prob: Mapped[float | None] = mapped_column(Float)
    compression_ratio: Mapped[float | None] = mapped_column(Float)
    language: Mapped[str | None] = mapped_column(String(16))
    speaker_confidence: Mapped[float | None] = mapped_column(Float)
    """How sure diarization was of ``speaker`` (0–1); null where the channel says it."""


class TranscriptWord(Base):
    """One word of a segment, with its own times (absolute in the recording) from the
    model's word alignment."""

    __tablename__ = "words"
    __table_args__ = (
        Index("ix_words_recording_id_start_s", "recording_id", "start_s"),
        Index("ix_words_segment_id", "segment_id"),
        CheckConstraint("end_s >= start_s", name="span"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    segment_id: Mapped[int] = mapped_column(ForeignKey("segments.id", ondelete="CASCADE"))
    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id", ondelete="CASCADE"))
    channel: Mapped[int] = mapped_column(Integer)
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    word: Mapped[str] = mapped_column(Text)
    probability: Mapped[float | None] = mapped_column(Float)


class RedactedSpan(Base):
    """One redacted entity of a transcript: where (channel, times) and what kind ("CARD",
    "EMAIL" …), never the words; replaced with its job's results (migration 0011)."""

    __tablename__ = "redactions"
    __table_args__ = (
        Index("ix_redactions_recording_id", "recording_id"),
        Index("ix_redactions_job_id", "job_id"),
        CheckConstraint("end_s >= start_s", name="span"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id", ondelete="CASCADE"))
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    channel: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)


class CallMetric(Base):
    """How a call went, one row per recording, computed when it is finalized and replaced
    on re-runs (``workers.analytics.call_metrics``; migration 0013). Seconds unless named otherwise;
    the two-party figures are null for a mono recording."""

    __tablename__ = "call_metrics"

    recording_id: Mapped[int] = mapped_column(
        ForeignKey("recordings.id", ondelete="CASCADE"), primary_key=True
    )
    transcript_version: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[datetime] = _ts(default=utcnow)
    duration_s: Mapped[float] = mapped_column(Float)
    channels: Mapped[int] = mapped_column(Integer)
    talk_s: Mapped[float] = mapped_column(Float)
    non_talk_s: Mapped[float] = mapped_column(Float)
    longest_silence_s: Mapped[float] = mapped_column(Float)
    words_per_minute: Mapped[float | None] = mapped_column(Float)
    agent_talk_s: Mapped[float | None] = mapped_column(Float)
    customer_talk_s: Mapped[float | None] = mapped_column(Float)
    talk_ratio: Mapped[float | None] = mapped_column(Float)
    hold_s: Mapped[float | None] = mapped_column(Float)
    overtalk_count: Mapped[int | None] = mapped_column(Integer)
    overtalk_s: Mapped[float | None] = mapped_column(Float)
    agent_interruptions: Mapped[int | None] = mapped_column(Integer)
    customer_interruptions: Mapped[int | None] = mapped_column(Integer)
    agent_wpm: Mapped[float | None] = mapped_column(Float)
    customer_wpm: Mapped[float | None] = mapped_column(Float)
    customer_first_wait_s: Mapped[float | None] = mapped_column(Float)
    agent_response_gap_s: Mapped[float | None] = mapped_column(Float)
    ringing_s: Mapped[float | None] = mapped_column(Float)


class Topic(Base):
    """A topic customers call about, found by clustering the calls' problem statements and
    questions (``callscribe insights``; migration 0018). Each clustering replaces the
    previous topics (``generation`` counts them); new calls join the nearest one."""

    __tablename__ = "topics"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    generation: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = _ts(default=utcnow)
    label: Mapped[str] = mapped_column(Text)
    keywords: Mapped[list[str]] = mapped_column(JSONType)
    question: Mapped[str | None] = mapped_column(Text)
    question_recording_id: Mapped[int | None] = mapped_column(
        ForeignKey("recordings.id", ondelete="SET NULL")
    )
    question_start_s: Mapped[float | None] = mapped_column(Float)
    centroid: Mapped[bytes] = mapped_column(LargeBinary)
    calls: Mapped[int] = mapped_column(Integer)


class CallInsight(Base):
    """What the customer asked and how they felt, one row per recording, computed from
    its stored (redacted) text when it is finalized and replaced on re-runs
    (``workers.insights``; migration 0018). Sentiment in [-1, 1]; null without customer
    speech."""

    __tablename__ = "call_insights"
    __table_args__ = (Index("ix_call_insights_topic", "topic_id"),)

    recording_id: Mapped[int] = mapped_column(
        ForeignKey("recordings.id", ondelete="CASCADE"), primary_key=True
    )
    transcript_version: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[datetime] = _ts(default=utcnow)
    customer_sentiment: Mapped[float | None] = mapped_column(Float)
    sentiment_start: Mapped[float | None] = mapped_column(Float)
    sentiment_end: Mapped[float | None] = mapped_column(Float)
    sentiment_min: Mapped[float | None] = mapped_column(Float)
    signals: Mapped[list[str]] = mapped_column(JSONType)
    problem: Mapped[str | None] = mapped_column(Text)
    problem_start_s: Mapped[float | None] = mapped_column(Float)
    answer: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text)
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary)
    topic_id: Mapped[int | None] = mapped_column(ForeignKey("topics.id", ondelete="SET NULL"))
    topic_similarity: Mapped[float | None] = mapped_column(Float)
    models: Mapped[str] = mapped_column(String(32))


class CallQuestion(Base):
    """A question or request for help the customer said (migration 0018)."""

    __tablename__ = "call_questions"
    __table_args__ = (Index("ix_call_questions_recording", "recording_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id", ondelete="CASCADE"))
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text)
    sentiment: Mapped[float | None] = mapped_column(Float)
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary)


class WebUser(Base):
    """A login of the review web app (``callscribe web add-user``; migration 0019): an
    Argon2 hash, never the password. ``admin`` may also list the users."""

    __tablename__ = "web_users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = _ts(default=utcnow)
    updated_at: Mapped[datetime] = _ts(default=utcnow, onupdate=utcnow)


class CostHourly(Base):
    """Hourly rollup of metered usage, by source, model and device (maintained incrementally
    by ``callscribe.models.metering``)."""

    __tablename__ = "cost_hourly"
    __table_args__ = (
        UniqueConstraint("hour", "source_id", "model", "device_kind", "device_name"),
        Index("ix_cost_hourly_hour", "hour"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    hour: Mapped[datetime] = _ts()
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    model: Mapped[str] = mapped_column(String(255))
    device_kind: Mapped[str] = mapped_column(String(16))
    device_name: Mapped[str] = mapped_column(String(128))
    audio_hours: Mapped[float] = mapped_column(Float, default=0.0)
    speech_hours: Mapped[float] = mapped_column(Float, default=0.0)
    device_hours: Mapped[float] = mapped_column(Float, default=0.0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    cost_per_audio_hour: Mapped[float | None] = mapped_column(Float)
    realtime_factor: Mapped[float | None] = mapped_column(Float)
    jobs_done: Mapped[int] = mapped_column(Integer, default=0)
    recordings_done: Mapped[int] = mapped_column(Integer, default=0)
    recordings_failed: Mapped[int] = mapped_column(Integer, default=0)


class JobCostHour(Base):
    """Internal ledger: one job's share of one hour bucket (so a re-run can be subtracted).
    Not part of the dashboard interface."""

    __tablename__ = "job_cost_hours"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    hour: Mapped[datetime] = _ts(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    model: Mapped[str] = mapped_column(String(255))
    device_kind: Mapped[str] = mapped_column(String(16))
    device_name: Mapped[str] = mapped_column(String(128))
    worker: Mapped[str] = mapped_column(String(255))
    audio_seconds: Mapped[float] = mapped_column(Float)
    speech_seconds: Mapped[float] = mapped_column(Float)
    device_seconds: Mapped[float] = mapped_column(Float)
    cost_usd: Mapped[float] = mapped_column(Float)
    job_share: Mapped[int] = mapped_column(Integer)


class ReferencePrice(Base):
    """Prices compared against in the views (the cloud API's $ per audio hour), written
    from the settings whenever the database is opened."""

    __tablename__ = "reference_prices"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    usd_per_audio_hour: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = _ts(default=utcnow, onupdate=utcnow)
