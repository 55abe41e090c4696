"""Line echo on a stereo call: the other party's voice coming back on a leg, late and
quieter (a telephone hybrid's echo, or crosstalk between the legs of a recorder). Left in, it
is transcribed twice (once on each leg), counted as this leg's talk and as overtalk.

:func:`suppress_echo` finds it and takes it out, as an echo canceller's non-linear
processor does:

* both legs are cut into 10-ms frames (RMS levels);
* *single-talk frames* of the other leg: it is loud (12 dB over its floor) and this leg is
  not (under the median of its levels in those frames): what this leg carries then is its
  own noise, plus echo if there is any;
* over those frames, the log level of this leg is correlated with the other leg's, delayed
  by 0 to 150 ms; the best delay's correlation says whether there is echo (≥ 0.5), and the
  median level ratio, where this leg is above its own floor and below the other leg (an
  echo is weaker than its source: the other leg's loudness may itself be this leg's echo),
  how loud it is;
* a frame of this leg is echo when its level is no more than ``MARGIN`` (8 dB) above what
  the echo of the other leg's frame would be, and the other leg is loud there: its own
  party is not talking over it. Echo frames (and one frame either side) are scaled down to
  the leg's noise floor.

A leg's own speech over the other's (overtalk) is far louder than its echo (20-40 dB down)
and stays. Without echo the correlation stays near 0 and nothing is touched.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np

from ..records import StoredWindow, segment_text

_log = logging.getLogger(__name__)

FRAME_S = 0.01
MAX_DELAY_S = 0.15
#: The correlation over single-talk frames above which a leg has echo.
MIN_CORRELATION = 0.5
#: A frame up to this much above the echo it would carry is echo (8 dB).
MARGIN = 2.5
#: The other leg is loud where it is this far above its floor (12 dB).
LOUD = 4.0
#: Fewer single-talk frames than this (2 s) tell nothing.
MIN_FRAMES = 200


@dataclass(frozen=True, kw_only=True)
class Echo:
    """Echo found on one leg: of the other leg, ``delay_s`` late, ``gain`` (linear
    amplitude) of it, with ``correlation`` over the single-talk frames."""

    delay_s: float
    gain: float
    correlation: float


def _levels(samples: np.ndarray, frame: int) -> np.ndarray:
    usable = samples.size - samples.size % frame
    frames = np.asarray(samples[:usable], np.float64).reshape(-1, frame)
    return np.sqrt(np.mean(frames * frames, axis=1)) + 1e-7


def _floor(levels: np.ndarray) -> float:
    return float(np.percentile(levels, 10))


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson's r, 0 when either side is constant; element-wise arithmetic only:
    ``np.corrcoef`` goes through BLAS, whose worker threads then spin on the cores the
    model needs (a job's 32 calls cost the model about a tenth of its speed on 2 cores)."""
    dx, dy = x - x.mean(), y - y.mean()
    scale = float(np.sqrt(np.sum(dx * dx) * np.sum(dy * dy)))
    return float(np.sum(dx * dy)) / scale if scale > 0 else 0.0


def find_echo(leg: np.ndarray, other: np.ndarray, sample_rate: int) -> Echo | None:
    """The echo of ``other`` on ``leg`` (module docstring), or None."""
    frame = max(1, round(FRAME_S * sample_rate))
    mine, theirs = _levels(leg, frame), _levels(other, frame)
    n = min(mine.size, theirs.size)
    mine, theirs = mine[:n], theirs[:n]
    if n < MIN_FRAMES:
        return None
    loud = theirs > LOUD * _floor(theirs)
    best: tuple[float, int] = (0.0, 0)
    for lag in range(round(MAX_DELAY_S / FRAME_S) + 1):
        src, dst = loud[: n - lag], mine[lag:]
        quiet = src & (dst <= np.median(dst[src])) if src.any() else src
        if int(quiet.sum()) < MIN_FRAMES:
            continue
        r = _pearson(np.log(dst[quiet]), np.log(theirs[: n - lag][quiet]))
        if r > best[0]:
            best = (float(r), lag)
    correlation, lag = best
    if correlation < MIN_CORRELATION:
        return None
    src, dst = loud[: n - lag], mine[lag:]
    heard = src & (dst > 2 * _floor(mine)) & (dst < theirs[: n - lag])  # an echo is weaker
    if int(heard.sum()) < MIN_FRAMES // 4:
        return None  # under this leg's noise: nothing to take out
    gain = float(np.median(dst[heard] / theirs[: n - lag][heard]))
    return Echo(delay_s=lag * FRAME_S, gain=gain, correlation=round(correlation, 3))


def echo_frames(leg: np.ndarray, other: np.ndarray, echo: Echo, sample_rate: int) -> np.ndarray:
    """A boolean per 10-ms frame of ``leg``: its sound there is the echo (module docstring)."""
    frame = max(1, round(FRAME_S * sample_rate))
    mine, theirs = _levels(leg, frame), _levels(other, frame)
    lag = round(echo.delay_s / FRAME_S)
    shifted = np.zeros_like(mine)
    count = min(mine.size - lag, theirs.size)
    if count > 0:
        shifted[lag : lag + count] = theirs[:count]
    floor = _floor(theirs)
    mask = (shifted > LOUD * floor) & (mine <= MARGIN * echo.gain * shifted + _floor(mine))
    return mask | np.roll(mask, 1) | np.roll(mask, -1)


def suppress_echo(
    channels: tuple[np.ndarray, ...], sample_rate: int
) -> tuple[tuple[np.ndarray, ...], tuple[Echo | None, ...]]:
    """Both legs with the other's echo taken out (module docstring), and what was found on
    each. Anything but two channels comes back as it is."""
    if len(channels) != 2:
        return channels, tuple(None for _ in channels)
    frame = max(1, round(FRAME_S * sample_rate))
    found = (
        find_echo(channels[0], channels[1], sample_rate),
        find_echo(channels[1], channels[0], sample_rate),
    )
    out = []
    for index, (leg, echo) in enumerate(zip(channels, found, strict=True)):
        if echo is None:
            out.append(leg)
            continue
        mask = echo_frames(leg, channels[1 - index], echo, sample_rate)
        levels = _levels(leg, frame)
        gains = np.where(mask, np.minimum(1.0, _floor(levels) / levels), 1.0)
        per_sample = np.repeat(gains, frame)
        cleaned = np.array(leg, dtype=np.float32, copy=True)
        cleaned[: per_sample.size] *= per_sample.astype(np.float32)
        out.append(cleaned)
    return tuple(out), found


# --------------------------------------------------------------------------- echoed words

#: Echoed words: the same word on the other leg starting at most this much earlier (the
#: echo's delay, up to ``MAX_DELAY_S``, plus the slack of Whisper's word times) or
#: ``EARLY_S`` later; only runs of at least ``MIN_RUN`` such words in a row count (two
#: parties saying "yes" together is not echo).
WORD_SLACK_S = 0.3
EARLY_S = 0.1
MIN_RUN = 3
#: An echoed run is on average at least this much later than what it repeats.
MIN_LATE_S = 0.015


def _token(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def echoed_words(legs: dict[int, list[tuple[float, str]]]) -> dict[int, set[int]]:
    """The words of a two-leg call that repeat the other leg's words at the same time, a
    little later (the second line of defence against echo, after :func:`suppress_echo`):
    ``legs`` maps a channel to its words as (start, text) in time order; returns, per
    channel, the indexes of the words to drop: runs of :data:`MIN_RUN` or more words in a
    row that each match a word of the other leg (same letters and digits) that started
    from ``EARLY_S`` later to ``MAX_DELAY_S + WORD_SLACK_S`` earlier, and that are on the
    whole later than their matches (the echo comes after what it repeats; the original on
    the other leg also matches its echo, a little earlier, and stays)."""
    drop: dict[int, set[int]] = {channel: set() for channel in legs}
    if len(legs) != 2:
        return drop
    first, second = sorted(legs)
    for mine, theirs in ((first, second), (second, first)):
        others = [(start, _token(text)) for start, text in legs[theirs]]
        run: list[tuple[int, float]] = []
        for index, (start, text) in enumerate([*legs[mine], (float("inf"), "")]):
            token = _token(text)
            offsets = [
                start - when
                for when, tok in others
                if token and tok == token and -EARLY_S <= start - when <= MAX_DELAY_S + WORD_SLACK_S
            ]
            if offsets:
                run.append((index, min(offsets, key=abs)))
                continue
            if len(run) >= MIN_RUN and sum(o for _, o in run) / len(run) > MIN_LATE_S:
                drop[mine].update(i for i, _ in run)
            run = []
    return drop


def without_echoed_words(windows: list[StoredWindow]) -> list[StoredWindow]:
    """The windows without the words that repeat the other leg's a little later
    (``echo.echoed_words``); a segment left with no words goes."""
    legs: dict[int, list[tuple[float, str]]] = {}
    places: dict[int, list[tuple[int, int, int]]] = {}
    for w_index, window in enumerate(windows):
        for s_index, segment in enumerate(window.segments):
            for i, word in enumerate(segment.words):
                legs.setdefault(window.channel, []).append((word.start, word.word))
                places.setdefault(window.channel, []).append((w_index, s_index, i))
    order = {
        c: sorted(range(len(words)), key=[w[0] for w in words].__getitem__)
        for c, words in legs.items()
    }
    drop = echoed_words({c: [legs[c][i] for i in order[c]] for c in legs})
    gone = {places[c][order[c][i]] for c, indexes in drop.items() for i in indexes}
    if not gone:
        return windows
    _log.info("dropped %d words that echo the other leg", len(gone))
    out = []
    for w_index, window in enumerate(windows):
        segments = []
        for s_index, segment in enumerate(window.segments):
            words = [w for i, w in enumerate(segment.words) if (w_index, s_index, i) not in gone]
            if len(words) == len(segment.words):
                segments.append(segment)
            elif words and segment_text(words):
                segments.append(
                    replace(
                        segment,
                        words=tuple(words),
                        text=segment_text(words),
                        start=words[0].start,
                        end=words[-1].end,
                    )
                )
        out.append(replace(window, segments=tuple(segments)))
    return out
