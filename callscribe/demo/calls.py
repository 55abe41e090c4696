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

Command line::

    python -m callscribe.demo.calls OUT_DIR [-n 4] [--minutes 3.5] [--seed 0] [--fmt wav]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from . import sound as audio
from .sound import EXTENSIONS, AudioToolError, Float32Array

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
SAMPLE_RATE = 16000
#: flite voices, in order of preference (all 16 kHz).
FLITE_VOICES: tuple[str, ...] = ("slt", "rms", "kal16", "awb")
#: The espeak-ng voice some customers get (spelled ``espeak:<espeak voice>``).
ESPEAK_VOICE = "espeak:en-us"
AGENT, CUSTOMER = "agent", "customer"

_PEAK = 0.6  # speech clips are peak-normalised to this fraction of full scale
_TRIM = 0.02  # |sample| below this fraction of the clip's peak counts as silence at the ends
_ESPEAK_SHARE = 0.15  # share of calls whose customer speaks with espeak-ng
_LONG_PAUSE_SHARE = 0.07  # share of pauses that are long (3-6 s)
_SHORT_CALL = (40.0, 60.0)  # default length range (seconds) when no minutes are given


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class RefTurn:
    """One spoken turn of a :class:`RealCall` (seconds from the file start, trimmed clip)."""

    speaker: str  # "agent" | "customer"
    channel: int  # 0/1 in a stereo file; 0 for mono and dual-mono
    start: float
    end: float
    text: str
    tag: str | None = None  # "card" / "after_card" in a card-number call


@dataclass(frozen=True)
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

_AGENT_NAMES = ("Sarah", "Michael", "Anna", "David", "Emma", "Daniel", "Laura", "Kevin")
_FIRST_NAMES = ("Peter", "Mary", "James", "Linda", "Robert", "Karen", "Paul", "Helen")
_LAST_NAMES = ("Brown", "Smith", "Miller", "Johnson", "Wilson", "Taylor", "Clark", "Walker")
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_MONTHS = ("March", "April", "May", "June", "July", "August", "September", "October")
_ORDINALS = ("first", "second", "third", "fifth", "eighth", "tenth", "twelfth", "fifteenth")
_STREETS = ("Oak Street", "Maple Avenue", "Park Road", "Hill Street", "Lake Drive", "Main Street")
_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_ONES = (*_DIGITS, "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
         "seventeen", "eighteen", "nineteen")  # fmt: skip
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")


def _number_words(n: int) -> str:
    """0..999 in words ("one hundred twenty three")."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    rest = n % 100
    return f"{_ONES[n // 100]} hundred" + ("" if rest == 0 else " " + _number_words(rest))


def _digit_groups(rng: random.Random, sizes: Sequence[int]) -> str:
    groups = [" ".join(_DIGITS[rng.randrange(1, 10)] for _ in range(k)) for k in sizes]
    return ", ".join(groups)


def _amount(rng: random.Random, low: int, high: int) -> str:
    dollars, cents = rng.randrange(low, high), rng.choice((0, 50, 99, 25))
    text = f"{_number_words(dollars)} dollars"
    return text if cents == 0 else f"{text} and {_number_words(cents)} cents"


def _fills(rng: random.Random) -> dict[str, str]:
    first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
    return {
        "agent": rng.choice(_AGENT_NAMES),
        "first": first,
        "name": f"{first} {last}",
        "account": _digit_groups(rng, (3, 3)),
        "order": _digit_groups(rng, (3, 3)),
        "three": _digit_groups(rng, (3,)),
        "four": _digit_groups(rng, (4,)),
        "amount": _amount(rng, 40, 90),
        "amount2": _amount(rng, 15, 35),
        "day": rng.choice(_DAYS),
        "date": f"{rng.choice(_MONTHS)} {rng.choice(_ORDINALS)}",
        "street": f"{_number_words(rng.randrange(12, 90))} {rng.choice(_STREETS)}",
        "small": _number_words(rng.randrange(2, 9)),
        "email": f"{first.lower()} dot {last.lower()} at example dot com",
    }


@dataclass(frozen=True)
class Topic:
    """A scripted support-call topic: the customer's problem, (agent, customer) exchanges
    and the agent's resolution. Texts are ``str.format`` templates over the call's fills."""

    name: str
    problem: str
    exchanges: tuple[tuple[str, str], ...]
    resolution: str


TOPICS: tuple[Topic, ...] = (
    Topic(
        "billing_double_charge",
        "Hi, I was charged twice for my bill this month and I would like to get that fixed.",
        (
            ("I am sorry to hear that. Can you tell me the amount of the charge?",
             "Yes, it was {amount}, and it shows up two times on my bank statement."),
            ("When did you first notice the second charge?",
             "I noticed it on {day} morning when I checked my bank account."),
            ("I can see both payments on your account, and one of them is a duplicate.",
             "Okay, so can you send the extra money back to me?"),
            ("Did you use the same card for both payments?",
             "Yes, I only have one card on file with you."),
            ("Have you set up automatic payments on this account?",
             "I think so, I set them up last year."),
            ("It looks like the automatic payment ran on the same day you paid by phone.",
             "That makes sense, I did call to pay last week."),
        ),
        "I have refunded the duplicate charge of {amount}. You should see it in three to five "
        "business days.",
    ),
    Topic(
        "internet_outage",
        "Hello, my internet has not been working since {day} and I work from home.",
        (
            ("I am sorry about that. Are all the lights on your modem turned on?",
             "The power light is green, but the internet light is blinking red."),
            ("Could you please unplug the modem, wait ten seconds, and plug it back in?",
             "Sure, give me a second. Okay, I unplugged it and plugged it back in."),
            ("Is the internet light still blinking?",
             "Yes, it is still blinking red after a few minutes."),
            ("Are you using a cable or a wireless connection?",
             "Mostly wireless, but my computer is on a cable and it does not work either."),
            ("I can see that there is some work being done on the lines in your area.",
             "Do you know how long that is going to take?"),
            ("Have you had this problem before?",
             "It happened once last month, but it came back after an hour."),
        ),
        "I have booked a technician to visit you on {day} between nine and twelve in the "
        "morning.",
    ),
    Topic(
        "cancellation",
        "Hi, I would like to cancel my subscription, please.",
        (
            ("I am sorry to hear you want to leave. May I ask why you are cancelling?",
             "It has just become too expensive for me. I pay {amount} every month."),
            ("I understand. Would a lower monthly price change your mind?",
             "Maybe. What kind of price could you offer me?"),
            ("I can offer you the basic plan for {amount2} a month for the next year.",
             "That is still more than I want to pay, so I think I will cancel."),
            ("Okay. Do you still have any of our equipment at home?",
             "Yes, I have the box and the remote control."),
            ("You can return the equipment at any of our stores or send it by mail.",
             "I will send it by mail, that is easier for me."),
            ("Your service will stay active until the end of this billing month.",
             "Good, so I will not be charged again after that?"),
        ),
        "Your cancellation is done, and you will get a confirmation letter in the mail.",
    ),
    Topic(
        "address_change",
        "Hello, I am moving next month and I need to change my address.",
        (
            ("Congratulations on the move. What is the new address?",
             "It is {street}, apartment {small}."),
            ("And when would you like the change to take effect?",
             "From {date}, that is the day we get the keys."),
            ("Would you like us to move your service to the new address as well?",
             "Yes please, I would like to keep the same plan."),
            ("Will anybody be at the new place to let the technician in?",
             "Yes, my wife will be there all day."),
            ("Should we also send your bills to the new address?",
             "Yes, please send everything there from now on."),
            ("Is the phone number on your account still the best way to reach you?",
             "Yes, that number is still correct."),
        ),
        "Your address is updated, and your service will move on {date}.",
    ),
    Topic(
        "refund",
        "Hi, I returned a jacket two weeks ago and I still have not received my refund.",
        (
            ("I am sorry for the wait. Do you have the order number?",
             "Yes, the order number is {order}."),
            ("Thank you. How did you send the jacket back to us?",
             "I dropped it off at the post office with the return label."),
            ("I can see that the package arrived at our warehouse on {day}.",
             "Good, so why has the money not come back yet?"),
            ("The refund was held because the return form was missing.",
             "Oh, I think I forgot to put the form in the box."),
            ("How did you pay for the order?",
             "I paid with my credit card."),
            ("What was the total amount you paid?",
             "It was {amount}, including shipping."),
        ),
        "I have released the refund of {amount}. It will be back on your card within five "
        "days.",
    ),
    Topic(
        "password_reset",
        "Hello, I cannot log in to my account. I think I forgot my password.",
        (
            ("No problem, I can help you reset it. Are you using the website or the app?",
             "The app on my phone. It keeps saying that my password is wrong."),
            ("How many times did you try to log in?",
             "About five times, and now it says my account is locked."),
            ("For security, can you tell me the last four digits of your phone number?",
             "Sure, they are {four}."),
            ("Thank you. I have sent you a text message with a reset link.",
             "Okay, I just got the message."),
            ("Please open the link and choose a new password with at least ten letters.",
             "All right, I typed in a new password and it says it was saved."),
            ("Can you try to log in again with the new password?",
             "Yes, it works now. I can see my account."),
        ),
        "Great. I have also unlocked your account, so you should not have any more trouble.",
    ),
    Topic(
        "late_delivery",
        "Hi, I ordered a new chair two weeks ago and it still has not arrived.",
        (
            ("I am sorry about that. Can I have the order number, please?",
             "Yes, it is {order}."),
            ("Thank you. The tracking shows that the package is at our local depot.",
             "It has been there for a week. Why is it not moving?"),
            ("It looks like the driver could not find your house on {day}.",
             "That is strange, I was at home all day."),
            ("Is there a gate code or anything else the driver needs to know?",
             "No, but the house number is hard to see from the road."),
            ("Would you like me to add a note for the driver?",
             "Yes, please tell them it is the blue house next to the school."),
            ("When is a good time for the delivery?",
             "Any time in the afternoon is fine for me."),
        ),
        "I have added the note and booked the delivery for {day} afternoon.",
    ),
    Topic(
        "plan_upgrade",
        "Hello, I would like to upgrade my phone plan because I keep running out of data.",
        (
            ("Sure, I can help with that. How quickly do you run out of data?",
             "I watch a lot of videos, so I run out after about two weeks."),
            ("Right now you are on the basic plan for {amount2} a month.",
             "Yes, and I always go over the limit."),
            ("The premium plan has unlimited data for {amount} a month.",
             "That sounds good. Is there a contract?"),
            ("There is no contract, you can change plans at any time.",
             "Great, then I would like the premium plan."),
            ("Would you like the new plan to start today or with the next bill?",
             "Today, please. I am almost out of data again."),
            ("Do you also want to add a second line for a family member?",
             "No thanks, just my own phone for now."),
        ),
        "Your plan is upgraded to premium, and it is active right now.",
    ),
)  # fmt: skip

_CARD_TOPIC = Topic(
    "card_payment",
    "Hi, I would like to pay my bill over the phone with a credit card.",
    (),
    "Thank you, the payment of {amount} went through, and I will text you the receipt.",
)
_CARD_TEXT = (
    "Yes, the card number is four one one one, one one one one, one one one one, one one one one."
)
_AFTER_CARD_TEXT = "My phone number is five five five, {three}, {four}. Please text me the receipt."

#: Exchanges any call can use to reach the requested length.
_GENERIC: tuple[tuple[str, str], ...] = (
    ("Can I confirm the phone number on the account?",
     "Yes, it is five five five, {three}, {four}."),
    ("Do you prefer to get updates by text message or by email?",
     "Text messages are best for me."),
    ("Is this the best number to call you back if we get cut off?",
     "Yes, you can call me on this number."),
    ("How long have you been a customer with us?",
     "I think it has been about {small} years now."),
    ("Have you used our mobile app before?",
     "Yes, but I find it a little confusing."),
    ("Would you like me to send you a summary of this call?",
     "Yes please, that would be helpful."),
    ("Are you happy with the rest of your service?",
     "Yes, most of the time it works fine."),
    ("Do you have any other accounts with us?",
     "No, this is the only one."),
    ("Is the billing address the same as your home address?",
     "Yes, it is the same address."),
    ("Just so you know, this may take a few more minutes.",
     "That is fine, I have time."),
    ("Would you like to sign up for paperless billing?",
     "Sure, that sounds like a good idea."),
    ("May I ask how you heard about our new offers?",
     "I saw a letter from you in the mail."),
    ("Let me just make a note on your account.",
     "Okay, thank you."),
    ("Would you like to add a second contact person to the account?",
     "No, I am the only one who uses it."),
    ("Do you want me to set up a reminder before your next bill?",
     "Yes, a reminder a few days before would be great."),
    ("Have you checked your spam folder for our emails?",
     "No, I will have a look later today."),
    ("I see that you called us last month as well. Was that about the same thing?",
     "No, that was about something else."),
    ("Is there a good time of day for us to reach you?",
     "Mornings are usually better for me."),
    ("Would you like to hear about our loyalty discount?",
     "Sure, I am always happy to save some money."),
    ("Our system is a little slow today, thank you for your patience.",
     "No problem, take your time."),
    ("Did you receive the letter we sent you last week?",
     "I am not sure, I will check my mail tonight."),
    ("Would you like to pay your current balance of {amount2} today?",
     "Not today, I will pay it at the end of the month."),
)  # fmt: skip

_GREETING = "Thank you for calling customer support, my name is {agent}. How can I help you?"
_VERIFY = (
    "I can help you with that. Can I have your full name and account number, please?",
    "Sure, my name is {name}, and the account number is {account}.",
)
_HOLD_LINE = "Let me check that for you. Please hold for a moment."
_BACK_LINE = "Thank you for waiting, I am back."
_CLOSING = (
    (CUSTOMER, "Thank you so much for your help."),
    (AGENT, "You are welcome. Have a nice day, goodbye."),
)
_ANYTHING_ELSE = (
    "Is there anything else I can help you with today?",
    "No, I think that is all for today.",
)


@dataclass(frozen=True)
class _Line:
    speaker: str
    text: str
    gap: float  # seconds of pause before the line
    tag: str | None = None


@dataclass(frozen=True)
class _Hold:
    seconds: float
    gap: float


_Item = _Line | _Hold


class _Script:
    """Draws the pauses and fills of one call from its random generator."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.fills = _fills(rng)

    def pause(self) -> float:
        if self.rng.random() < _LONG_PAUSE_SHARE:
            return round(self.rng.uniform(3.0, 6.0), 3)
        return round(self.rng.uniform(0.4, 1.5), 3)

    def line(self, speaker: str, template: str, tag: str | None = None) -> _Line:
        return _Line(speaker, template.format(**self.fills), self.pause(), tag)

    def exchange(self, pair: tuple[str, str]) -> list[_Item]:
        return [self.line(AGENT, pair[0]), self.line(CUSTOMER, pair[1])]

    def extras(self, topic: Topic) -> Iterator[list[_Item]]:
        """Endless exchanges: identification, the topic's remaining ones, then shuffled
        generic ones (with fresh fills each time the pool comes round again)."""
        yield self.exchange(_VERIFY)
        yield from (self.exchange(pair) for pair in topic.exchanges[1:])
        while True:
            pool = list(_GENERIC)
            self.rng.shuffle(pool)
            yield from (self.exchange(pair) for pair in pool)
            self.fills = _fills(self.rng) | {
                k: self.fills[k] for k in ("agent", "first", "name", "account")
            }


def _head(script: _Script, topic: Topic, card_number: bool, email: bool) -> list[_Item]:
    items: list[_Item] = [script.line(AGENT, _GREETING), script.line(CUSTOMER, topic.problem)]
    if card_number:
        items.append(script.line(AGENT, "Sure, your balance is {amount}. Can I have the card "
                                 "number, please?"))  # fmt: skip
        items.append(script.line(CUSTOMER, _CARD_TEXT, "card"))
        after = script.line(CUSTOMER, _AFTER_CARD_TEXT, "after_card")
        items.append(replace(after, gap=round(script.rng.uniform(0.3, 0.7), 3)))
        if email:
            items.append(script.line(AGENT, "Thank you. And what is your email address?"))
            items.append(script.line(CUSTOMER, "It is {email}.", "email"))
    elif topic.exchanges:
        items += script.exchange(topic.exchanges[0])
    return items


def _hold_block(script: _Script, seconds: float) -> list[_Item]:
    hold_line = script.line(AGENT, _HOLD_LINE)
    music = _Hold(round(seconds, 3), round(script.rng.uniform(0.3, 0.8), 3))
    back = replace(script.line(AGENT, _BACK_LINE), gap=round(script.rng.uniform(0.5, 1.2), 3))
    return [hold_line, music, back]


def _tail(script: _Script, topic: Topic, long: bool) -> list[_Item]:
    items: list[_Item] = [script.line(AGENT, topic.resolution)]
    items += [script.line(speaker, text) for speaker, text in _CLOSING[:1]]
    if long:
        items += script.exchange(_ANYTHING_ELSE)
    return items + [script.line(speaker, text) for speaker, text in _CLOSING[1:]]


def _seconds(items: Sequence[_Item], voices: dict[str, str]) -> float:
    total = 0.0
    for item in items:
        if isinstance(item, _Hold):
            total += item.gap + item.seconds
        else:
            total += item.gap + len(render_speech(voices[item.speaker], item.text)) / SAMPLE_RATE
    return total


def _plan(
    rng: random.Random, target: float, voices: dict[str, str], hold: bool, card_number: bool,
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


@dataclass(frozen=True)
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
            placed.append(_Placed(AGENT, start, clip, None, None))
        else:
            clip = render_speech(voices[item.speaker], item.text)
            placed.append(_Placed(item.speaker, start, clip, item.text, item.tag))
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
            turns.append(RefTurn(p.speaker, _channel(p.speaker, layout), start, end, p.text, p.tag))
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
    ``"email"`` ("pat dot lee at example dot com").

    The output is a pure function of the arguments (same seed, same bytes).
    """
    _check_args(layout, fmt, minutes)
    rng = random.Random(seed)
    voices = _voices(rng)
    target = minutes * 60 if minutes is not None else rng.uniform(*_SHORT_CALL)
    items = _plan(rng, target, voices, hold, card_number, email)
    placed = _place(items, voices, rng.uniform(0.5, 1.2), seed)
    end = max(p.start + len(p.clip) for p in placed)
    n = max(end + round(rng.uniform(0.6, 1.5) * SAMPLE_RATE), round(target * SAMPLE_RATE))
    track = _mix(placed, n, layout)
    if noise:
        track += _line_noise(n, track.shape[1], np.random.default_rng(seed))
    out = Path(out)
    audio._write_track(out, track, SAMPLE_RATE, fmt)
    turns, holds = _reference(placed, layout)
    return RealCall(out, out.stem, fmt, layout, track.shape[1], n / SAMPLE_RATE, turns, holds,
                    voices)  # fmt: skip


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
                              noise=noise)  # fmt: skip
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


def main(argv: Sequence[str] | None = None) -> int:
    """``OUT_DIR [-n N] [--minutes M] [--seed S] [--fmt FMT]``: write a corpus."""
    parser = argparse.ArgumentParser(prog="python -m callscribe.demo.calls")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("-n", type=int, default=4)
    parser.add_argument("--minutes", type=float, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fmt", default="wav_mulaw", choices=sorted(audio.FORMATS))
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        calls = make_real_corpus(args.out_dir, args.n, minutes=args.minutes, seed=args.seed,
                                 fmt=args.fmt)  # fmt: skip
    except (AudioToolError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for c in calls:
        print(f"{c.path}  {c.duration:.1f} s, {len(c.turns)} turns, holds {len(c.holds)}, "
              f"voices {c.voices[AGENT]}/{c.voices[CUSTOMER]}")  # fmt: skip
    print(f"wrote {len(calls)} calls in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
