"""How a call went, in figures: talk time, silence, hold, overtalk, interruptions, speaking
rate and response times, from each channel's activity (:mod:`.activity`).

Inputs are the talk and sound spans of each channel (:class:`.activity.ChannelActivity`)
and the number of words transcribed on each. A stereo call has two channels, the agent on
channel 0 and the customer on channel 1. A mono call has one channel on which both parties
are mixed: when diarization told them apart, its talk is shared out by who spoke
(``activity.split_talk``) and it gets every figure below ("stereo only" then means "two
parties"), with ``channels`` 1 (where both talk at once the mix yields one voice's words,
so that time goes to one party and is not overtalk); when it did not, there is no telling
who talks, so only the figures that need no speaker are given and the others are
``None``. Times are in seconds, rounded to milliseconds; a figure that cannot be computed
(nothing to divide by, no such moment in the call) is ``None``.

Definitions (all spans are clipped to the call, 0 to ``duration_s``):

``duration_s``, ``channels``
    The length of the recording and how many channels the figures come from (1 or 2).
``agent_talk_s``, ``customer_talk_s``
    Seconds in which that party talks: the sum of its talk spans. A talk span runs from the
    first to the last word of a stretch of speech; pauses shorter than the merge gap (0.8 s)
    inside a turn count as talk. Stereo only.
``talk_s``
    Seconds in which anybody talks (overtalk counted once).
``talk_ratio``
    ``agent_talk_s / customer_talk_s``: above 1 the agent talked more. ``None`` when the
    customer never talks, and in mono.
``non_talk_s``
    ``duration_s - talk_s``: nobody talks: silence, hold music, lead-in and lead-out.
``longest_silence_s``
    The longest stretch, anywhere in the call (the lead-in before the first word and the
    lead-out after the last included), in which nobody talks. Hold music is not talk, so a
    hold is a silence here.
``hold_s``
    Seconds in which the agent's leg carries sound but no speech (hold music, tones) while
    the customer does not talk; pauses of up to ``HOLD_GAP_S`` (2 s) inside that sound
    count too (plucked notes die away between phrases of the music). Stereo only: in a mono
    mix music cannot be told from either party's line.
``overtalk_count``, ``overtalk_s``
    Stretches in which both parties talk at once, at least ``min_overtalk_s`` (0.1 s) long;
    shorter touches (the end of one turn meeting the start of the next) are left out of
    both. Stereo only.
``agent_interruptions``, ``customer_interruptions``
    Talk spans a party starts while the other party is in mid-span: the other started at
    least ``interruption_margin_s`` (0.2 s) earlier and goes on at least that long after.
    Counted for the party who starts talking; starting right at the end of the other's turn
    is not an interruption. Stereo only.
``agent_wpm``, ``customer_wpm``
    That party's words per minute of its own talk time (``None`` if it never talks).
    Stereo only.
``words_per_minute``
    All words transcribed per minute of ``talk_s``, stereo and mono.
``customer_first_wait_s``
    From the end of the customer's first talk span to the start of the agent's next talk span
    (the agent's first span that starts after the customer started): how long the customer
    waited for the first answer. 0 if the agent started before the customer had finished.
    ``None`` if the customer never talks or the agent never talks after. Stereo only.
``agent_response_gap_s``
    The mean gap between the end of a customer talk span and the start of the agent's next
    talk span, over the exchanges in which the agent was silent when the customer stopped,
    started before the customer spoke again, and took less than ``max_response_gap_s``
    (10 s: longer waits are holds and the like, not responses). ``None`` if there is no such
    exchange. Stereo only.
``ringing_s``
    Ringing before the answer: from the start of the first sound on any channel to the end
    of the last sound that ends before anybody's first word (ringback, a dial tone, an
    announcement the model heard no words in), if the call has sound before its first
    word; else (or if nobody talks at all) ``None``. Ringing is neither hold nor talk.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from .activity import ChannelActivity, Span, intersect_spans, merge_spans, subtract_spans, total_s

AGENT, CUSTOMER = "agent", "customer"
#: Pauses up to this long inside the agent leg's sound are part of a hold (``hold_s``).
HOLD_GAP_S = 2.0


@dataclass(frozen=True, kw_only=True)
class MetricOptions:
    """Thresholds of the definitions in the module docstring."""

    min_overtalk_s: float = 0.1
    interruption_margin_s: float = 0.2
    max_response_gap_s: float = 10.0


@dataclass(frozen=True, kw_only=True)
class CallMetrics:
    """The figures of one call (definitions in the module docstring); ``None`` where they
    cannot be computed or need two channels and the call has one."""

    duration_s: float
    channels: int
    talk_s: float
    non_talk_s: float
    longest_silence_s: float
    words_per_minute: float | None
    agent_talk_s: float | None = None
    customer_talk_s: float | None = None
    talk_ratio: float | None = None
    hold_s: float | None = None
    overtalk_count: int | None = None
    overtalk_s: float | None = None
    agent_interruptions: int | None = None
    customer_interruptions: int | None = None
    agent_wpm: float | None = None
    customer_wpm: float | None = None
    customer_first_wait_s: float | None = None
    agent_response_gap_s: float | None = None
    ringing_s: float | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of every field (``None`` stays ``None``)."""
        return asdict(self)


def compute_metrics(
    *,
    duration_s: float,
    channels: Sequence[ChannelActivity],
    words: Sequence[int],
    options: MetricOptions | None = None,
) -> CallMetrics:
    """The figures of a call from its channels' activity.

    ``channels``: ``(agent, customer)`` for a stereo call, or one activity for a mono call
    (both parties on one channel). ``words``: how many words were transcribed on each
    channel, in the same order.
    """
    if len(channels) not in (1, 2) or len(words) != len(channels):
        raise ValueError("give one (mono) or two (agent, customer) channels, and as many "
                         "word counts")  # fmt: skip
    options = options or MetricOptions()
    call = [(0.0, max(0.0, duration_s))]
    talks = [intersect_spans(c.talk, call) for c in channels]
    anybody = merge_spans(span for talk in talks for span in talk)
    talk_s = total_s(anybody)
    silences = subtract_spans(call, anybody)
    ringing = ringing_span([intersect_spans(c.sound, call) for c in channels], anybody)
    base = CallMetrics(
        duration_s=round(call[0][1], 3),
        channels=len(channels),
        talk_s=round(talk_s, 3),
        non_talk_s=round(max(0.0, call[0][1] - talk_s), 3),
        longest_silence_s=round(max((b - a for a, b in silences), default=0.0), 3),
        words_per_minute=_per_minute(sum(words), talk_s),
        ringing_s=None if ringing is None else round(ringing[1] - ringing[0], 3),
    )
    if len(channels) == 1:
        return base
    agent_sound = subtract_spans(
        intersect_spans(channels[0].sound, call), [ringing] if ringing else []
    )
    return _two_party(base, talks[0], talks[1], agent_sound, words, options)


def ringing_span(sounds: Sequence[Sequence[Span]], talk: Sequence[Span]) -> Span | None:
    """``ringing_s``'s span (module docstring): the sound before the first talk."""
    if not talk:
        return None
    before = [s for spans in sounds for s in spans if s[1] <= talk[0][0]]
    if not before:
        return None
    return (min(a for a, _ in before), max(b for _, b in before))


def _two_party(
    base: CallMetrics,
    agent: Sequence[Span],
    customer: Sequence[Span],
    agent_sound: Sequence[Span],
    words: Sequence[int],
    options: MetricOptions,
) -> CallMetrics:
    agent_s, customer_s = total_s(agent), total_s(customer)
    both = intersect_spans(agent, customer)
    overtalk = [(a, b) for a, b in both if b - a >= options.min_overtalk_s]
    margin = options.interruption_margin_s
    return replace(
        base,
        agent_talk_s=round(agent_s, 3),
        customer_talk_s=round(customer_s, 3),
        talk_ratio=round(agent_s / customer_s, 3) if customer_s > 0 else None,
        hold_s=round(
            total_s(subtract_spans(merge_spans(agent_sound, HOLD_GAP_S), [*agent, *customer])), 3
        ),
        overtalk_count=len(overtalk),
        overtalk_s=round(sum(b - a for a, b in overtalk), 3),
        agent_interruptions=interruptions(agent, customer, margin),
        customer_interruptions=interruptions(customer, agent, margin),
        agent_wpm=_per_minute(words[0], agent_s),
        customer_wpm=_per_minute(words[1], customer_s),
        customer_first_wait_s=first_wait(customer, agent),
        agent_response_gap_s=response_gap(customer, agent, options.max_response_gap_s),
    )


def _per_minute(words: int, talk_s: float) -> float | None:
    return round(words * 60.0 / talk_s, 1) if talk_s > 0 else None


def interruptions(starter: Sequence[Span], other: Sequence[Span], margin_s: float) -> int:
    """How many of ``starter``'s spans start while one of ``other``'s started at least
    ``margin_s`` earlier and goes on at least ``margin_s`` later."""
    return sum(
        any(o_start <= start - margin_s and o_end >= start + margin_s for o_start, o_end in other)
        for start, _ in starter
    )


def first_wait(customer: Sequence[Span], agent: Sequence[Span]) -> float | None:
    """``customer_first_wait_s`` (module docstring) of these talk spans."""
    if not customer:
        return None
    first_start, first_end = customer[0]
    answer = next((a for a, _ in agent if a > first_start), None)
    return None if answer is None else round(max(0.0, answer - first_end), 3)


def response_gap(customer: Sequence[Span], agent: Sequence[Span], max_s: float) -> float | None:
    """``agent_response_gap_s`` (module docstring) of these talk spans."""
    gaps: list[float] = []
    for index, (_, end) in enumerate(customer):
        if any(a < end < b for a, b in agent):
            continue  # the agent was talking when the customer stopped
        answer = next((a for a, _ in agent if a >= end), None)
        again = customer[index + 1][0] if index + 1 < len(customer) else float("inf")
        if answer is not None and answer <= again and answer - end < max_s:
            gaps.append(answer - end)
    return round(sum(gaps) / len(gaps), 3) if gaps else None
