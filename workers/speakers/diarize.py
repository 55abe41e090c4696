"""Who spoke on a channel that carries several voices (a mono or dual-mono call, a meeting).

The channel's speech pieces (the VAD's, as the model read them) are cut into windows of
``diarization.window_s`` every ``hop_s``; each window gets a speaker embedding
(``speakers.model``) and the windows are grouped by voice (``speakers.cluster``). Each word
takes the voice of the windows over its middle, weighted by how much of the word they
cover; a segment is split where its words change voice, so every word of a segment has the
segment's speaker, and the segment keeps how sure that was (``speaker_confidence``: the
share of its words' votes that went to its speaker).

Names: a call (``speakers`` 2) has an ``agent`` and a ``customer`` (the labels of
``segments.speaker_labels``): the agent is the party who answers (the first to speak, unless
the other opens with a greeting such as "thank you for calling"), or the customer when the
source says the customer speaks first. Anything else (a meeting) is ``speaker_1`` … in
order of first words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from callscribe.settings import DiarizationSection

from ..records import PackedWindow, Segment, StoredWindow, Word, segment_text
from .cluster import cluster
from .model import SAMPLE_RATE, SpeakerEncoder

#: A piece shorter than this gets no window of its own (its words take the nearest voice).
MIN_WINDOW_S = 0.5
#: Words that open a call on the agent's side.
GREETING = re.compile(
    r"thank(s| you) for (calling|holding|contacting)|how (can|may) i help|"
    r"(this is|my name is|you'?re speaking (to|with)) \w+|speaking,? how",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Voices:
    """What diarization found on one channel of a job: each speaker's mean embedding (for
    matching the voices of a recording's later jobs to its first), by name."""

    centroids: dict[str, list[float]]

    def to_json(self) -> dict[str, list[float]]:
        return self.centroids


def embedding_windows(
    windows: Sequence[tuple[PackedWindow, np.ndarray]], config: DiarizationSection
) -> list[tuple[float, float, np.ndarray]]:
    """(start, end, audio) of every embedding window, times in the recording."""
    out = []
    for window, clip in windows:
        elapsed = 0.0
        for a, b in window.pieces:
            length = b - a
            piece = clip[round(elapsed * SAMPLE_RATE) : round((elapsed + length) * SAMPLE_RATE)]
            elapsed += length
            for start, end in _spans(length, config.window_s, config.hop_s):
                cut = piece[round(start * SAMPLE_RATE) : round(end * SAMPLE_RATE)]
                out.append((a + start, a + end, cut))
    return out


def _spans(length: float, size: float, hop: float) -> list[tuple[float, float]]:
    if length < MIN_WINDOW_S:
        return []
    if length <= size:
        return [(0.0, length)]
    starts = [*np.arange(0.0, length - size, hop).tolist(), length - size]
    return [(float(s), float(s) + size) for s in starts]


def diarize_channel(
    stored: list[StoredWindow],
    windows: Sequence[tuple[PackedWindow, np.ndarray]],
    encoder: SpeakerEncoder,
    config: DiarizationSection,
    labels: tuple[str, ...],
) -> tuple[list[StoredWindow], Voices]:
    """The channel's windows with every segment split by voice and named, and the voices."""
    cuts = embedding_windows(windows, config)
    words = [w for item in stored for s in item.segments for w in s.words]
    if not cuts or not words:
        return stored, Voices({})
    embeddings = encoder.embed([audio for _a, _b, audio in cuts])
    usable = np.linalg.norm(embeddings, axis=1) > 0
    spans = [(a, b) for (a, b, _audio), ok in zip(cuts, usable, strict=True) if ok]
    embeddings = embeddings[usable]
    if not spans:
        return stored, Voices({})
    voices = None if config.speakers == "auto" else config.speakers
    found = cluster(embeddings, voices, config.max_speakers)
    votes = {id(w): _vote(w, spans, found) for w in words}
    names = _names(stored, votes, config, labels)
    out = [
        replace(item, segments=tuple(p for s in item.segments for p in _split(s, votes, names)))
        for item in stored
    ]
    return out, Voices(_centroids(embeddings, found, names))


def _vote(word: Word, spans: list[tuple[float, float]], labels: np.ndarray) -> np.ndarray:
    """How much of ``word`` the windows of each voice cover (the nearest window's voice,
    all of it, when none does)."""
    share = np.zeros(int(labels.max()) + 1)
    for (a, b), label in zip(spans, labels, strict=True):
        overlap = min(b, word.end) - max(a, word.start)
        if overlap > 0:
            share[label] += overlap
    if share.sum() == 0:
        middle = (word.start + word.end) / 2
        nearest = min(
            range(len(spans)), key=lambda i: abs((spans[i][0] + spans[i][1]) / 2 - middle)
        )
        share[labels[nearest]] = 1.0
    return share / share.sum()


def _names(
    stored: list[StoredWindow],
    votes: dict[int, np.ndarray],
    config: DiarizationSection,
    labels: tuple[str, ...],
) -> dict[int, str]:
    """Each voice's name (see the module)."""
    segments = sorted((s for item in stored for s in item.segments), key=lambda s: s.start)
    order: list[int] = []
    texts: dict[int, list[str]] = {}
    for segment in segments:
        for word in segment.words:
            voice = int(np.argmax(votes[id(word)]))
            if voice not in order:
                order.append(voice)
            texts.setdefault(voice, []).append(word.word)
    if config.speakers != 2 or len(order) > 2:
        return {voice: f"speaker_{i + 1}" for i, voice in enumerate(order)}
    agent_label, customer_label = (*labels, "agent", "customer")[:2]
    greeters = [v for v in order if GREETING.search("".join(texts[v][:40]))]
    if len(greeters) == 1:
        agent = greeters[0]
    elif config.first_speaker == "customer" and len(order) == 2:
        agent = order[1]
    else:
        agent = order[0]
    return {v: agent_label if v == agent else customer_label for v in order}


def _split(segment: Segment, votes: dict[int, np.ndarray], names: dict[int, str]) -> list[Segment]:
    """``segment`` cut where its words change voice, each part named and with its
    confidence."""
    runs: list[tuple[int, list[Word], list[float]]] = []
    for word in segment.words:
        share = votes[id(word)]
        voice = int(np.argmax(share))
        if runs and runs[-1][0] == voice:
            runs[-1][1].append(word)
            runs[-1][2].append(float(share[voice]))
        else:
            runs.append((voice, [word], [float(share[voice])]))
    parts = []
    for voice, words, shares in runs:
        text = segment_text(words)
        if not text:
            continue
        parts.append(
            replace(
                segment,
                speaker=names[voice],
                start=words[0].start,
                end=words[-1].end,
                text=text,
                words=tuple(words),
                speaker_confidence=round(float(np.mean(shares)), 3),
            )
        )
    return parts


def _centroids(
    embeddings: np.ndarray, labels: np.ndarray, names: dict[int, str]
) -> dict[str, list[float]]:
    out = {}
    for voice, name in names.items():
        mean = embeddings[labels == voice].mean(axis=0)
        out[name] = [round(float(x), 5) for x in mean / max(float(np.linalg.norm(mean)), 1e-9)]
    return out


def unlabelled(stored: list[StoredWindow]) -> list[StoredWindow]:
    """The windows with every segment's speaker ``unknown``: a one-channel call whose
    voices could not be told apart (no speaker model)."""
    return [
        replace(
            item,
            segments=tuple(
                replace(s, speaker="unknown", speaker_confidence=None) for s in item.segments
            ),
        )
        for item in stored
    ]
