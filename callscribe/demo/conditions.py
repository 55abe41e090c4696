"""A condition matrix for real-voice calls: the same scripted support calls as
:mod:`callscribe.demo.calls`, recorded the ways real lines record them, each drawn from a
seed, with the truth for every word, turn, talk span, hold, tone and overlap.

Conditions (:data:`CONDITIONS`; :func:`draw_conditions` draws one's parameters):

* ``plain``: both legs at a normal level, faint white line noise, one hold;
* ``echo``: each leg carries the other party's voice back, 20-40 dB down and 20-80 ms late
  (a hybrid's line echo), on both legs;
* ``quiet_customer``: the customer's leg 30-36 dBFS (RMS of speech), the agent's -14..-20;
* ``music_under_speech``: hold music of another kind (chords, plucked notes, noise-like or
  the melody) runs on for 1-3 s under the agent's first words back;
* ``noisy``: pink, brown or white noise at -38..-30 dBFS on both legs;
* ``overtalk``: 2-4 barge-ins (:func:`callscribe.demo.overtalk.overtalk_items`);
* ``tones``: ringback before the answer (on the customer leg: the far end's network rings)
  and DTMF keypad tones when the customer enters an account number;
* ``long_holds``: a longer call (``minutes``, 7 by default) with three holds and hiss on the
  agent leg.

Levels are RMS of a leg's speech in dBFS; speech louder than full scale clips, as a hot
line does. Everything is mixed on the 16-kHz timeline and written as ``fmt``.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import signals
from . import sound as audio
from .calls import RealCall, RefTurn, _candidates, _voices
from .overtalk import overtalk_items
from .scripts import (
    _CARD_TOPIC,
    AGENT,
    CUSTOMER,
    TOPICS,
    _head,
    _Hold,
    _hold_block,
    _Line,
    _Script,
    _tail,
)
from .sound import EXTENSIONS
from .voices import SAMPLE_RATE, _prefetch, render_speech

CONDITIONS: tuple[str, ...] = ("plain", "echo", "quiet_customer", "music_under_speech",
                               "noisy", "overtalk", "tones", "long_holds")  # fmt: skip
_KEYPAD_ASK = "Please enter your account number on the keypad now."
_KEYPAD_DONE = "Thank you, I have your account."
Span = tuple[float, float]


@dataclass(frozen=True, kw_only=True)
class Conditions:
    """How one call is recorded (module docstring)."""

    name: str
    minutes: float | None = None
    levels_db: tuple[float, float] = (-20.0, -20.0)
    noise: tuple[tuple[str, float], tuple[str, float]] = (("white", -48.0), ("white", -48.0))
    echo: tuple[float, float] | None = None  # (gain dB, delay ms), both legs
    overtalk: bool = False
    music: str = "melody"
    music_db: float = -6.0  # music peak relative to the agent's speech peak
    music_under_s: float = 0.0
    holds: int = 1
    rings: int = 0
    dtmf: bool = False
    fmt: str = "wav_mulaw"


@dataclass(frozen=True, kw_only=True)
class Tone:
    """A tone burst's truth: ``ringback`` or ``dtmf``, on ``channel``."""

    kind: str
    channel: int
    start: float
    end: float


@dataclass(frozen=True, kw_only=True)
class ConditionCall:
    """A written call: its :class:`RealCall` truth (turns, holds = music spans) plus the
    conditions, the tones and the ringing before the answer."""

    call: RealCall
    conditions: Conditions
    tones: tuple[Tone, ...]
    ringing: Span | None

    def to_json(self) -> dict[str, Any]:
        return {
            "call": self.call.to_json(),
            "conditions": asdict(self.conditions),
            "tones": [asdict(t) for t in self.tones],
            "ringing": list(self.ringing) if self.ringing else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ConditionCall:
        c = dict(data["conditions"])
        c["levels_db"] = tuple(c["levels_db"])
        c["noise"] = tuple(tuple(n) for n in c["noise"])
        c["echo"] = tuple(c["echo"]) if c["echo"] else None
        ring = data.get("ringing")
        return cls(
            call=RealCall.from_json(data["call"]),
            conditions=Conditions(**c),
            tones=tuple(Tone(**t) for t in data["tones"]),
            ringing=(float(ring[0]), float(ring[1])) if ring else None,
        )


def draw_conditions(
    name: str, seed: int, *, minutes: float | None = None, fmt: str = "wav_mulaw"
) -> Conditions:
    """The parameters of condition ``name`` for ``seed`` (module docstring)."""
    if name not in CONDITIONS:
        raise ValueError(f"unknown condition {name!r}; choose one of {', '.join(CONDITIONS)}")
    rng = random.Random(f"conditions:{name}:{seed}")
    u = rng.uniform
    base = Conditions(
        name=name,
        minutes=minutes,
        fmt=fmt,
        levels_db=(round(u(-22, -16), 1), round(u(-22, -16), 1)),
        noise=(("white", round(u(-52, -45), 1)), ("white", round(u(-52, -45), 1))),
    )
    if name == "echo":
        return replace(base, echo=(round(u(-40, -20), 1), round(u(20, 80), 1)))
    if name == "quiet_customer":
        return replace(base, levels_db=(round(u(-20, -14), 1), round(u(-36, -30), 1)))
    if name == "music_under_speech":
        return replace(
            base,
            music=rng.choice(signals.MUSIC_KINDS),
            music_db=round(u(-8, -2), 1),
            music_under_s=round(u(1.0, 3.0), 2),
        )
    if name == "noisy":
        return replace(
            base,
            noise=tuple(  # type: ignore[arg-type]
                (rng.choice(signals.NOISE_COLOURS), round(u(-38, -30), 1)) for _ in range(2)
            ),
        )
    if name == "overtalk":
        return replace(base, overtalk=True)
    if name == "tones":
        return replace(base, rings=rng.randint(1, 3), dtmf=True)
    if name == "long_holds":
        return replace(
            base,
            minutes=minutes or 7.0,
            holds=3,
            music=rng.choice(signals.MUSIC_KINDS),
            noise=(("white", round(u(-38, -33), 1)), base.noise[1]),
        )
    return base


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class _Keys:
    """DTMF keys pressed on the customer leg, ``gap`` s after the line before."""

    keys: str
    gap: float


def _plan(rng: random.Random, cond: Conditions, voices: dict[str, str]) -> list[Any]:
    """The call's items: head, extras to the target length, ``holds`` holds spread evenly,
    the keypad exchange (``dtmf``), tail."""
    script = _Script(rng)
    topic = rng.choice(TOPICS) if rng.random() > 0.15 else _CARD_TOPIC
    target = cond.minutes * 60 if cond.minutes else rng.uniform(50.0, 70.0)
    long = target >= 90
    hold_s = (15, 25) if long else (5, 8)
    head, tail = _head(script, topic, False, False), _tail(script, topic, long)
    holds = [_hold_block(script, rng.uniform(*hold_s)) for _ in range(cond.holds)]
    fixed = [*head, *tail, *(i for h in holds for i in h)]
    candidates = _candidates(script, topic, target, fixed, voices)
    _prefetch((voices[i.speaker], i.text) for i in [*fixed, *candidates] if isinstance(i, _Line))
    used, extras = _seconds(fixed, voices), []
    for first in range(0, len(candidates), 2):
        if used >= target:
            break
        extras += candidates[first : first + 2]
        used += _seconds(candidates[first : first + 2], voices)
    pairs = [extras[i : i + 2] for i in range(0, len(extras), 2)]
    body: list[Any] = []
    cuts = {round((k + 1) * len(pairs) / (cond.holds + 1)) for k in range(cond.holds)}
    for index, pair in enumerate(pairs):
        if index in cuts and holds:
            body += holds.pop(0)
        body += pair
    for rest in holds:
        body += rest
    if cond.dtmf:
        keys = "".join(rng.choice("0123456789") for _ in range(rng.randint(5, 8))) + "#"
        body = [
            script.line(AGENT, _KEYPAD_ASK),
            _Keys(keys, round(rng.uniform(0.6, 1.2), 3)),
            replace(script.line(AGENT, _KEYPAD_DONE), gap=round(rng.uniform(0.5, 1.0), 3)),
            *body,
        ]
    return head + body + tail


def _seconds(items: list[Any], voices: dict[str, str]) -> float:
    return sum(i.gap + (i.seconds if isinstance(i, _Hold) else
                        len(render_speech(voices[i.speaker], i.text)) / SAMPLE_RATE)
               for i in items if not isinstance(i, _Keys))  # fmt: skip


# --------------------------------------------------------------------------- mixing


def _place(
    items: list[Any], voices: dict[str, str], cond: Conditions, seed: int, start_s: float
) -> tuple[np.ndarray, list[RefTurn], list[Span], list[Tone]]:
    """Mix the items onto a two-leg track (speech only, scaled to the legs' levels; no
    noise, no echo yet) and return it with the truth."""
    clips = {
        s: [
            render_speech(voices[i.speaker], i.text)
            for i in items
            if isinstance(i, _Line) and i.speaker == s
        ]
        for s in (AGENT, CUSTOMER)
    }
    gains = [
        10 ** (db / 20) / max(signals.speech_rms(clips[s]), 1e-9)
        for db, s in zip(cond.levels_db, (AGENT, CUSTOMER), strict=True)
    ]
    events: list[tuple[int, int, np.ndarray]] = []  # (channel, start sample, clip)
    turns: list[RefTurn] = []
    holds: list[Span] = []
    tones: list[Tone] = []
    cursor = round(start_s * SAMPLE_RATE)
    hold_at: int | None = None
    for n, item in enumerate(items):
        start = cursor + round(item.gap * SAMPLE_RATE) if n else cursor
        if isinstance(item, _Hold):
            hold_at = len(events)
            clip = signals.music(
                cond.music,
                item.seconds,
                seed=seed + n,
                rate=SAMPLE_RATE,
                peak=min(0.95, 0.6 * gains[0] * 10 ** (cond.music_db / 20)),
            )
            events.append((0, start, clip))
        elif isinstance(item, _Keys):
            clip = signals.dtmf(item.keys, rate=SAMPLE_RATE, level_db=cond.levels_db[1] + 4)
            events.append((1, start, clip))
            tones.append(
                Tone(
                    kind="dtmf",
                    channel=1,
                    start=start / SAMPLE_RATE,
                    end=(start + clip.size) / SAMPLE_RATE,
                )
            )
        else:
            channel = 0 if item.speaker == AGENT else 1
            clip = render_speech(voices[item.speaker], item.text) * np.float32(gains[channel])
            events.append((channel, start, clip))
            turns.append(
                RefTurn(
                    speaker=item.speaker,
                    channel=channel,
                    start=start / SAMPLE_RATE,
                    end=(start + clip.size) / SAMPLE_RATE,
                    text=item.text,
                )
            )
            if hold_at is not None:  # the first words back: music may run on under them
                _, m_start, music = events[hold_at]
                under = round(cond.music_under_s * SAMPLE_RATE)
                if under:
                    longer = signals.music(
                        cond.music,
                        (start + under - m_start) / SAMPLE_RATE,
                        seed=seed + n,
                        rate=SAMPLE_RATE,
                        peak=float(np.abs(music).max()),
                    )
                    events[hold_at] = (0, m_start, longer)
                holds.append(
                    (m_start / SAMPLE_RATE, (m_start + events[hold_at][2].size) / SAMPLE_RATE)
                )
                hold_at = None
        cursor = start + clip.size
    track = np.zeros((cursor + 2 * SAMPLE_RATE, 2), np.float32)
    for channel, start, clip in events:
        end = min(track.shape[0], start + clip.size)
        track[start:end, channel] += clip[: end - start]
    return track, turns, holds, tones


def make_condition_call(out: Path, conditions: Conditions, *, seed: int) -> ConditionCall:
    """Write one stereo call (agent left, customer right) recorded under ``conditions`` and
    return its truth. Same arguments, same bytes."""
    audio._check_fmt(conditions.fmt)
    rng = random.Random(f"call:{seed}")
    voices = _voices(rng)
    items = _plan(rng, conditions, voices)
    if conditions.overtalk:
        items = overtalk_items(items, voices, seed)
    ring_clip, ring_spans = (
        signals.ringback(
            conditions.rings,
            rate=SAMPLE_RATE,
            level_db=round(rng.uniform(-26, -18), 1),
            style=rng.choice(("us", "uk")),
        )
        if conditions.rings
        else (np.zeros(0, np.float32), [])
    )
    ring_at = rng.uniform(0.3, 0.8)
    answer = ring_at + ring_clip.size / SAMPLE_RATE if conditions.rings else 0.0
    track, turns, holds, tones = _place(
        items, voices, conditions, seed, answer + rng.uniform(0.5, 1.2)
    )
    if conditions.rings:
        first = round(ring_at * SAMPLE_RATE)
        track[first : first + ring_clip.size, 1] += ring_clip
        tones = [
            Tone(kind="ringback", channel=1, start=round(ring_at + a, 4), end=round(ring_at + b, 4))
            for a, b in ring_spans
        ] + tones
    clean = track.copy()
    if conditions.echo:
        gain, delay = conditions.echo
        for leg in (0, 1):
            track[:, leg] += signals.echo_of(
                clean[:, 1 - leg], gain_db=gain, delay_ms=delay, rate=SAMPLE_RATE
            )
    nrng = np.random.default_rng(seed)
    for leg, (colour, level) in enumerate(conditions.noise):
        track[:, leg] += signals.noise(colour, track.shape[0], level, nrng)
    np.clip(track, -1.0, 1.0, out=track)
    out = Path(out)
    audio._write_track(out, track, SAMPLE_RATE, conditions.fmt)
    turns.sort(key=lambda t: t.start)
    call = RealCall(
        path=out,
        name=out.stem,
        fmt=conditions.fmt,
        layout="stereo",
        channels=2,
        duration=track.shape[0] / SAMPLE_RATE,
        turns=tuple(turns),
        holds=tuple(holds),
        voices=voices,
    )
    ringing = (
        (tones[0].start, max(t.end for t in tones if t.kind == "ringback"))
        if conditions.rings
        else None
    )
    return ConditionCall(call=call, conditions=conditions, tones=tuple(tones), ringing=ringing)


def make_condition_corpus(
    out_dir: Path,
    names: tuple[str, ...] | list[str],
    seeds: list[int],
    *,
    minutes: float | None = None,
    fmt: str = "wav_mulaw",
) -> list[ConditionCall]:
    """One call per (condition, seed): ``<condition>_s<seed>.wav`` with its truth beside it
    as ``….ref.json`` (:meth:`ConditionCall.to_json`)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    calls = []
    for name in names:
        for seed in seeds:
            cond = draw_conditions(name, seed, minutes=minutes, fmt=fmt)
            path = out_dir / f"{name}_s{seed}{EXTENSIONS[fmt]}"
            call = make_condition_call(path, cond, seed=seed * 7919 + CONDITIONS.index(name))
            path.with_name(path.stem + ".ref.json").write_text(
                json.dumps(call.to_json()), encoding="utf-8"
            )
            calls.append(call)
    return calls
