"""Which language a group of windows (one channel of a job) speaks.

Detected once per group, from up to ``DecodeSection.detect_windows`` of its windows: the
longest ones (a window holds packed speech, so its length is about its seconds of speech).
Each window's whole language distribution, weighted by its seconds of audio, is summed and
normalised; the most likely language wins and its probability is kept. One window of hold
music or line noise (which Whisper calls Norwegian Nynorsk or Khmer) does not decide a
call's language, as it did when only the first window was heard. A group of one window gets
what ``WhisperModel.detect_language`` gives for it.

A language fixed in the window's options is taken as is (probability 1); an English-only
model always hears English (probability 1), as in ``WhisperModel.transcribe``.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from callscribe.settings import DecodeSection

from .decoding import encode_windows

#: Mel frames per second of audio.
FRAMES_PER_S = 100
#: Mel frames the encoder reads (30 s).
MAX_FRAMES = 3000


@dataclass(frozen=True)
class Detected:
    """A language code and how sure the model is of it (1.0 when it was not detected)."""

    language: str
    probability: float


def window_languages(
    model: Any,
    groups: Sequence[Hashable],
    features: Sequence[np.ndarray],
    options: Sequence[DecodeSection],
) -> list[Detected]:
    """The language of each window (``groups[i]``, log-mel ``features[i]`` and
    ``options[i]`` describe window ``i``); detected once per group where not fixed."""
    found: list[Detected | None] = [None] * len(features)
    pending: dict[Hashable, list[int]] = {}
    for i, (group, opts) in enumerate(zip(groups, options, strict=True)):
        if not model.model.is_multilingual:
            found[i] = Detected("en", 1.0)
        elif opts.language:
            found[i] = Detected(opts.language, 1.0)
        else:
            pending.setdefault(group, []).append(i)
    for indices in pending.values():
        chosen = choose_windows([features[i] for i in indices], options[indices[0]].detect_windows)
        detected = detect(model, [features[indices[k]] for k in chosen])
        for i in indices:
            found[i] = detected
    return [d for d in found if d is not None]


def choose_windows(features: Sequence[np.ndarray], count: int) -> list[int]:
    """Indices of the ``count`` longest windows (the earlier of equal ones), in order."""
    longest = sorted(range(len(features)), key=lambda i: (-_frames(features[i]), i))
    return sorted(longest[:count])


def detect(model: Any, features: Sequence[np.ndarray]) -> Detected:
    """The language of these windows together: their language distributions weighted by
    their seconds of audio, summed and normalised."""
    total: dict[str, float] = {}
    weights = [max(_frames(f), 1) / FRAMES_PER_S for f in features]
    for distribution, weight in zip(distributions(model, features), weights, strict=True):
        for language, probability in distribution.items():
            total[language] = total.get(language, 0.0) + weight * probability
    language = max(total, key=lambda code: total[code])
    norm = sum(total.values())
    return Detected(language, total[language] / norm if norm > 0 else 0.0)


def distributions(model: Any, features: Sequence[np.ndarray]) -> list[dict[str, float]]:
    """Every language's probability for each window (one encoder batch for them all)."""
    from faster_whisper.transcribe import pad_or_trim

    encoded = encode_windows(model, [pad_or_trim(f[..., :MAX_FRAMES]) for f in features])
    return [
        {token[2:-2]: float(probability) for token, probability in pairs}
        for pairs in model.model.detect_language(encoded)
    ]


def _frames(features: np.ndarray) -> int:
    return min(int(features.shape[-1]), MAX_FRAMES)
