"""The transcript records (``workers.records``) as the rows they are stored in, and back:
one function per record and direction, so a column is named in one place (the tables keep
``start_s``/``end_s`` and ``word``: the schema dashboards query, docs/schema.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from callscribe.models import RedactedSpan, TranscriptWord
from callscribe.models import Segment as SegmentRow

from ..records import RedactionSpan, Segment, Word


def word_from_row(row: TranscriptWord) -> Word:
    return Word(row.start_s, row.end_s, row.word, row.probability)


def segment_from_row(row: SegmentRow, words: Sequence[TranscriptWord] = ()) -> Segment:
    return Segment(
        start=row.start_s,
        end=row.end_s,
        channel=row.channel,
        speaker=row.speaker,
        text=row.text,
        avg_logprob=row.avg_logprob,
        no_speech_prob=row.no_speech_prob,
        compression_ratio=row.compression_ratio,
        language=row.language,
        speaker_confidence=row.speaker_confidence,
        words=tuple(word_from_row(w) for w in words),
    )


def span_from_row(row: RedactedSpan) -> RedactionSpan:
    return RedactionSpan(kind=row.kind, channel=row.channel, start=row.start_s, end=row.end_s)


def segment_values(
    segment: Segment, *, recording_id: int, job_id: int, window_id: int
) -> dict[str, Any]:
    """The ``segments`` row of ``segment`` (its words are :func:`word_values`)."""
    return {
        "recording_id": recording_id,
        "job_id": job_id,
        "window_id": window_id,
        "channel": segment.channel,
        "speaker": segment.speaker,
        "start_s": segment.start,
        "end_s": segment.end,
        "text": segment.text,
        "avg_logprob": segment.avg_logprob,
        "no_speech_prob": segment.no_speech_prob,
        "compression_ratio": segment.compression_ratio,
        "language": segment.language,
        "speaker_confidence": segment.speaker_confidence,
    }


def word_values(word: Word, *, segment_id: int, recording_id: int, channel: int) -> dict[str, Any]:
    """The ``words`` row of one word of a stored segment."""
    return {
        "segment_id": segment_id,
        "recording_id": recording_id,
        "channel": channel,
        "start_s": word.start,
        "end_s": word.end,
        "word": word.word,
        "probability": word.probability,
    }


def span_row(span: RedactionSpan, *, recording_id: int, job_id: int) -> RedactedSpan:
    return RedactedSpan(
        recording_id=recording_id,
        job_id=job_id,
        channel=span.channel,
        kind=span.kind,
        start_s=span.start,
        end_s=span.end,
    )
