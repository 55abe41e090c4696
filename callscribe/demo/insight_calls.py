"""Support calls with a known topic and a known customer mood, for the insights' tests and
benchmark: every call draws its own wording from :mod:`callscribe.demo.insight_phrases`
(problem statement, questions, answers, mood lines), so no two calls of a topic say the
same thing, and is voiced by the real TTS voices of :mod:`callscribe.demo.calls`
(agent left, customer right, line noise on both legs).

Command line::

    python -m callscribe.demo.insight_calls OUT_DIR [--per-cell 1] [--seed 0] [--truth F]
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import sound as audio
from .calls import SAMPLE_RATE, _line_noise, _mix, _place, _reference, _voices
from .insight_phrases import AGENT_LINES, CUSTOMER_VERIFY, MOOD_LINES, MOODS, TOPIC_PHRASES
from .scripts import AGENT, CUSTOMER, _Line
from .voices import _prefetch


@dataclass(frozen=True, kw_only=True)
class InsightCall:
    """What :func:`make_insight_call` wrote: the topic and mood it was made with, and when
    the customer asked each question (seconds from the file start)."""

    path: Path
    topic: str
    mood: str
    problem: str
    questions: tuple[tuple[float, float, str], ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "topic": self.topic,
            "mood": self.mood,
            "problem": self.problem,
            "questions": [list(q) for q in self.questions],
        }


def _gap(rng: random.Random) -> float:
    return rng.uniform(0.5, 1.1)


def script(topic: str, mood: str, rng: random.Random, problem: str | None = None) -> list[_Line]:
    """The call's lines: greeting, the customer's problem (``problem``, else one of the
    topic's), verification, two questions with the agent's answers, the customer's mood in
    reactions, resolution, goodbye."""
    phrases = TOPIC_PHRASES[topic]
    moods = MOOD_LINES[mood]
    questions = rng.sample(phrases["question"], 2)
    answers = rng.sample(phrases["answer"], 2)

    def line(speaker: str, text: str, tag: str | None = None) -> _Line:
        return _Line(speaker, text, _gap(rng), tag)

    return [
        line(AGENT, rng.choice(AGENT_LINES["greeting"])),
        line(CUSTOMER, problem or rng.choice(phrases["problem"]), "problem"),
        line(AGENT, rng.choice(AGENT_LINES["verify"])),
        line(CUSTOMER, rng.choice(CUSTOMER_VERIFY)),
        line(AGENT, rng.choice(AGENT_LINES["acknowledge"])),
        line(CUSTOMER, rng.choice(moods["opening"])),
        line(CUSTOMER, questions[0], "question"),
        line(AGENT, answers[0]),
        line(CUSTOMER, rng.choice(moods["reaction"])),
        line(CUSTOMER, questions[1], "question"),
        line(AGENT, answers[1]),
        line(AGENT, rng.choice(phrases["resolution"])),
        line(CUSTOMER, rng.choice(moods["closing"])),
        line(AGENT, rng.choice(AGENT_LINES["closing"])),
    ]


def make_insight_call(
    out: Path, *, topic: str, mood: str, seed: int, problem: str | None = None
) -> InsightCall:
    """Write one call (16-kHz stereo WAV) to ``out``; ``problem`` replaces the customer's
    problem statement. Same arguments, same bytes."""
    if topic not in TOPIC_PHRASES or mood not in MOODS:
        raise ValueError(f"unknown topic {topic!r} or mood {mood!r}")
    rng = random.Random(f"{topic}/{mood}/{seed}")
    voices = _voices(rng)
    lines = script(topic, mood, rng, problem)
    _prefetch((voices[item.speaker], item.text) for item in lines)
    placed = _place(lines, voices, rng.uniform(0.5, 1.0), seed)
    n = max(p.start + len(p.clip) for p in placed) + SAMPLE_RATE
    track = _mix(placed, n, "stereo")
    track += _line_noise(n, 2, np.random.default_rng(seed))
    audio._write_track(Path(out), track, SAMPLE_RATE, "wav")
    turns, _holds = _reference(placed, "stereo")
    return InsightCall(
        path=Path(out),
        topic=topic,
        mood=mood,
        problem=next(t.text for t in turns if t.tag == "problem"),
        questions=tuple((t.start, t.end, t.text) for t in turns if t.tag == "question"),
    )


def make_insight_corpus(
    directory: Path, *, per_cell: int = 1, seed: int = 0, topics: tuple[str, ...] | None = None
) -> list[InsightCall]:
    """``per_cell`` calls of every topic in every mood, as ``<topic>_<mood>_<i>.wav``."""
    directory.mkdir(parents=True, exist_ok=True)
    calls = []
    for topic in topics or tuple(TOPIC_PHRASES):
        for mood in MOODS:
            for i in range(per_cell):
                path = directory / f"{topic}_{mood}_{i}.wav"
                calls.append(make_insight_call(path, topic=topic, mood=mood, seed=seed + i))
    return calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--per-cell", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--truth", type=Path, help="write what each call was made with (JSON)")
    args = parser.parse_args()
    calls = make_insight_corpus(args.out, per_cell=args.per_cell, seed=args.seed)
    if args.truth:
        args.truth.write_text(json.dumps([c.to_json() for c in calls], indent=1))
    print(f"{len(calls)} calls in {args.out}")


if __name__ == "__main__":
    main()
