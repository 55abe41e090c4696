"""The records a transcript is made of, one type per concept from the decoder to the
exports (faster-whisper's ``Segment.words: list[Word]``): the decoder's words, the
segments the worker stores, what redaction changes, what the exports render and what the
benchmarks score are all :class:`Word`, :class:`Segment` and :class:`RedactionSpan`.

Times are seconds. A word the decoder returns is timed from the start of its window's
audio; once placed (``transcription.segments``) every time is absolute in the recording.
The ORM rows these are stored as are mapped in ``results.rows``, one function per record.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Word:
    """One word: its text as the model wrote it (leading space included), its times and
    how sure the model was (None for a redaction tag over words of unknown probability)."""

    start: float
    end: float
    word: str
    probability: float | None = None


@dataclass(frozen=True, kw_only=True)
class Segment:
    """A piece of one channel's transcript and its words. The decoder's scores are the
    window's; None where the transcript came from elsewhere (a baseline being scored)."""

    start: float
    end: float
    channel: int
    speaker: str
    text: str
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    compression_ratio: float | None = None
    language: str | None = None
    words: tuple[Word, ...] = ()


@dataclass(frozen=True, kw_only=True)
class RedactionSpan:
    """Where one redacted entity was (no text): its kind ("CARD", "EMAIL" …), channel and
    times."""

    kind: str
    channel: int
    start: float
    end: float


def segment_text(words: tuple[Word, ...] | list[Word]) -> str:
    """A segment's text rebuilt from its words."""
    return "".join(w.word for w in words).strip()
