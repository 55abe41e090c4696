"""Scoring a condition call's figures (:mod:`callscribe.demo.conditions`): its true call
metrics, the ones callscribe stored, and how far apart they are."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from callscribe.workers.analytics.activity import ChannelActivity, merge_spans, subtract_spans
from callscribe.workers.analytics.call_metrics import AGENT, CUSTOMER, CallMetrics, compute_metrics

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


def true_metrics(call: ConditionCall, merge_gap_s: float = 0.8) -> CallMetrics:
    """The figures of the call from its truth: each party's turns joined where less than
    ``merge_gap_s`` apart (as callscribe joins talk spans), the agent leg's sound the hold
    music, the customer leg's the tones."""
    turns = call.call.turns

    def leg(speaker: str, sound: Sequence[tuple[float, float]]) -> ChannelActivity:
        talk = merge_spans(((t.start, t.end) for t in turns if t.speaker == speaker), merge_gap_s)
        return ChannelActivity(talk=talk, sound=subtract_spans(sound, talk))

    tones = [(t.start, t.end) for t in call.tones if t.channel == 1]
    if call.ringing:
        tones.append(call.ringing)
    words = [sum(len(t.text.split()) for t in turns if t.speaker == s) for s in (AGENT, CUSTOMER)]
    return compute_metrics(
        duration_s=call.call.duration,
        channels=[leg(AGENT, call.call.holds), leg(CUSTOMER, tones)],
        words=words,
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
