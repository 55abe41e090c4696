"""The demo's voices: flite (slt, rms, kal16, awb) and espeak-ng speaking a line, trimmed
and peak-normalised at 16 kHz (cached, rendered in parallel), and hold music."""

from __future__ import annotations

import functools
import os
import random
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from . import sound as audio
from .sound import AudioToolError, Float32Array

SAMPLE_RATE = 16000
ESPEAK_VOICE = "espeak:en-us"
_PEAK = 0.6  # speech clips are peak-normalised to this fraction of full scale
_TRIM = 0.02  # |sample| below this fraction of the clip's peak counts as silence at the ends


def _trim_and_normalise(pcm: Float32Array) -> Float32Array:
    peak = float(np.abs(pcm).max()) if pcm.size else 0.0
    loud = np.flatnonzero(np.abs(pcm) > _TRIM * max(peak, 1e-9))
    if loud.size == 0 or peak == 0.0:
        raise AudioToolError("the synthesizer produced no audible speech")
    clip = pcm[loud[0] : loud[-1] + 1]
    return (clip * (_PEAK / peak)).astype(np.float32)


def _flite(voice: str, text: str) -> Float32Array:
    with tempfile.TemporaryDirectory(prefix="callscribe-flite-") as tmp:
        out = Path(tmp) / "clip.wav"
        audio._run(["flite", "-voice", voice, "-t", text, "-o", str(out)])
        return audio._load_mono(out, SAMPLE_RATE)


@functools.lru_cache(maxsize=4096)
def _clip_bytes(voice: str, text: str) -> bytes:
    if voice.startswith("espeak:"):
        raw = audio._speech(text, voice.split(":", 1)[1], 165, SAMPLE_RATE)
    else:
        raw = _flite(voice, text)
    return audio._to_int16(_trim_and_normalise(raw)).tobytes()


def render_speech(voice: str, text: str) -> Float32Array:
    """``text`` spoken by ``voice`` (a flite voice or ``espeak:<voice>``) as mono float32 at
    :data:`SAMPLE_RATE`, leading/trailing silence trimmed, peak-normalised; cached."""
    if not text.strip():
        raise ValueError("text must not be empty")
    pcm = np.frombuffer(_clip_bytes(voice, text), dtype="<i2")
    return pcm.astype(np.float32) / 32768.0


def _prefetch(jobs: Iterable[tuple[str, str]]) -> None:
    """Render many (voice, text) clips in parallel threads (flite runs as a subprocess)."""
    todo = sorted(set(jobs))
    workers = max(1, min(8, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda job: _clip_bytes(*job), todo))


# --------------------------------------------------------------------------- hold music

_SCALE = (261.63, 293.66, 329.63, 392.0, 440.0, 523.25)  # C major pentatonic, C4..C5
_HARMONICS = (1.0, 0.45, 0.2, 0.1)


def _note(freq: float, seconds: float, sample_rate: int) -> Float32Array:
    t = np.arange(round(seconds * sample_rate), dtype=np.float64) / sample_rate
    wave = sum(a * np.sin(2 * np.pi * freq * (h + 1) * t) for h, a in enumerate(_HARMONICS))
    envelope = np.minimum(t / 0.015, 1.0) * np.exp(-2.5 * t / seconds)
    envelope *= np.clip((seconds - t) / 0.02, 0.0, 1.0)
    return (wave * envelope).astype(np.float32)


def hold_music(seconds: float, *, seed: int = 0, sample_rate: int = SAMPLE_RATE) -> Float32Array:
    """A little looping melody (pentatonic notes with harmonics over a soft bass), peak 0.25."""
    if seconds <= 0:
        raise ValueError("seconds must be > 0")
    rng = random.Random(seed)
    phrase = [(rng.choice(_SCALE), rng.choice((0.25, 0.5, 0.5, 0.75))) for _ in range(8)]
    n = round(seconds * sample_rate)
    out = np.zeros(n + sample_rate, np.float32)
    pos, i = 0, 0
    while pos < n:
        freq, length = phrase[i % len(phrase)]
        note = _note(freq, length, sample_rate)
        if i % 4 == 0:  # a bass note under every fourth melody note
            bass = _note(freq / 4, min(4 * length, 1.5), sample_rate)
            end = min(len(out), pos + len(bass))
            out[pos:end] += 0.6 * bass[: end - pos]
        out[pos : pos + len(note)] += note[: len(out) - pos]
        pos += len(note)
        i += 1
    out = out[:n]
    fade = np.clip(np.minimum(np.arange(n), n - np.arange(n)) / (0.05 * sample_rate), 0, 1)
    out *= fade.astype(np.float32)
    return (out * (0.25 / max(float(np.abs(out).max()), 1e-9))).astype(np.float32)


# --------------------------------------------------------------------------- scripts
