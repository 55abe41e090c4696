"""Short windows of one job read as one clip, so the model encodes fewer 30-s windows.

Speech is packed into windows per channel (``workers.audio.vad``), so each channel ends with a
partial window, and a stereo call has two: 17 s of the agent and 8 s of the customer cost
two encoder passes over 30 s each. The encoder's cost is per window whatever it holds, so
on the calls of ``bench/accuracy.py`` 55 windows became 48 when the windows of a job are
fitted together (first fit, longest first) into clips of at most ``window_max_s``, with
:data:`GAP_S` of silence between parts.

A clip's words go back to the window their middle falls in, with times in that window's
own audio; each window then yields segments as if decoded alone. Fusing depends only on the
job's own windows, so a re-run gives the same transcript. It is only done when every window
is decoded in one known language (set in ``decode.language``, or an English-only model):
windows of two channels whose languages are detected apart are not read together.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from ..audio.decode import SAMPLE_RATE
from ..records import Word
from .decoding import Decoded

K = TypeVar("K", bound=Hashable)

#: Silence between two windows read as one clip (seconds).
GAP_S = 0.3


@dataclass(frozen=True)
class Part(Generic[K]):
    """One window inside a clip: where its audio starts and how long it is (seconds)."""

    key: K
    offset_s: float
    length_s: float


@dataclass(frozen=True)
class Clip(Generic[K]):
    """What the model reads: one window, or several with :data:`GAP_S` between them."""

    parts: tuple[Part[K], ...]
    audio: np.ndarray

    @classmethod
    def single(cls, key: K, audio: np.ndarray) -> Clip[K]:
        return cls((Part(key, 0.0, audio.size / SAMPLE_RATE),), audio)


def fuse(windows: Sequence[tuple[K, np.ndarray]], max_s: float) -> list[Clip[K]]:
    """Fit the windows (key, audio) into clips of at most ``max_s`` seconds, first fit,
    longest first; a clip's parts keep the windows' order. Every window is in one clip."""
    order = sorted(range(len(windows)), key=lambda i: -windows[i][1].size)
    bins: list[list[int]] = []
    used: list[float] = []
    for index in order:
        length = windows[index][1].size / SAMPLE_RATE
        for b, members in enumerate(bins):
            if used[b] + GAP_S + length <= max_s + 1e-6:
                members.append(index)
                used[b] += GAP_S + length
                break
        else:
            bins.append([index])
            used.append(length)
    groups = sorted(sorted(members) for members in bins)
    return [_clip([windows[i] for i in group]) for group in groups]


def _clip(members: list[tuple[K, np.ndarray]]) -> Clip[K]:
    if len(members) == 1:
        return Clip.single(*members[0])
    gap = np.zeros(round(GAP_S * SAMPLE_RATE), dtype=np.float32)
    parts: list[Part[K]] = []
    pieces: list[np.ndarray] = []
    offset = 0.0
    for key, audio in members:
        if pieces:
            pieces.append(gap)
            offset += GAP_S
        parts.append(Part(key, round(offset, 6), audio.size / SAMPLE_RATE))
        pieces.append(audio.astype(np.float32, copy=False))
        offset += audio.size / SAMPLE_RATE
    return Clip(tuple(parts), np.concatenate(pieces))


def split(clip: Clip[K], decoded: Decoded) -> dict[K, Decoded]:
    """Each window's share of the clip's result: the words whose middle falls in it (a
    word in a gap goes to the nearer side), times in the window's own audio. The clip's
    scores (log-probability, no-speech probability, temperature) stand for every part."""
    if len(clip.parts) == 1:
        return {clip.parts[0].key: decoded}
    words: list[list[Word]] = [[] for _ in clip.parts]
    for word in decoded.words:
        middle = (word.start + word.end) / 2
        index = _part_of(clip.parts, middle)
        part = clip.parts[index]
        start = min(max(word.start - part.offset_s, 0.0), part.length_s)
        end = min(max(word.end - part.offset_s, start), part.length_s)
        words[index].append(Word(round(start, 3), round(end, 3), word.word, word.probability))
    return {
        part.key: decoded.with_words(tuple(mine))
        for part, mine in zip(clip.parts, words, strict=True)
    }


def _part_of(parts: tuple[Part[K], ...], t: float) -> int:
    for index, part in enumerate(parts[:-1]):
        boundary = part.offset_s + part.length_s + GAP_S / 2
        if t < boundary:
            return index
    return len(parts) - 1
