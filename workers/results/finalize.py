"""Finishing a recording once all its jobs are done: exports, then ``done``. Used by the
worker that stores the last job and by the reconciler; loads no model."""

from __future__ import annotations

import logging
import tempfile
from collections import Counter
from dataclasses import replace
from pathlib import Path

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, sessionmaker

from callscribe.errors import one_line, outage
from callscribe.failures import backoff
from callscribe.models import Job, JobStatus, Recording, RecordingStatus
from callscribe.models.base import as_utc, utcnow
from callscribe.models.state import export_attempts
from callscribe.settings import SegmentSection, Settings
from callscribe.storage.sources import make_s3_client, open_source

from ..analytics.activity import ChannelActivity, merge_activity, split_talk
from ..analytics.call_metrics import CallMetrics, compute_metrics
from ..insights.engine import insights_for
from ..protection.redacted_audio import write_redacted_audio
from ..transcription.engine import decode_record
from . import recordings
from .exports import Transcript, TranscriptCall, export_names, write_exports, write_file_export

log = logging.getLogger(__name__)


def finalize_recording(
    settings: Settings, factory: sessionmaker[Session], recording_id: int
) -> None:
    """Write the exports of a recording whose jobs are all done and mark it done, with the
    settings its jobs ran with (its source's options over ``settings``)."""
    source_options = recordings.job_options(factory, recording_id)
    settings = settings.for_source(source_options)
    recordings.link_speakers(factory, recording_id)
    rec, transcript = build_transcript(settings, factory, recording_id)
    transcript = replace(
        transcript,
        options={
            **transcript.options,
            "source_options": source_options,
            "languages": recordings.channel_languages(factory, recording_id),
        },
    )
    metrics = call_metrics(factory, transcript, settings.segments)
    transcript = replace(transcript, metrics=None if metrics is None else metrics.to_json())
    written = write_exports(
        transcript,
        settings.storage.output,
        settings.exports.formats,
        lambda: make_s3_client(settings.storage),
    )
    if settings.exports.redacted_audio:
        written.append(export_redacted_audio(settings, rec, transcript))
    insights = insights_for(
        settings.insights, transcript.segments, settings.segments.speaker_labels
    )
    recordings.mark_recording_done(
        factory,
        recording_id,
        transcript.language,
        {"transcription": transcript.options, "exports": written},
        transcript.duration_s,
        metrics,
        insights,
        settings.insights.topic_min_similarity,
    )


def call_metrics(
    factory: sessionmaker[Session], transcript: Transcript, segments: SegmentSection
) -> CallMetrics | None:
    """How the call went, from its jobs' activity and its words
    (``workers.analytics.call_metrics``):
    two parties on a stereo call (the agent's channel is the one labelled ``agent``, else
    channel 0); on one channel, two parties when diarization named its segments the agent
    and the customer (:func:`one_channel_metrics`), else one mixed channel. None when a job
    of it has no activity (stored by an older worker)."""
    activity = recordings.load_activity(factory, transcript.recording_id)
    if not activity or transcript.duration_s is None:
        return None
    if len(activity) == 1:
        return one_channel_metrics(
            merge_activity(next(iter(activity.values()))), transcript, segments
        )
    channels = sorted(activity)[:2]
    labels = [segments.speaker_for(c, len(channels)) for c in channels]
    if len(channels) == 2 and labels[1] == "agent":
        channels.reverse()
    words = Counter(s.channel for s in transcript.segments for _w in s.words)
    return compute_metrics(
        duration_s=transcript.duration_s,
        channels=[merge_activity(activity[c]) for c in channels],
        words=[words[c] for c in channels],
    )


def one_channel_metrics(
    channel: ChannelActivity, transcript: Transcript, segments: SegmentSection
) -> CallMetrics:
    """The figures of a one-channel call. When its segments are named the two parties of a
    call (``segments.speaker_labels``, as diarization names them), the channel's talk is
    shared out by who spoke (``analytics.activity.split_talk``) and the call gets every
    two-party figure, hold included (sound on the line while nobody talks); it still counts
    as one channel. Otherwise (no diarization, ``unknown``, a meeting's ``speaker_N``) the
    figures of one mixed channel."""
    agent, customer = (*segments.speaker_labels, "agent", "customer")[:2]
    spoken = {s.speaker for s in transcript.segments}
    if not spoken or not spoken <= {agent, customer}:
        return compute_metrics(
            duration_s=transcript.duration_s or 0.0,
            channels=[channel],
            words=[sum(len(s.words) for s in transcript.segments)],
        )
    turns = [(s.start, s.end, s.speaker) for s in transcript.segments]
    talk = split_talk(channel.talk, turns, (agent, customer))
    words = Counter(s.speaker for s in transcript.segments for _w in s.words)
    metrics = compute_metrics(
        duration_s=transcript.duration_s or 0.0,
        channels=[
            ChannelActivity(talk=talk[agent], sound=channel.sound),
            ChannelActivity(talk=talk[customer]),
        ],
        words=[words[agent], words[customer]],
    )
    return replace(metrics, channels=1)


def build_transcript(
    settings: Settings, factory: sessionmaker[Session], recording_id: int
) -> tuple[Recording, Transcript]:
    """The recording and its new version's transcript, as the exports render it."""
    rec, segments = recordings.load_transcript(factory, recording_id, latest=True)
    duration = recordings.decoded_duration(factory, recording_id)
    languages = Counter(s.language for s in segments if s.language)
    options = {
        "decode": decode_record(settings),
        "vad": settings.vad.model_dump(mode="json"),
        "segments": settings.segments.model_dump(mode="json"),
        "redaction": settings.redaction.mode_for(rec.source.uri),
    }
    return rec, Transcript(
        recording_id=rec.id,
        source=rec.source.uri,
        key=rec.key,
        duration_s=rec.duration_s if duration is None else duration,
        channels=rec.channels,
        language=languages.most_common(1)[0][0] if languages else None,
        segments=tuple(segments),
        options=options,
        export_name=recordings.claim_export_name(
            factory, rec.id, export_names(rec.key, rec.source.uri)
        ),
        redactions=tuple(recordings.load_redactions(factory, rec.id, rec.version)),
        call=transcript_call(rec),
    )


def transcript_call(rec: Recording) -> TranscriptCall | None:
    """The recording's call metadata as exported; None when it has none."""
    started = as_utc(rec.started_at).isoformat() if rec.started_at is not None else None
    call = TranscriptCall(
        call_id=rec.call_id,
        agent=rec.agent,
        queue=rec.queue,
        direction=rec.direction,
        started_at=started,
        extra=dict(rec.call_meta or {}),
    )
    return None if call == TranscriptCall() else call


def export_redacted_audio(settings: Settings, rec: Recording, transcript: Transcript) -> str:
    """``<name>.redacted.wav``: the recording with every redacted span silenced (on every
    channel a mono recording's single transcript channel stands for)."""
    spans: dict[int, list[tuple[float, float]]] = {c: [] for c in range(rec.channels or 1)}
    transcribed = {s.channel for s in transcript.segments}
    for item in transcript.redactions:
        targets = [item.channel] if len(transcribed) > 1 or item.channel else list(spans)
        for channel in targets:
            spans.setdefault(channel, []).append((item.start, item.end))
    source = open_source(rec.source.uri, settings.storage)
    with tempfile.TemporaryDirectory(prefix="callscribe-redact-") as tmp:
        path = source.fetch(rec.key, Path(tmp), rec.uri)
        out = Path(tmp) / "redacted.wav"
        write_redacted_audio(path, out, spans)
        return write_file_export(
            transcript,
            settings.storage.output,
            ".redacted.wav",
            out,
            lambda: make_s3_client(settings.storage),
        )


def unfinished_recordings(
    factory: sessionmaker[Session], settings: Settings | None = None
) -> list[int]:
    """Recordings all of whose jobs are done, still not marked done: those a worker did not
    finalize (it died, or finalizing raised), and ``export_failed`` ones whose retry is due
    (with ``settings``; without, all of them)."""
    open_job = exists().where(Job.recording_id == Recording.id, Job.status != JobStatus.DONE)
    any_job = exists().where(Job.recording_id == Recording.id, Job.version == Recording.version)
    with factory.begin() as session:
        rows = (
            session.execute(
                select(Recording)
                .where(
                    Recording.status.in_(
                        [
                            RecordingStatus.QUEUED,
                            RecordingStatus.RUNNING,
                            RecordingStatus.EXPORT_FAILED,
                        ]
                    ),
                    any_job,
                    ~open_job,
                )
                .order_by(Recording.id)
            )
            .scalars()
            .all()
        )
        now = utcnow()
        return [
            rec.id
            for rec in rows
            if settings is None
            or rec.status != RecordingStatus.EXPORT_FAILED
            or as_utc(rec.updated_at).timestamp()
            + export_retry_delay(settings, export_attempts(rec))
            <= now.timestamp()
        ]


def export_retry_delay(settings: Settings, attempts: int) -> float:
    """Seconds between the ``attempts``-th failed export attempt and the next one."""
    return backoff(settings.exports.retry_delay_s, settings.jobs.retry_max_delay_s, attempts)


def export_failed(
    settings: Settings,
    factory: sessionmaker[Session],
    recording_id: int,
    exc: BaseException,
    give_up: bool = False,
) -> RecordingStatus:
    """Writing the recording's exports raised ``exc``: one warning, and the recording is
    ``export_failed`` (retried by the healing pass) or, with ``give_up`` or once
    ``exports.max_attempts`` have failed, ``failed``, with the reason."""
    reason = f"exports failed: {one_line(exc, 500)}"
    status = recordings.mark_export_failed(
        factory, recording_id, reason, 1 if give_up else settings.exports.max_attempts
    )
    log.warning(
        "recording %s: %s (%s)",
        recording_id,
        reason,
        "failed" if status == RecordingStatus.FAILED else "will be retried",
    )
    return status


def finalize_unfinished(
    settings: Settings, factory: sessionmaker[Session], give_up: bool = False
) -> int:
    """Finalize every recording whose jobs are all done (an ``export_failed`` one when its
    retry is due); returns how many were. With ``give_up``, a recording that still cannot
    be finalized is failed with the reason (the embedded run, which leaves nothing behind)."""
    finalized = 0
    for recording_id in unfinished_recordings(factory, None if give_up else settings):
        try:
            finalize_recording(settings, factory, recording_id)
            finalized += 1
        except Exception as exc:
            if outage(exc, only="database") is not None:
                raise  # not the exports' fault: the caller backs off and tries again
            export_failed(settings, factory, recording_id, exc, give_up)
    return finalized
