"""A recorded meeting for the diarization tests and benchmark: several flite voices taking
turns on one channel (a conference-room recorder), with exact turn times; and the hard
two-voice call (:func:`make_two_voice_call`).

Unlike a support call there is no agent: the speakers are ``voice_1`` … in the order they
are introduced. One voice per speaker (``slt``, ``rms``, ``awb``, ``kal16``; three of them
male), short pauses between turns, sometimes a short interjection, line noise.
"""

from __future__ import annotations

import random
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import sound as audio
from .calls import FLITE_VOICES, RefTurn
from .voices import SAMPLE_RATE, render_speech

LINES = (
    "Thanks everyone for joining the weekly planning meeting today.",
    "I finished the billing migration and the monthly reports look correct now.",
    "The outage last Tuesday came from a configuration change that nobody reviewed.",
    "We should add an alert on the queue length before that happens again.",
    "Customers in the west region saw slow responses for about an hour.",
    "Let us go through the open tickets and decide who takes each one.",
    "I can take the refund requests and the two escalations from Friday.",
    "Please send me the numbers before Thursday so that I can prepare the slides.",
    "The new hires start on Monday, and they will shadow the senior agents first.",
    "Our average handling time went down by almost a minute this month.",
    "I would like to try the new greeting script with one team next week.",
    "Can we move the training session to the afternoon, after the busy hours?",
)
SHORT = ("Right.", "Yes, I agree.", "Okay, sounds good.", "Sure, I can do that.")


@dataclass(frozen=True, kw_only=True)
class Meeting:
    path: Path
    duration: float
    turns: tuple[RefTurn, ...]
    voices: dict[str, str]
    """Speaker → flite voice."""


def make_meeting(out: Path, *, seed: int, speakers: int = 4, turns: int = 24) -> Meeting:
    """Write a one-channel meeting of ``speakers`` voices (at most 4) and ``turns`` turns to
    ``out`` (16-kHz WAV) and return its reference. Same arguments, same bytes."""
    if not 1 <= speakers <= len(FLITE_VOICES):
        raise ValueError(f"speakers must be 1 to {len(FLITE_VOICES)}")
    rng = random.Random(seed)
    chosen = rng.sample(list(FLITE_VOICES), speakers)
    voices = {f"voice_{i + 1}": v for i, v in enumerate(chosen)}
    names = list(voices)
    order = names + [rng.choice(names) for _ in range(max(0, turns - speakers))]
    for i in range(speakers, len(order)):  # nobody follows themself
        if order[i] == order[i - 1]:
            order[i] = rng.choice([n for n in names if n != order[i - 1]] or names)

    def speak(speaker: str) -> tuple[str, np.ndarray]:
        text = rng.choice(SHORT) if rng.random() < 0.15 else rng.choice(LINES)
        return text, render_speech(voices[speaker], text)

    track, reference = _lay_out(order, speak, rng, rng.uniform(0.4, 1.0), (0.3, 1.2))
    noise = np.random.default_rng(seed).standard_normal(track.shape) * 10 ** (-48 / 20)
    out = Path(out)
    audio._write_track(out, (track + noise).astype(np.float32), SAMPLE_RATE, "wav")
    return Meeting(
        path=out, duration=len(track) / SAMPLE_RATE, turns=tuple(reference), voices=voices
    )


SHORT_REPLIES = ("Yes.", "Okay.", "Right.", "No.", "Sure.", "Thanks.", "Got it.", "Fine.")


def make_two_voice_call(
    out: Path,
    *,
    seed: int,
    voices: tuple[str, str] = ("rms", "kal16"),
    turns: int = 30,
    short: int = 10,
) -> Meeting:
    """The hard case for telling two parties apart: two male voices on one 8-kHz μ-law
    channel, ``turns`` alternating turns of which ``short`` are one- or two-word replies
    (under 1.2 s), each turn's pitch (±80 cents), tempo (±8 %) and level (±4 dB) jittered,
    line noise. The first to speak is the ``agent``."""
    rng = random.Random(seed)
    names = {"agent": voices[0], "customer": voices[1]}
    shorts = set(rng.sample(range(1, turns), min(short, turns - 1)))
    order = ["agent" if i % 2 == 0 else "customer" for i in range(turns)]
    said = iter(range(turns))

    def speak(speaker: str) -> tuple[str, np.ndarray]:
        text = rng.choice(SHORT_REPLIES) if next(said) in shorts else rng.choice(LINES)
        return text, _jitter(render_speech(names[speaker], text), rng)

    track, reference = _lay_out(order, speak, rng, 0.6, (0.25, 0.9))
    noise = np.random.default_rng(seed).standard_normal(track.shape) * 10 ** (-42 / 20)
    out = Path(out)
    audio._write_track(out, (track + noise).astype(np.float32), SAMPLE_RATE, "wav_mulaw")
    return Meeting(
        path=out, duration=len(track) / SAMPLE_RATE, turns=tuple(reference), voices=names
    )


def _lay_out(
    order: list[str],
    speak: Callable[[str], tuple[str, np.ndarray]],
    rng: random.Random,
    lead_s: float,
    gap_s: tuple[float, float],
) -> tuple[np.ndarray, list[RefTurn]]:
    """One channel: ``lead_s`` of silence, then each speaker's turn in ``order`` (``speak``
    gives its text and audio) and a pause of ``gap_s`` seconds (drawn), with the turns'
    exact times."""
    pieces = [np.zeros(round(lead_s * SAMPLE_RATE), np.float32)]
    cursor = len(pieces[0])
    reference = []
    for speaker in order:
        text, clip = speak(speaker)
        reference.append(
            RefTurn(
                speaker=speaker,
                channel=0,
                start=cursor / SAMPLE_RATE,
                end=(cursor + len(clip)) / SAMPLE_RATE,
                text=text,
            )
        )
        gap = np.zeros(round(rng.uniform(*gap_s) * SAMPLE_RATE), np.float32)
        pieces += [clip, gap]
        cursor += len(clip) + len(gap)
    return np.concatenate(pieces)[:, None], reference


def _jitter(clip: np.ndarray, rng: random.Random) -> np.ndarray:
    """``clip`` with its pitch, tempo and level moved a little (sox)."""
    cents, tempo = rng.uniform(-80, 80), rng.uniform(0.92, 1.08)
    raw = ["-t", "raw", "-r", str(SAMPLE_RATE), "-e", "floating-point", "-b", "32", "-c", "1"]
    done = subprocess.run(
        ["sox", *raw, "-", *raw, "-", "pitch", f"{cents:.0f}", "tempo", f"{tempo:.3f}"],
        input=clip.astype(np.float32).tobytes(),
        capture_output=True,
        check=True,
    )
    moved = np.frombuffer(done.stdout, np.float32)
    return (moved * 10 ** (rng.uniform(-4, 4) / 20)).astype(np.float32)
