"""Pieces of a packed window that the decode skipped (``workers.transcription.recovery``): which are
suspect, and how a piece's own decode goes back into its window."""

from __future__ import annotations

import numpy as np
import pytest

from callscribe.settings import DecodeSection
from callscribe.workers.records import PackedWindow, Word
from callscribe.workers.transcription.decoding import Decoded
from callscribe.workers.transcription.recovery import (
    piece_audio,
    pieces_in_clip,
    skipped_pieces,
    with_piece,
)

OPTIONS = DecodeSection()
#: Three pieces: 5 s of greeting, 4 s, then 2 s after a hold; in the clip 0-5, 5-9, 9-11.
WINDOW = PackedWindow(((0.5, 5.5), (10.0, 14.0), (40.0, 42.0)))


def decoded(
    *words: tuple[float, float, str], logprob: float = -0.3, no_speech: float = 0.05
) -> Decoded:
    return Decoded(
        text="",
        words=(),
        avg_logprob=logprob,
        no_speech_prob=no_speech,
        compression_ratio=0.0,
        temperature=0.0,
    ).with_words(tuple(Word(start=a, end=b, word=f" {t}", probability=0.9) for a, b, t in words))


def spread(start: float, end: float, n: int) -> list[tuple[float, float, str]]:
    step = (end - start) / n
    return [(start + i * step, start + (i + 1) * step, f"w{i}") for i in range(n)]


def test_pieces_lie_back_to_back_in_the_clip() -> None:
    pieces = pieces_in_clip(WINDOW)
    assert [(p.start, p.end) for p in pieces] == [(0.0, 5.0), (5.0, 9.0), (9.0, 11.0)]
    audio = np.arange(11 * 16000, dtype=np.float32)
    last = piece_audio(audio, pieces[2])
    assert last[0] == 9 * 16000 and last.size == 2 * 16000


def test_a_piece_with_too_few_words_is_suspect() -> None:
    full = decoded(*spread(0.0, 5.0, 12), *spread(5.0, 9.0, 10), *spread(9.0, 11.0, 5))
    assert skipped_pieces(WINDOW, full) == []
    # the greeting read as "I am", the turn after the hold timed into the piece before
    skipped = decoded((4.0, 4.3, "I"), (4.5, 4.8, "am"), *spread(5.0, 9.0, 10), (9.1, 9.4, "a"))
    assert [p.index for p in skipped_pieces(WINDOW, skipped)] == [0, 2]


def test_short_pieces_and_single_piece_windows_are_not_checked() -> None:
    assert skipped_pieces(PackedWindow(((0.0, 5.0),)), decoded()) == []
    window = PackedWindow(((0.0, 0.8), (2.0, 6.0)))
    assert [p.index for p in skipped_pieces(window, decoded(*spread(0.8, 4.8, 10)))] == []


def test_a_better_decode_of_a_piece_replaces_its_words_only() -> None:
    window = decoded((4.0, 4.3, "I"), *spread(5.0, 9.0, 10))
    piece = pieces_in_clip(WINDOW)[0]
    alone = decoded(*spread(0.2, 4.8, 11))
    merged = with_piece(window, piece, alone, OPTIONS)
    assert len(merged.words) == 21
    assert [w.word for w in merged.words[:11]] == [f" w{i}" for i in range(11)]
    assert merged.words[10].end == pytest.approx(4.8)
    assert [w.start for w in merged.words] == sorted(w.start for w in merged.words)
    assert merged.text.startswith("w0 w1")
    later = with_piece(window, pieces_in_clip(WINDOW)[2], decoded(*spread(0.1, 1.9, 6)), OPTIONS)
    assert later.words[-1].start == pytest.approx(9.0 + 0.1 + 5 * 0.3)


@pytest.mark.parametrize(
    "alone",
    [
        decoded(),  # silence
        decoded(*spread(0.2, 4.8, 11), logprob=-1.5),  # unsure
        decoded(*spread(0.2, 4.8, 11), no_speech=0.9),  # the model says nobody speaks
        decoded((1.0, 1.3, "I")),  # no more words than before
    ],
)
def test_a_worse_decode_of_a_piece_changes_nothing(alone: Decoded) -> None:
    window = decoded((4.0, 4.3, "I"), *spread(5.0, 9.0, 10))
    assert with_piece(window, pieces_in_clip(WINDOW)[0], alone, OPTIONS) is window
