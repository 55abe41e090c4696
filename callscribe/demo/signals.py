"""The non-speech sounds of a phone line, for the condition matrix
(:mod:`callscribe.demo.conditions`): hold music of several kinds, call-progress and keypad
tones, coloured line noise, line echo and levels. Every function is deterministic in its
seed and returns mono float32 at the given rate."""

from __future__ import annotations

import random

import numpy as np

from .sound import Float32Array

MUSIC_KINDS: tuple[str, ...] = ("melody", "chords", "plucked", "noise")
NOISE_COLOURS: tuple[str, ...] = ("white", "pink", "brown")

#: DTMF: each key is one low and one high tone (Hz).
_DTMF_LOW = {"1": 697, "2": 697, "3": 697, "4": 770, "5": 770, "6": 770, "7": 852, "8": 852,
             "9": 852, "0": 941, "*": 941, "#": 941}  # fmt: skip
_DTMF_HIGH = {"1": 1209, "2": 1336, "3": 1477, "4": 1209, "5": 1336, "6": 1477, "7": 1209,
              "8": 1336, "9": 1477, "0": 1336, "*": 1209, "#": 1477}  # fmt: skip
#: Chord roots (Hz) and a major triad's ratios.
_ROOTS = (130.81, 146.83, 164.81, 174.61, 196.0, 220.0)
_TRIAD = (1.0, 1.26, 1.5, 2.0)
_PLUCK_SCALE = (196.0, 220.0, 246.94, 293.66, 329.63, 392.0, 440.0)


def _t(seconds: float, rate: int) -> np.ndarray:
    return np.arange(round(seconds * rate), dtype=np.float64) / rate


def _fade(clip: np.ndarray, rate: int, fade_s: float = 0.05) -> np.ndarray:
    n = clip.size
    ramp = np.clip(np.minimum(np.arange(n), n - 1 - np.arange(n)) / max(1, fade_s * rate), 0, 1)
    return clip * ramp


def _peak(clip: np.ndarray, peak: float) -> Float32Array:
    return (clip * (peak / max(float(np.abs(clip).max()), 1e-9))).astype(np.float32)


def music(kind: str, seconds: float, *, seed: int, rate: int, peak: float = 0.25) -> Float32Array:
    """Hold music of one kind: ``melody`` (the demo's pentatonic tune), ``chords``
    (sustained major triads with harmonics, a new chord every 1.5-3 s), ``plucked``
    (Karplus-Strong plucked strings, a note every 0.2-0.5 s) or ``noise`` (band-passed
    noise swelling in a beat, like a shaker or a radio between stations)."""
    if seconds <= 0:
        raise ValueError("seconds must be > 0")
    rng = random.Random(f"music:{kind}:{seed}")
    if kind == "melody":
        from .voices import hold_music

        return hold_music(seconds, seed=seed, sample_rate=rate) * np.float32(peak / 0.25)
    n = round(seconds * rate)
    out = np.zeros(n + rate * 4, np.float64)
    pos = 0
    while pos < n:
        if kind == "chords":
            length = rng.uniform(1.5, 3.0)
            t = _t(length, rate)
            root = rng.choice(_ROOTS)
            note = sum(
                np.sin(2 * np.pi * root * r * h * t) / (h * h) for r in _TRIAD for h in (1, 2, 3)
            )
            note = _fade(note * (0.6 + 0.4 * np.exp(-t / length)), rate, 0.15)
        elif kind == "plucked":
            length = rng.uniform(0.2, 0.5)
            note = _pluck(rng.choice(_PLUCK_SCALE), 1.2, rate, rng)
        elif kind == "noise":
            length = rng.choice((0.25, 0.5))
            nrng = np.random.default_rng(rng.randrange(1 << 30))
            burst = np.convolve(
                nrng.standard_normal(round(length * rate)), np.ones(6) / 6, mode="same"
            )
            note = burst * np.exp(-_t(length, rate) / (length / 3))
        else:
            raise ValueError(f"unknown music kind {kind!r}; choose one of {MUSIC_KINDS}")
        out[pos : pos + note.size] += note[: out.size - pos]
        pos += round(length * rate)
    return _peak(_fade(out[:n], rate), peak)


def _pluck(freq: float, seconds: float, rate: int, rng: random.Random) -> np.ndarray:
    period = max(2, round(rate / freq))
    nrng = np.random.default_rng(rng.randrange(1 << 30))
    buf = nrng.uniform(-1, 1, period)
    n = round(seconds * rate)
    out = np.empty(n)
    for start in range(0, n, period):
        take = min(period, n - start)
        out[start : start + take] = buf[:take]
        buf = 0.996 * 0.5 * (buf + np.roll(buf, -1))
    return out


def ringback(
    rings: int, *, rate: int, level_db: float = -20.0, style: str = "us"
) -> tuple[Float32Array, list[tuple[float, float]]]:
    """Ringing heard before an answer: ``us`` (440 + 480 Hz, 2 s on, 4 s off) or ``uk``
    (400 + 450 Hz, 0.4 on, 0.2 off, 0.4 on, 2 s off), ``rings`` cycles. Returns the clip
    (ending with its last tone) and the tone spans (seconds from the clip's start)."""
    freqs, pattern = (
        ((440, 480), ((2.0, 4.0),)) if style == "us" else ((400, 450), ((0.4, 0.2), (0.4, 2.0)))
    )
    pieces: list[np.ndarray] = []
    spans: list[tuple[float, float]] = []
    cursor = 0.0
    for ring in range(rings):
        for index, (on, off) in enumerate(pattern):
            t = _t(on, rate)
            tone = np.sin(2 * np.pi * freqs[0] * t) + np.sin(2 * np.pi * freqs[1] * t)
            pieces.append(_fade(tone, rate, 0.01))
            spans.append((round(cursor, 4), round(cursor + on, 4)))
            cursor += on
            last = ring == rings - 1 and index == len(pattern) - 1
            if not last:
                pieces.append(np.zeros(round(off * rate)))
                cursor += off
    clip = np.concatenate(pieces)
    return _rms(clip, level_db), spans


def dtmf(
    keys: str, *, rate: int, level_db: float = -16.0, on_s: float = 0.12, off_s: float = 0.1
) -> Float32Array:
    """Keypad tones for ``keys`` (0-9, *, #), each ``on_s`` long with ``off_s`` between."""
    pieces: list[np.ndarray] = []
    for key in keys:
        t = _t(on_s, rate)
        pieces.append(
            _fade(
                np.sin(2 * np.pi * _DTMF_LOW[key] * t) + np.sin(2 * np.pi * _DTMF_HIGH[key] * t),
                rate,
                0.005,
            )
        )
        pieces.append(np.zeros(round(off_s * rate)))
    return _rms(np.concatenate(pieces[:-1]), level_db)


def _rms(clip: np.ndarray, level_db: float) -> Float32Array:
    on = clip[np.abs(clip) > 1e-6]
    rms = float(np.sqrt(np.mean(on * on))) if on.size else 1.0
    return (clip * (10 ** (level_db / 20) / rms)).astype(np.float32)


def noise(
    colour: str, n: int, level_db: float, rng: np.random.Generator, rate: int = 16000
) -> Float32Array:
    """``n`` samples of white, pink (1/f) or brown (1/f²) noise at ``level_db`` dBFS RMS;
    pink and brown within the telephone band (100 Hz up), as a line carries them."""
    if colour not in NOISE_COLOURS:
        raise ValueError(f"unknown noise colour {colour!r}; choose one of {NOISE_COLOURS}")
    white = rng.standard_normal(n)
    if colour == "white" or n < 4:
        shaped = white
    else:
        spectrum = np.fft.rfft(white)
        f = np.arange(spectrum.size, dtype=np.float64)
        f[0] = 1.0
        spectrum /= np.sqrt(f) if colour == "pink" else f
        spectrum[: round(100 * n / rate)] = 0.0
        shaped = np.fft.irfft(spectrum, n)
    rms = float(np.sqrt(np.mean(shaped * shaped))) or 1.0
    return (shaped * (10 ** (level_db / 20) / rms)).astype(np.float32)


def echo_of(other: np.ndarray, *, gain_db: float, delay_ms: float, rate: int) -> Float32Array:
    """Line echo: ``other`` delayed by ``delay_ms``, attenuated by ``gain_db`` (negative)
    and dulled (a telephone hybrid passes less of the highs), as heard on this leg."""
    delay = round(delay_ms * rate / 1000)
    dull = np.convolve(other, np.array([0.25, 0.5, 0.25]), mode="same")
    out = np.zeros_like(other, dtype=np.float64)
    out[delay:] = dull[: other.size - delay] * 10 ** (gain_db / 20)
    return out.astype(np.float32)


def speech_rms(clips: list[np.ndarray]) -> float:
    """RMS of speech clips taken together (their inner pauses included)."""
    total = sum(float(np.sum(np.asarray(c, np.float64) ** 2)) for c in clips)
    count = sum(c.size for c in clips)
    return float(np.sqrt(total / count)) if count else 0.0
