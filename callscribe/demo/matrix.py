"""The true call metrics of a generated call (:func:`reference_metrics`; a condition
call's, :mod:`callscribe.demo.conditions`, with :func:`true_metrics`), the ones callscribe
stored, and how far apart they are."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from callscribe.workers.analytics.activity import (
    ChannelActivity,
    Span,
    merge_spans,
    subtract_spans,
)
from callscribe.workers.analytics.call_metrics import (
    AGENT,
    CUSTOMER,
    CallMetrics,
    MetricOptions,
    compute_metrics,
)

from .conditions import ConditionCall

#: How far a measured figure may be from the truth (issue 20): talk per party ±10 %,
#: hold ±3 s, overtalk ±2 s, ringing ±1 s.
TOLERANCE: dict[str, tuple[float, float]] = {  # name: (absolute s, relative)
    "agent_talk_s": (0.0, 0.10),
    "customer_talk_s": (0.0, 0.10),
    "hold_s": (3.0, 0.0),
    "overtalk_s": (2.0, 0.0),
    "ringing_s": (1.0, 0.0),
}


class TurnLike(Protocol):
    """A spoken turn with exact times, e.g. :class:`callscribe.demo.calls.RefTurn`."""

    @property
    def speaker(self) -> str: ...
    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...
    @property
    def text(self) -> str: ...


def reference_metrics(
    *,
    duration_s: float,
    turns: Iterable[TurnLike],
    holds: Iterable[Span],
    tones: Iterable[Span] = (),
    mono: bool = False,
    merge_gap_s: float = 0.8,
    options: MetricOptions | None = None,
) -> CallMetrics:
    """The true figures of a call whose turns, holds and tones are known exactly (a
    generated call): talk spans are each party's turns joined where less than
    ``merge_gap_s`` apart, as :func:`~callscribe.workers.analytics.activity.channel_activity`
    joins them; the agent leg's sound is the holds, the customer leg's the tones; words are
    counted by splitting the texts."""
    turns = list(turns)

    def activity(who: Sequence[str], sound: Iterable[Span] = ()) -> tuple[ChannelActivity, int]:
        mine = [t for t in turns if t.speaker in who]
        talk = merge_spans(((t.start, t.end) for t in mine), merge_gap_s)
        return (ChannelActivity(talk=talk, sound=subtract_spans(sound, talk)),
                sum(len(t.text.split()) for t in mine))  # fmt: skip

    if mono:
        parts = [activity((AGENT, CUSTOMER), [*holds, *tones])]
    else:
        parts = [activity((AGENT,), holds), activity((CUSTOMER,), tones)]
    return compute_metrics(duration_s=duration_s, channels=[p[0] for p in parts],
                           words=[p[1] for p in parts], options=options)  # fmt: skip


def true_metrics(call: ConditionCall, merge_gap_s: float = 0.8) -> CallMetrics:
    """The figures of a condition call from its truth: the agent leg's sound the hold
    music, the customer leg's the tones and the ringback."""
    tones = [(t.start, t.end) for t in call.tones if t.channel == 1]
    if call.ringing:
        tones.append(call.ringing)
    return reference_metrics(
        duration_s=call.call.duration,
        turns=call.call.turns,
        holds=call.call.holds,
        tones=tones,
        merge_gap_s=merge_gap_s,
    )


def stored_metrics(database_url: str, calls: Sequence[ConditionCall]) -> dict[str, dict[str, Any]]:
    """The call metrics callscribe stored, by call name (the recording key is the file name)."""
    from sqlalchemy import select

    from callscribe.models import Recording
    from callscribe.models.db import make_engine, session_factory
    from callscribe.models.tables import CallMetric

    factory = session_factory(make_engine(database_url))
    names = {c.call.path.name: c.call.name for c in calls}
    out: dict[str, dict[str, Any]] = {}
    with factory.begin() as session:
        rows = session.execute(
            select(Recording.key, CallMetric).join(
                CallMetric, CallMetric.recording_id == Recording.id
            )
        )
        for key, metric in rows:
            if key in names:
                out[names[key]] = {
                    c.name: getattr(metric, c.name) for c in CallMetric.__table__.columns
                }
    return out


def metric_errors(call: ConditionCall, measured: dict[str, Any]) -> dict[str, float | None]:
    """Measured minus true, per figure of :data:`TOLERANCE` (a missing figure counts as 0)."""
    truth = true_metrics(call).to_json()
    return {
        name: round(float(measured.get(name) or 0.0) - float(truth.get(name) or 0.0), 3)
        for name in TOLERANCE
    }


def out_of_tolerance(call: ConditionCall, measured: dict[str, Any]) -> dict[str, str]:
    """The figures outside :data:`TOLERANCE`, each as ``measured (true)``."""
    truth = true_metrics(call).to_json()
    bad = {}
    for name, (absolute, relative) in TOLERANCE.items():
        got, want = float(measured.get(name) or 0.0), float(truth.get(name) or 0.0)
        if abs(got - want) > max(absolute, relative * want) + 1e-6:
            bad[name] = f"{got:.1f} ({want:.1f})"
    return bad
