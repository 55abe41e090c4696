"""Real-voice support calls with an exact reference, for accuracy tests and benchmarks.

Where :mod:`callscribe.demo.sound` builds short, robotic espeak-ng calls to test the
plumbing, this module writes calls that a small Whisper model can actually transcribe, with
a reference transcript and sample-exact turn times to score the result against (see
:mod:`callscribe.demo.scoring`):

* speech comes from Debian's ``flite`` voices (``slt``, ``rms``, ``awb``, ``kal16``) and, for
  some customers, ``espeak-ng``; every speaker keeps one voice for the whole call;
* the dialogue is a scripted support call (billing, outage, cancellation, refund, ...) built
  deterministically from a seed, with names, amounts, dates and order numbers filled in;
* the agent is on the left channel and the customer on the right (``layout="stereo"``), or
  both are mixed into one channel (``"mono"``), or that mix is written on both channels of a
  stereo file (``"dual_mono"``; as ``fmt="mp3"`` it is the usual lossy joint-stereo MP3);
* there are natural pauses, sometimes a long one, an optional hold with music on the agent
  leg, and low-level line noise on every channel;
* ``card_number=True`` makes the customer read a repetitive card number digit by digit and
  then, within a second, a phone number: the classic trigger of Whisper repetition loops.
* ``overtalk=True`` makes a few turns start 0.5-1.5 s before the other party's turn ends
  (both parties interrupting), for the overtalk and interruption figures of the call metrics.

Command line::

    python -m callscribe.demo.calls OUT_DIR [-n 4] [--minutes 3.5] [--seed 0] [--fmt wav]
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from . import sound as audio
from .overtalk import overtalk_items
from .scripts import (
    _CARD_TOPIC,
    AGENT,
    CUSTOMER,
    TOPICS,
    Topic,
    _head,
    _Hold,
    _hold_block,
    _Item,
    _Line,
    _Script,
    _tail,
)
from .sound import EXTENSIONS, Float32Array
from .voices import ESPEAK_VOICE, SAMPLE_RATE, _prefetch, hold_music, render_speech

__all__ = [
    "ESPEAK_VOICE",
    "FLITE_VOICES",
    "LAYOUTS",
    "SAMPLE_RATE",
    "TOPICS",
    "RealCall",
    "RefTurn",
    "hold_music",
    "load_corpus",
    "make_real_call",
    "make_real_corpus",
    "render_speech",
]

Layout = Literal["stereo", "mono", "dual_mono"]

#: Layouts understood by :func:`make_real_call`.
LAYOUTS: tuple[str, ...] = ("stereo", "mono", "dual_mono")
#: Rate of the timeline every call is built on (flite's native rate).
#: flite voices, in order of preference (all 16 kHz).
FLITE_VOICES: tuple[str, ...] = ("slt", "rms", "kal16", "awb")
#: The espeak-ng voice some customers get (spelled ``espeak:<espeak voice>``).

_ESPEAK_SHARE = 0.15  # share of calls whose customer speaks with espeak-ng
_SHORT_CALL = (40.0, 60.0)  # default length range (seconds) when no minutes are given


# --------------------------------------------------------------------------- records


@dataclass(frozen=True, kw_only=True)
class RefTurn:
    """One spoken turn of a :class:`RealCall` (seconds from the file start, trimmed clip)."""

    speaker: str  # "agent" | "customer"
    channel: int  # 0/1 in a stereo file; 0 for mono and dual-mono
    start: float
    end: float
    text: str
    tag: str | None = None  # "card" / "after_card" in a card-number call


@dataclass(frozen=True, kw_only=True)
class RealCall:
    """What :func:`make_real_call` wrote, with the exact reference."""

    path: Path
    name: str
    fmt: str
    layout: str  # "stereo" | "mono" | "dual_mono"
    channels: int  # of the written file
    duration: float
    turns: tuple[RefTurn, ...]  # in time order
    holds: tuple[tuple[float, float], ...]  # hold-music spans (agent leg)
    voices: dict[str, str]  # speaker -> voice

    def reference(self, speaker: str | None = None) -> str:
        """The spoken texts in time order, of one speaker or of everybody."""
        return " ".join(t.text for t in self.turns if speaker is None or t.speaker == speaker)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; :meth:`from_json` reads it back."""
        return {
            "path": str(self.path),
            "name": self.name,
            "fmt": self.fmt,
            "layout": self.layout,
            "channels": self.channels,
            "duration": self.duration,
            "turns": [_turn_json(t) for t in self.turns],
            "holds": [list(h) for h in self.holds],
            "voices": dict(self.voices),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RealCall:
        """The inverse of :meth:`to_json`."""
        return cls(
            path=Path(data["path"]),
            name=str(data["name"]),
            fmt=str(data["fmt"]),
            layout=str(data["layout"]),
            channels=int(data["channels"]),
            duration=float(data["duration"]),
            turns=tuple(RefTurn(**t) for t in data["turns"]),
            holds=tuple((float(a), float(b)) for a, b in data["holds"]),
            voices={str(k): str(v) for k, v in data["voices"].items()},
        )


def _turn_json(turn: RefTurn) -> dict[str, Any]:
    return {
        "speaker": turn.speaker,
        "channel": turn.channel,
        "start": turn.start,
        "end": turn.end,
        "text": turn.text,
        "tag": turn.tag,
    }


# --------------------------------------------------------------------------- speech


def _seconds(items: Sequence[_Item], voices: dict[str, str]) -> float:
    total = 0.0
    for item in items:
        if isinstance(item, _Hold):
            total += item.gap + item.seconds
        else:
            total += item.gap + len(render_speech(voices[item.speaker], item.text)) / SAMPLE_RATE
    return total


def _plan(
    rng: random.Random,
    target: float,
    voices: dict[str, str],
    hold: bool,
    card_number: bool,
    email: bool = False,
) -> list[_Item]:
    """The call's items: head, extras up to ``target`` seconds, the hold halfway, tail."""
    script = _Script(rng)
    topic = _CARD_TOPIC if card_number else rng.choice(TOPICS)
    head, tail = _head(script, topic, card_number, email), _tail(script, topic, target >= 90)
    hold_items = _hold_block(script, rng.uniform(*((15, 25) if target >= 90 else (5, 8))))
    fixed = head + tail + (hold_items if hold else [])
    candidates = _candidates(script, topic, target, fixed, voices)
    _prefetch((voices[i.speaker], i.text) for i in [*fixed, *candidates] if isinstance(i, _Line))
    used = _seconds(fixed, voices)
    extras: list[_Item] = []
    for first in range(0, len(candidates), 2):  # skip exchanges that no longer fit
        pair = candidates[first : first + 2]
        length = _seconds(pair, voices)
        if used + length <= target:
            extras += pair
            used += length
    middle = len(extras) // 4 * 2
    return head + extras[:middle] + (hold_items if hold else []) + extras[middle:] + tail


def _candidates(
    script: _Script, topic: Topic, target: float, fixed: list[_Item], voices: dict[str, str]
) -> list[_Item]:
    """Enough extra exchanges to surely pass ``target`` (estimated at 14 characters/s)."""
    estimate = sum(i.gap + (len(i.text) / 14 if isinstance(i, _Line) else i.seconds)
                   for i in fixed)  # fmt: skip
    out: list[_Item] = []
    for exchange in script.extras(topic):
        if estimate > 1.3 * target + 10:
            break
        out += exchange
        estimate += sum(i.gap + len(i.text) / 14 for i in exchange if isinstance(i, _Line))
    return out


# --------------------------------------------------------------------------- voices & mixing


def _voices(rng: random.Random) -> dict[str, str]:
    agent = rng.choice(FLITE_VOICES)
    others = [v for v in FLITE_VOICES if v != agent]
    customer = ESPEAK_VOICE if rng.random() < _ESPEAK_SHARE else rng.choice(others)
    return {AGENT: agent, CUSTOMER: customer}


@dataclass(frozen=True, kw_only=True)
class _Placed:
    speaker: str
    start: int  # sample index
    clip: Float32Array
    text: str | None  # None for hold music
    tag: str | None


def _place(
    items: Sequence[_Item], voices: dict[str, str], lead_in: float, seed: int
) -> list[_Placed]:
    cursor = round(lead_in * SAMPLE_RATE)
    placed: list[_Placed] = []
    for item in items:
        start = cursor + (round(item.gap * SAMPLE_RATE) if placed else 0)  # lead-in only
        if isinstance(item, _Hold):
            clip = hold_music(item.seconds, seed=seed)
            placed.append(_Placed(speaker=AGENT, start=start, clip=clip, text=None, tag=None))
        else:
            clip = render_speech(voices[item.speaker], item.text)
            placed.append(
                _Placed(speaker=item.speaker, start=start, clip=clip, text=item.text, tag=item.tag)
            )
        cursor = start + len(clip)
    return placed


def _line_noise(n: int, channels: int, rng: np.random.Generator) -> Float32Array:
    """Independent white noise per channel at -50..-45 dBFS RMS."""
    levels = 10 ** (rng.uniform(-50.0, -45.0, size=channels) / 20)
    return (rng.standard_normal((n, channels)) * levels).astype(np.float32)


def _mix(placed: Sequence[_Placed], n: int, layout: str) -> Float32Array:
    track = np.zeros((n, 2 if layout == "stereo" else 1), np.float32)
    for p in placed:
        channel = 1 if layout == "stereo" and p.speaker == CUSTOMER else 0
        track[p.start : p.start + len(p.clip), channel] += p.clip
    if layout == "dual_mono":
        track = np.repeat(track, 2, axis=1)
    return track


def _channel(speaker: str, layout: str) -> int:
    return 1 if layout == "stereo" and speaker == CUSTOMER else 0


def _reference(
    placed: Sequence[_Placed], layout: str
) -> tuple[tuple[RefTurn, ...], tuple[tuple[float, float], ...]]:
    turns: list[RefTurn] = []
    holds: list[tuple[float, float]] = []
    for p in placed:
        start, end = p.start / SAMPLE_RATE, (p.start + len(p.clip)) / SAMPLE_RATE
        if p.text is None:
            holds.append((start, end))
        else:
            turns.append(
                RefTurn(
                    speaker=p.speaker,
                    channel=_channel(p.speaker, layout),
                    start=start,
                    end=end,
                    text=p.text,
                    tag=p.tag,
                )
            )
    turns.sort(key=lambda t: t.start)
    return tuple(turns), tuple(holds)


# --------------------------------------------------------------------------- public API


def _check_args(layout: str, fmt: str, minutes: float | None) -> None:
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    audio._check_fmt(fmt)
    if minutes is not None and minutes <= 0:
        raise ValueError("minutes must be > 0")


def make_real_call(
    out: Path,
    *,
    seed: int,
    minutes: float | None = None,
    layout: str = "stereo",
    fmt: str = "wav_mulaw",
    hold: bool = True,
    noise: bool = True,
    card_number: bool = False,
    email: bool = False,
    overtalk: bool = False,
) -> RealCall:
    """Write one scripted support call to ``out`` and return its exact reference.

    The call lasts about ``minutes`` (more exchanges are added until the next one would not
    fit, and the end is padded with line noise up to the requested length), or 40-60 s when
    ``minutes`` is None. ``layout``: ``"stereo"`` (agent left, customer right), ``"mono"``
    (one mixed channel) or ``"dual_mono"`` (the mono mix on both channels of a stereo file;
    with ``fmt="mp3"`` a 64 kbit/s joint-stereo MP3). ``fmt`` is a key of
    :data:`callscribe.demo.sound.FORMATS`: ``wav_mulaw`` is 8 kHz G.711, the others keep
    the 16 kHz timeline. ``hold`` adds a hold (agent line, 15-25 s of music on the agent leg,
    or 5-8 s in a short call, then a thank-you line); ``noise`` adds -50..-45 dBFS line noise,
    independent per channel, so no channel is digitally silent (in ``dual_mono`` this noise is
    what makes the two channels differ: the speech is identical). ``card_number`` makes a
    card-payment call whose customer turns tagged ``"card"`` and ``"after_card"`` read
    4111 1111 1111 1111 digit by digit and then, < 1 s later, a phone number; with ``email``
    the agent then asks for an e-mail address, which the customer says in a turn tagged
    ``"email"`` ("pat dot lee at example dot com"). ``overtalk``: see
    :func:`callscribe.demo.overtalk.overtalk_items`. Same arguments, same bytes.
    """
    _check_args(layout, fmt, minutes)
    rng = random.Random(seed)
    voices = _voices(rng)
    target = minutes * 60 if minutes is not None else rng.uniform(*_SHORT_CALL)
    items = _plan(rng, target, voices, hold, card_number, email)
    if overtalk:
        items = overtalk_items(items, voices, seed)
    placed = _place(items, voices, rng.uniform(0.5, 1.2), seed)
    end = max(p.start + len(p.clip) for p in placed)
    n = max(end + round(rng.uniform(0.6, 1.5) * SAMPLE_RATE), round(target * SAMPLE_RATE))
    track = _mix(placed, n, layout)
    if noise:
        track += _line_noise(n, track.shape[1], np.random.default_rng(seed))
    out = Path(out)
    audio._write_track(out, track, SAMPLE_RATE, fmt)
    turns, holds = _reference(placed, layout)
    return RealCall(
        path=out,
        name=out.stem,
        fmt=fmt,
        layout=layout,
        channels=track.shape[1],
        duration=n / SAMPLE_RATE,
        turns=turns,
        holds=holds,
        voices=voices,
    )


def _ref_path(audio_path: Path) -> Path:
    return audio_path.with_name(audio_path.stem + ".ref.json")


def make_real_corpus(
    out_dir: Path,
    n: int = 4,
    *,
    minutes: float | None = None,
    seed: int = 0,
    fmt: str = "wav_mulaw",
    hold: bool = True,
    noise: bool = True,
    overtalk: bool = False,
) -> list[RealCall]:
    """Write ``n`` stereo calls ``call_000.*`` ... into ``out_dir``, each with its reference
    as ``call_000.ref.json`` (:meth:`RealCall.to_json`). Call ``i`` uses seed
    ``seed * 1000 + i``."""
    if n < 0:
        raise ValueError("n must be >= 0")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    calls: list[RealCall] = []
    for i in range(n):
        path = out_dir / f"call_{i:03d}{EXTENSIONS[fmt]}"
        call = make_real_call(path, seed=seed * 1000 + i, minutes=minutes, fmt=fmt, hold=hold,
                              noise=noise, overtalk=overtalk)  # fmt: skip
        _ref_path(path).write_text(json.dumps(call.to_json(), indent=1), encoding="utf-8")
        calls.append(call)
    return calls


def load_corpus(directory: Path) -> list[RealCall]:
    """Read every ``*.ref.json`` in ``directory`` (sorted by name). Each call's ``path`` is
    taken to be beside its reference file, so a corpus folder can be moved."""
    calls: list[RealCall] = []
    for ref in sorted(Path(directory).glob("*.ref.json")):
        call = RealCall.from_json(json.loads(ref.read_text(encoding="utf-8")))
        calls.append(replace(call, path=ref.parent / call.path.name))
    return calls


# --------------------------------------------------------------------------- command line
