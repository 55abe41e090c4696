"""A recording's own writes and reads, once its jobs are done: its export name, its decoded
duration, marking it done (dropping a superseded version's rows) or failed, and reading its
transcript and redactions back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from callscribe.errors import StorageUnavailableError
from callscribe.media.probe import duration_warning
from callscribe.models import (
    CallMetric,
    Job,
    Recording,
    RecordingStatus,
    RedactedSpan,
    Segment,
    TranscriptWord,
    Window,
)
from callscribe.models.base import utcnow
from callscribe.models.metering import count_recording, unmeter_jobs
from callscribe.models.state import (
    export_attempts,
    recording_done,
    recording_export_failed,
    recording_failed,
    recording_warned,
)

from ..analytics.activity import ChannelActivity
from ..analytics.call_metrics import CallMetrics
from ..insights.call import CallInsights
from ..records import RedactionSpan
from ..records import Segment as SegmentRecord
from ..speakers.linking import match_voices
from .insight_rows import replace_insights
from .rows import segment_from_row, span_from_row
from .store import job_device


def claim_export_name(
    factory: sessionmaker[Session], recording_id: int, candidates: Sequence[str]
) -> str:
    """The recording's export name: the one it has, else the first candidate no other
    recording holds (``recordings.export_name`` is unique, so two finalizers of two
    recordings whose keys look alike cannot both take one name)."""

    for name in candidates:
        try:
            with factory.begin() as session:
                rec = session.scalars(
                    select(Recording).where(Recording.id == recording_id).with_for_update()
                ).one()
                if rec.export_name:
                    return rec.export_name
                rec.export_name = name
            return name
        except IntegrityError:
            continue
    raise StorageUnavailableError(f"no free export name for recording {recording_id}")


def decoded_duration(factory: sessionmaker[Session], recording_id: int) -> float | None:
    """Seconds of audio the recording's jobs decoded (each job counts the span it owns, the
    last up to the end of the stream): the true duration, whatever the header said."""
    with factory.begin() as session:
        total = session.scalar(
            select(func.sum(Job.audio_seconds)).where(Job.recording_id == recording_id)
        )
    return None if total is None else round(float(total), 3)


def mark_recording_done(
    factory: sessionmaker[Session],
    recording_id: int,
    language: str | None,
    metadata: dict[str, object],
    duration_s: float | None = None,
    metrics: CallMetrics | None = None,
    insights: CallInsights | None = None,
    topic_min_similarity: float = 1.0,
) -> None:
    """All jobs done and exports written; ``duration_s`` is what decoding found (stored,
    with a warning if the header claimed otherwise); ``metrics`` and ``insights`` replace
    the call's (a new call joins the nearest topic at ``topic_min_similarity`` or closer)."""
    with factory.begin() as session:
        rec = session.scalars(
            select(Recording).where(Recording.id == recording_id).with_for_update()
        ).one()
        if rec.status == RecordingStatus.DONE:
            return
        rec.meta = {**(rec.meta or {}), **metadata}
        drop_superseded(session, rec)
        if duration_s is not None:
            warning = duration_warning(rec.duration_s, duration_s)
            if warning:
                recording_warned(rec, warning)
            rec.duration_s = duration_s
        recording_done(rec, language)
        _replace_metrics(session, rec, metrics)
        replace_insights(session, rec, insights, topic_min_similarity)
        last = session.scalars(
            select(Job).where(Job.recording_id == rec.id).order_by(Job.seq.desc()).limit(1)
        ).one_or_none()
        count_recording(
            session,
            finished_at=rec.finished_at or utcnow(),
            source_id=rec.source_id,
            model=(last.model if last else "") or "",
            device=job_device(last),
            failed=False,
        )


def _replace_metrics(session: Session, rec: Recording, metrics: CallMetrics | None) -> None:
    session.execute(delete(CallMetric).where(CallMetric.recording_id == rec.id))
    if metrics is not None:
        session.add(
            CallMetric(
                recording_id=rec.id,
                transcript_version=rec.version,
                computed_at=utcnow(),
                **asdict(metrics),
            )
        )


def _finalizing(recording_id: int) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """Where a job is one of the recording's version being finalized (its latest)."""
    version = select(Recording.version).where(Recording.id == recording_id).scalar_subquery()
    return Job.recording_id == recording_id, Job.version == version


def load_activity(
    factory: sessionmaker[Session], recording_id: int
) -> dict[int, list[ChannelActivity]] | None:
    """Per channel, the activity of each job of the version being finalized; None when a
    job has none (stored before activity was measured)."""
    found: dict[int, list[ChannelActivity]] = {}
    with factory.begin() as session:
        for activity in session.scalars(select(Job.activity).where(*_finalizing(recording_id))):
            if activity is None:
                return None
            for channel, spans in activity.items():
                found.setdefault(int(channel), []).append(ChannelActivity.from_json(spans))
    return found


def link_speakers(factory: sessionmaker[Session], recording_id: int) -> int:
    """Give the voices of a diarized recording one name across its jobs: each later job's
    names are matched to those of the jobs before it by voice (``speakers.linking``), and its
    segments and stored voices renamed. Idempotent; returns how many segments changed."""
    changed = 0
    with factory.begin() as session:
        jobs = list(
            session.scalars(
                select(Job)
                .where(*_finalizing(recording_id), Job.speakers.is_not(None))
                .order_by(Job.seq)
                .with_for_update()
            )
        )
        known: dict[str, list[float]] = {}
        for job in jobs:
            voices = dict(job.speakers or {})
            names = match_voices(known, voices)
            if any(old != new for old, new in names.items()):
                for segment in session.scalars(select(Segment).where(Segment.job_id == job.id)):
                    new = names.get(segment.speaker, segment.speaker)
                    if new != segment.speaker:
                        segment.speaker = new
                        changed += 1
                job.speakers = {names[n]: v for n, v in voices.items()}
            for name, centroid in (job.speakers or {}).items():
                known.setdefault(name, centroid)
    return changed


def job_options(factory: sessionmaker[Session], recording_id: int) -> dict[str, Any]:
    """The source options the recording's jobs (of the version being finalized) ran with."""
    with factory.begin() as session:
        options = session.scalar(
            select(Job.options).where(*_finalizing(recording_id)).order_by(Job.seq).limit(1)
        )
    return dict(options or {})


def channel_languages(
    factory: sessionmaker[Session], recording_id: int
) -> dict[str, dict[str, Any]]:
    """Per channel of the version being finalized: the language most of its speech was
    decoded in, and the mean detection probability of those windows (speech-weighted)."""
    seconds: dict[tuple[int, str], float] = {}
    weighted: dict[tuple[int, str], float] = {}
    with factory.begin() as session:
        rows = session.execute(
            select(Window.channel, Window.language, Window.speech_s, Window.language_probability)
            .join(Job, Job.id == Window.job_id)
            .where(*_finalizing(recording_id))
        )
        for channel, language, speech_s, probability in rows:
            if language is None:
                continue
            key, weight = (channel, language), max(speech_s or 0.0, 1e-3)
            seconds[key] = seconds.get(key, 0.0) + weight
            weighted[key] = weighted.get(key, 0.0) + weight * (probability or 0.0)
    best: dict[str, dict[str, Any]] = {}
    for (channel, language), total in sorted(seconds.items(), key=lambda kv: -kv[1]):
        if str(channel) not in best:
            best[str(channel)] = {
                "language": language,
                "probability": round(weighted[(channel, language)] / total, 3),
            }
    return best


def drop_superseded(session: Session, rec: Recording) -> None:
    """The recording's new version is complete: earlier versions' jobs (the transcript kept
    while it ran) go, with their segments, words and share of costs."""
    old = Job.recording_id == rec.id, Job.version != rec.version
    unmeter_jobs(session, list(session.scalars(select(Job.id).where(*old))))
    session.execute(delete(Job).where(*old))


def mark_recording_failed(factory: sessionmaker[Session], recording_id: int, reason: str) -> None:
    """A recording-level failure after its jobs ran (e.g. exports could not be written)."""
    with factory.begin() as session:
        rec = session.get_one(Recording, recording_id)
        if rec.status != RecordingStatus.DONE:
            recording_failed(rec, reason)
            count_recording(
                session,
                finished_at=utcnow(),
                source_id=rec.source_id,
                model="",
                device=None,
                failed=True,
            )


def mark_export_failed(
    factory: sessionmaker[Session], recording_id: int, reason: str, max_attempts: int
) -> RecordingStatus:
    """Writing the exports failed: the recording is ``export_failed`` with the reason, to be
    retried, or ``failed`` once ``max_attempts`` have failed. Returns its new status."""
    with factory.begin() as session:
        rec = session.scalars(
            select(Recording).where(Recording.id == recording_id).with_for_update()
        ).one()
        if rec.status in (RecordingStatus.DONE, RecordingStatus.FAILED):
            return rec.status
        recording_export_failed(rec, reason)
        attempts = export_attempts(rec)
        if attempts >= max_attempts:
            recording_failed(rec, f"gave up after {attempts} export attempts: {reason}")
            count_recording(
                session,
                finished_at=utcnow(),
                source_id=rec.source_id,
                model="",
                device=None,
                failed=True,
            )
        return rec.status


def load_redactions(
    factory: sessionmaker[Session], recording_id: int, version: int
) -> list[RedactionSpan]:
    """What was redacted in one version of the recording's transcript, in time order."""
    jobs = select(Job.id).where(Job.recording_id == recording_id, Job.version == version)
    with factory.begin() as session:
        return [
            span_from_row(row)
            for row in session.scalars(
                select(RedactedSpan)
                .where(RedactedSpan.recording_id == recording_id, RedactedSpan.job_id.in_(jobs))
                .order_by(RedactedSpan.start_s, RedactedSpan.channel, RedactedSpan.id)
            )
        ]


def load_transcript(
    factory: sessionmaker[Session], recording_id: int, *, latest: bool = False
) -> tuple[Recording, list[SegmentRecord]]:
    """The recording and its segments in time order, each with its words: its transcript
    (``transcript_version``), or with ``latest`` the version being finalized."""
    with factory.begin() as session:
        rec = session.get_one(Recording, recording_id)
        _ = rec.source.uri
        version = (
            rec.version if latest or rec.transcript_version is None else rec.transcript_version
        )
        jobs = select(Job.id).where(Job.recording_id == recording_id, Job.version == version)
        segments = list(
            session.scalars(
                select(Segment)
                .where(Segment.recording_id == recording_id, Segment.job_id.in_(jobs))
                .order_by(Segment.start_s, Segment.channel, Segment.id)
            )
        )
        words: dict[int, list[TranscriptWord]] = {}
        kept = select(Segment.id).where(
            Segment.recording_id == recording_id, Segment.job_id.in_(jobs)
        )
        for word in session.scalars(
            select(TranscriptWord)
            .where(TranscriptWord.recording_id == recording_id, TranscriptWord.segment_id.in_(kept))
            .order_by(TranscriptWord.segment_id, TranscriptWord.id)
        ):
            words.setdefault(word.segment_id, []).append(word)
        records = [segment_from_row(s, words.get(s.id, ())) for s in segments]
        session.expunge_all()
        return rec, records
