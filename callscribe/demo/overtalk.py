"""Deliberate overtalk for the real-voice calls (``make_real_call(..., overtalk=True)``): a
few lines start before the other party's line has ended, so the call metrics' overtalk and
interruption figures have a known truth."""

from __future__ import annotations

import itertools
import random
from dataclasses import replace

from .scripts import AGENT, _Item, _Line
from .voices import SAMPLE_RATE, render_speech


def overtalk_items(items: list[_Item], voices: dict[str, str], seed: int) -> list[_Item]:
    """Overlaps: 2-4 lines (one of the agent's, then the customer's) get a negative gap: they
    start 0.5-1.5 s before the other party's line before them ends, which then still has
    0.5 s or more to go and has run 1 s or more. Never two neighbours; the draws come from a
    generator of their own, so the rest of the call does not change."""
    rng = random.Random(f"overtalk:{seed}")

    def most(a: _Line, b: _Line) -> float:  # the longest overlap allowed
        size = [len(render_speech(voices[x.speaker], x.text)) / SAMPLE_RATE for x in (a, b)]
        return min(1.5, size[0] - 1.0, size[1] - 0.5)

    slots = {i: (b, most(a, b)) for i, (a, b) in enumerate(itertools.pairwise(items), 1)
             if isinstance(a, _Line) and isinstance(b, _Line) and a.speaker != b.speaker
             and b.tag is None and most(a, b) >= 0.5}  # fmt: skip
    agent = [i for i in slots if slots[i][0].speaker == AGENT]
    customer = [i for i in slots if slots[i][0].speaker != AGENT]
    agent, customer = rng.sample(agent, len(agent)), rng.sample(customer, len(customer))
    chosen: list[int] = []
    count = rng.randint(2, 4)
    for i in [*agent[:1], *customer, *agent[1:]]:
        if len(chosen) < count and all(abs(i - j) > 1 for j in chosen):
            chosen.append(i)
    out = list(items)
    for i in sorted(chosen):
        line, longest = slots[i]
        out[i] = replace(line, gap=-round(min(rng.uniform(0.5, 1.5), longest), 3))
    return out
