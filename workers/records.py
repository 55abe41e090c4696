"""The records a transcript is made of, one type per concept from the decoder to the
exports (faster-whisper's ``Segment.words: list[Word]``): the decoder's words, the
segments the worker stores, what redaction changes, what the exports render and what the
benchmarks score are all :class:`Word`, :class:`Segment` and :class:`RedactionSpan`; the
model reads a :class:`PackedWindow` and gives back a :class:`StoredWindow`.

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
    speaker_confidence: float | None = None
    """How sure diarization was of ``speaker`` (None where the channel says who speaks)."""
    words: tuple[Word, ...] = ()


@dataclass(frozen=True)
class PackedWindow:
    """Speech pieces of one channel (start, end seconds, in time order) that the model reads
    as one clip: the pieces' audio concatenated (``audio.vad.clip_audio``), at most
    ``vad.window_max_s`` of it. The span from the first piece's start to the last one's end
    can be longer: the silences between are left out."""

    pieces: tuple[tuple[float, float], ...]

    @property
    def start(self) -> float:
        return self.pieces[0][0]

    @property
    def end(self) -> float:
        return self.pieces[-1][1]

    @property
    def speech_s(self) -> float:
        return sum(b - a for a, b in self.pieces)

    def shifted(self, offset: float) -> PackedWindow:
        return PackedWindow(
            tuple((round(offset + a, 3), round(offset + b, 3)) for a, b in self.pieces)
        )


@dataclass(frozen=True, kw_only=True)
class StoredWindow:
    """A window and the segments the model gave for it."""

    channel: int
    window: PackedWindow
    language: str | None
    segments: tuple[Segment, ...]
    temperature: float | None = None
    language_probability: float | None = None


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
