"""Speech that a packed window's decode skipped, read again on its own.

A packed window is several speech pieces back to back (``workers.audio.vad.pack_windows``). Now
and then the model, reading them as one clip, passes over a whole piece: on a hissy leg the
greeting before the first reply, or the "thank you for waiting" after a hold, whose words
then go missing or are timed into a neighbour. Each piece is checked after the first pass:
a piece of at least :data:`MIN_PIECE_S` that got fewer than :data:`MIN_WORDS_PER_S` words a
second (people say two to three) is decoded again alone, and its words are replaced by what
that decode found when it found more and passes the decoder's own checks (sure enough, not
silence). One extra, short window per suspect piece; most calls have none.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from callscribe.settings import DecodeSection

from ..audio.decode import SAMPLE_RATE
from ..records import PackedWindow
from .decoding import Decoded

#: Pieces shorter than this are not checked (a one-word "yes" is fine with one word).
MIN_PIECE_S = 1.0
#: A checked piece with fewer words a second than this is decoded again alone.
MIN_WORDS_PER_S = 1.5


@dataclass(frozen=True)
class Piece:
    """One piece of a packed window: its index and where it lies in the window's clip
    (seconds from the clip's start)."""

    index: int
    start: float
    end: float


def pieces_in_clip(window: PackedWindow) -> list[Piece]:
    """Each piece of ``window`` with its place in the clip (the pieces back to back)."""
    out, elapsed = [], 0
    for index, (a, b) in enumerate(window.pieces):
        length = round(b * SAMPLE_RATE) - round(a * SAMPLE_RATE)
        out.append(Piece(index, elapsed / SAMPLE_RATE, (elapsed + length) / SAMPLE_RATE))
        elapsed += length
    return out


def _words_in(decoded: Decoded, piece: Piece) -> int:
    return sum(piece.start <= (w.start + w.end) / 2 < piece.end for w in decoded.words)


def skipped_pieces(window: PackedWindow, decoded: Decoded) -> list[Piece]:
    """The pieces of a window of several whose words the decode seems to have skipped
    (module docstring)."""
    if len(window.pieces) < 2:
        return []  # read alone already
    return [
        p
        for p in pieces_in_clip(window)
        if p.end - p.start >= MIN_PIECE_S
        and _words_in(decoded, p) < MIN_WORDS_PER_S * (p.end - p.start)
    ]


def piece_audio(audio: np.ndarray, piece: Piece) -> np.ndarray:
    """The samples of one piece, out of its window's clip."""
    return audio[round(piece.start * SAMPLE_RATE) : round(piece.end * SAMPLE_RATE)]


def with_piece(decoded: Decoded, piece: Piece, alone: Decoded, options: DecodeSection) -> Decoded:
    """The window's decode with one piece's words replaced by those of its own decode
    (``alone``, times from the piece's start), when that found more words, was sure
    enough and is not silence; else the window's decode unchanged."""
    if (
        alone.silent
        or alone.avg_logprob < options.log_prob_threshold
        or alone.no_speech_prob > options.no_speech_threshold
        or len(alone.words) <= _words_in(decoded, piece)
    ):
        return decoded
    kept = [w for w in decoded.words if not piece.start <= (w.start + w.end) / 2 < piece.end]
    moved = [
        replace(
            w,
            start=round(min(piece.start + w.start, piece.end), 3),
            end=round(min(piece.start + w.end, piece.end), 3),
        )
        for w in alone.words
    ]
    return decoded.with_words(tuple(sorted([*kept, *moved], key=lambda w: w.start)))
