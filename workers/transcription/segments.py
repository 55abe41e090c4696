"""A window's words → segments with true times in the recording.

A packed window is several pieces of one channel's speech read as one clip, the silences
between them left out. Each word is placed in the piece its middle falls in and its times
are mapped back through that piece, so no word and no segment spans left-out silence. A
segment ends at every seam between pieces (in a stereo call: where the other party spoke),
at a pause between words (half as long after a sentence end), and, once long, at a
sentence or clause end.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from statistics import median

import numpy as np

from callscribe.settings import SegmentSection

from ..records import PackedWindow, Word
from .decoding import Decoded

#: Word text ending a sentence or clause: where a long segment may end.
_CLAUSE_END = (".", "?", "!", ",", ";", ":", "。", "？", "！")
_SENTENCE_END = (".", "?", "!", "。", "？", "！")


@dataclass(frozen=True)
class PlacedWord:
    """A word with its times in the recording and the window piece it belongs to."""

    piece: int
    word: Word


def place_words(window: PackedWindow, words: tuple[Word, ...]) -> list[PlacedWord]:
    """Map word times (seconds in the window's clip) to the recording, each word kept
    inside one piece."""
    bounds = _clip_bounds(window)
    limit = _longest_word(words)
    placed = []
    for index, word in enumerate(words):
        word = _trim_long(word, words, index, limit)
        middle = (word.start + word.end) / 2
        piece = next((p for p, (_a, b) in enumerate(bounds) if middle < b), len(bounds) - 1)
        clip_start, clip_end = bounds[piece]
        offset = window.pieces[piece][0] - clip_start
        start = min(max(word.start, clip_start), clip_end)
        end = min(max(word.end, start), clip_end)
        placed.append(
            PlacedWord(
                piece,
                Word(round(start + offset, 3), round(end + offset, 3), word.word, word.probability),
            )
        )
    return placed


def split_segments(
    window: PackedWindow, decoded: Decoded, rule: SegmentSection
) -> list[list[Word]]:
    """The window's words, in the recording's time, grouped into segments."""
    segments: list[list[Word]] = []
    previous: PlacedWord | None = None
    for item in place_words(window, decoded.words):
        if previous is None or _ends_segment(previous, item, segments[-1], rule):
            segments.append([])
        segments[-1].append(item.word)
        previous = item
    return segments


def _ends_segment(
    previous: PlacedWord, item: PlacedWord, current: list[Word], rule: SegmentSection
) -> bool:
    if item.piece != previous.piece:
        return True
    pause = item.word.start - previous.word.end
    said = previous.word.word.rstrip()
    if pause >= rule.pause_s or (pause >= rule.pause_s / 2 and said.endswith(_SENTENCE_END)):
        return True
    long = previous.word.end - current[0].start >= rule.max_s
    return long and said.endswith(_CLAUSE_END)


def _clip_bounds(window: PackedWindow) -> list[tuple[float, float]]:
    bounds, elapsed = [], 0.0
    for a, b in window.pieces:
        bounds.append((elapsed, elapsed + (b - a)))
        elapsed += b - a
    return bounds


def _longest_word(words: tuple[Word, ...]) -> float:
    """Twice the median word length (at most 1.4 s): longer words swallowed a pause."""
    durations = [w.end - w.start for w in words if w.end > w.start]
    return 2 * min(0.7, median(durations)) if durations else 1.4


def _trim_long(word: Word, words: tuple[Word, ...], index: int, limit: float) -> Word:
    """The alignment stretches a word over a neighbouring pause (the first word of a piece
    often starts at the piece's padding): cut it to ``limit`` on the pause's side."""
    if word.end - word.start <= limit:
        return word
    gap_before = (
        index == 0
        or word.start - words[index - 1].end > 0
        or words[index - 1].word.rstrip().endswith(_CLAUSE_END)
    )
    if gap_before:
        return Word(round(word.end - limit, 3), word.end, word.word, word.probability)
    return Word(word.start, round(word.start + limit, 3), word.word, word.probability)


#: A word's end is moved back to its last frame within this much of the window's loud
#: speech (its 95th-percentile frame level), plus ``_END_PAD_S``: the alignment tends to
#: stretch a word over the pause after it.
_SOUND_FLOOR_DB = -20.0
_END_PAD_S = 0.06
_FRAME = 320  # 20 ms at 16 kHz


def trim_to_sound(
    words: tuple[Word, ...], audio: np.ndarray, sample_rate: int = 16_000
) -> tuple[Word, ...]:
    """The words (times from the window clip's start) with each end pulled back over the
    quiet after it, never before its start; starts are kept."""
    frames = audio.size // _FRAME
    if not words or frames == 0:
        return words
    level = np.sqrt(
        np.mean(audio[: frames * _FRAME].astype(np.float64).reshape(frames, _FRAME) ** 2, axis=1)
    )
    loud = level >= float(np.percentile(level, 95)) * 10 ** (_SOUND_FLOOR_DB / 20)
    step = _FRAME / sample_rate
    trimmed = []
    for word in words:
        first, last = int(word.start / step), min(frames, int(np.ceil(word.end / step)))
        end = _sound_end(loud[first:last])
        if end is None:
            trimmed.append(word)
            continue
        end_s = min(word.end, float(first + end) * step + _END_PAD_S)
        trimmed.append(replace(word, end=round(float(max(end_s, word.start)), 3)))
    return tuple(trimmed)


#: A pause this long inside a word's span ends the word there (the alignment ran on into
#: the next word or turn); shorter dips are stop closures.
_PAUSE_FRAMES = 8  # 160 ms
_MIN_WORD_FRAMES = 5  # 100 ms


def _sound_end(loud: np.ndarray) -> int | None:
    """Frames from a word's start to where its sound ends: at the first pause of
    ``_PAUSE_FRAMES`` after its first 100 ms, else after its last loud frame; None when no
    frame is loud."""
    sounding = np.flatnonzero(loud)
    if sounding.size == 0:
        return None
    quiet = np.concatenate(([False], ~loud, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(quiet))
    for begin, stop in zip(edges[0::2], edges[1::2], strict=True):
        if stop - begin >= _PAUSE_FRAMES and begin >= _MIN_WORD_FRAMES and begin > sounding[0]:
            return int(begin)
    return int(sounding[-1]) + 1
