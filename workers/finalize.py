"""Finishing a recording once all its jobs are done: exports, then ``done``. Used by the
worker that stores the last job and by the reconciler; loads no model."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict

from sqlalchemy.orm import Session, sessionmaker

from callscribe.settings import Settings
from scheduler.sources import make_s3_client
from workers import persistence as db
from workers.engine import DecodeOptions
from workers.exports import Transcript, TranscriptSegment, write_exports
from workers.vad import VadConfig


def vad_config(settings: Settings) -> VadConfig:
    """The VAD and windowing options of these settings."""
    return VadConfig(settings.vad_threshold, settings.vad_min_silence_ms,
                     settings.vad_speech_pad_ms, settings.window_max_seconds,
                     settings.window_merge_gap_seconds)


def finalize_recording(settings: Settings, factory: sessionmaker[Session],
                       recording_id: int) -> None:
    """Write the exports of a recording whose jobs are all done and mark it done."""
    rec, segments = db.load_transcript_rows(factory, recording_id)
    languages = Counter(s.language for s in segments if s.language)
    language = languages.most_common(1)[0][0] if languages else None
    options = {"decode": DecodeOptions.from_settings(settings).as_dict(),
               "vad": asdict(vad_config(settings))}
    transcript = Transcript(
        recording_id=rec.id, source=rec.source.uri, key=rec.key, duration_s=rec.duration_s,
        channels=rec.channels, language=language,
        segments=tuple(TranscriptSegment(s.start_s, s.end_s, s.channel, s.speaker, s.text,
                                         s.avg_logprob, s.no_speech_prob, s.language)
                       for s in segments),
        options=options)
    written = write_exports(transcript, settings.output, settings.export_formats,
                            lambda: make_s3_client(settings))
    db.mark_recording_done(factory, recording_id, language,
                           {"transcription": options, "exports": written})
