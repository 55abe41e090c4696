"""``callscribe insights``: the topics customers call about, how unhappy they are, what
they ask, and sentiment by queue and agent, from the stored per-call insights
(``workers.insights``). Topics are found over every call with a topic vector
(:func:`recluster`, on demand or when there are none yet) and stored; calls finished since
join the nearest topic when they are finalized, or here when they have none yet."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from .models import CallInsight, CallQuestion, Recording, Source, Topic
from .models.base import as_utc, utcnow
from .settings import InsightsSection
from .workers.insights import topics as topic_math
from .workers.results.insight_rows import current_topics, vector_bytes, vector_from

#: Example questions listed per topic.
EXAMPLES = 5


@dataclass(frozen=True, kw_only=True)
class Filters:
    """Which calls a report covers (all of them by default)."""

    source: str | None = None
    queue: str | None = None
    agent: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _call_time() -> Any:
    return func.coalesce(Recording.started_at, Recording.finished_at)


def _filtered(query: Any, filters: Filters) -> Any:
    query = query.join(Recording, Recording.id == CallInsight.recording_id).join(
        Source, Source.id == Recording.source_id
    )
    if filters.source:
        query = query.where(Source.uri == filters.source)
    if filters.queue:
        query = query.where(Recording.queue == filters.queue)
    if filters.agent:
        query = query.where(Recording.agent == filters.agent)
    if filters.since:
        query = query.where(_call_time() >= filters.since)
    if filters.until:
        query = query.where(_call_time() < filters.until)
    return query


def recluster(
    factory: sessionmaker[Session], section: InsightsSection, seed: int = 0
) -> list[Topic]:
    """Cluster every call with a topic vector into a new generation of topics (the number
    chosen by silhouette, at most ``section.max_topics``), label each by its keywords and
    most central question, and move every call to its topic."""
    with factory.begin() as session:
        rows = session.execute(
            select(CallInsight.recording_id, CallInsight.embedding, CallInsight.problem).where(
                CallInsight.embedding.is_not(None)
            ).order_by(CallInsight.recording_id)
        ).all()  # fmt: skip
        if not rows:
            return []
        ids = np.array([r[0] for r in rows])
        vectors = np.stack([vector_from(r[1] or b"") for r in rows])
        found = topic_math.cluster(vectors, section.max_topics, seed)
        texts = _topic_texts(session, ids, found.labels, [r[2] for r in rows])
        words = topic_math.keywords(texts)
        generation = (session.scalar(select(func.max(Topic.generation))) or 0) + 1
        made = []
        for k, centre in enumerate(found.centroids):
            members = ids[found.labels == k]
            question = _central_question(session, members, centre)
            topic = Topic(
                generation=generation,
                created_at=utcnow(),
                label=topic_math.label(words[k]),
                keywords=words[k],
                question=question[0] if question else None,
                question_recording_id=question[1] if question else None,
                question_start_s=question[2] if question else None,
                centroid=vector_bytes(centre),
                calls=len(members),
            )
            session.add(topic)
            made.append(topic)
        session.flush()
        similarity = np.einsum("ij,ij->i", vectors, found.centroids[found.labels])
        session.execute(
            update(CallInsight),
            [
                {"recording_id": int(i), "topic_id": made[int(k)].id,
                 "topic_similarity": float(s)}
                for i, k, s in zip(ids, found.labels, similarity, strict=True)
            ],
        )  # fmt: skip
        return made


def _topic_texts(
    session: Session, ids: np.ndarray, labels: np.ndarray, problems: list[str | None]
) -> list[list[str]]:
    """Each topic's text: its calls' problem statements and questions."""
    topic_of = dict(zip(ids.tolist(), labels.tolist(), strict=True))
    texts: list[list[str]] = [[] for _ in range(int(labels.max()) + 1)]
    for rec_id, problem in zip(ids.tolist(), problems, strict=True):
        if problem:
            texts[topic_of[rec_id]].append(problem)
    for rec_id, text in session.execute(select(CallQuestion.recording_id, CallQuestion.text)):
        if rec_id in topic_of:
            texts[topic_of[rec_id]].append(text)
    return texts


def _central_question(
    session: Session, members: np.ndarray, centre: np.ndarray, limit: int = 1
) -> tuple[str, int, float] | None:
    found = _questions(session, members.tolist(), centre, limit)
    return found[0] if found else None


def _questions(
    session: Session, members: list[int], centre: np.ndarray, limit: int
) -> list[tuple[str, int, float]]:
    """The ``limit`` questions of these calls closest to the topic's centre: (text,
    recording id, start)."""
    scored: list[tuple[float, str, int, float]] = []
    for first in range(0, len(members), 5000):
        chunk = members[first : first + 5000]
        for rec_id, text, start, data in session.execute(
            select(CallQuestion.recording_id, CallQuestion.text, CallQuestion.start_s,
                   CallQuestion.embedding).where(CallQuestion.recording_id.in_(chunk))
        ):  # fmt: skip
            score = float(vector_from(data) @ centre) if data is not None else -1.0
            scored.append((score, text, rec_id, start))
    scored.sort(key=lambda t: (-t[0], t[2], t[3]))
    seen: set[str] = set()
    out = []
    for _, text, rec_id, start in scored:
        if text.lower() not in seen:
            seen.add(text.lower())
            out.append((text, rec_id, start))
        if len(out) == limit:
            break
    return out


def assign_new_calls(factory: sessionmaker[Session], section: InsightsSection) -> int:
    """Calls without a topic join the nearest current one when close enough; how many
    did."""
    with factory.begin() as session:
        topics = current_topics(session)
        if not topics:
            return 0
        centroids = np.stack([vector_from(t.centroid) for t in topics])
        rows = session.execute(
            select(CallInsight.recording_id, CallInsight.embedding).where(
                CallInsight.topic_id.is_(None), CallInsight.embedding.is_not(None)
            )
        ).all()
        changes = []
        for rec_id, data in rows:
            index, similarity = topic_math.nearest(vector_from(data or b""), centroids)
            if similarity >= section.topic_min_similarity:
                changes.append({"recording_id": rec_id, "topic_id": topics[index].id,
                                "topic_similarity": similarity})  # fmt: skip
        if changes:
            session.execute(update(CallInsight), changes)
        return len(changes)


def build_insights(
    factory: sessionmaker[Session], section: InsightsSection, filters: Filters
) -> dict[str, Any]:
    """The report: topics (largest first) with their calls, example questions, share of
    unhappy customers and trend; every call's figures; sentiment by queue and agent."""
    with factory.begin() as session:
        topics = {t.id: t for t in current_topics(session)}
        query = select(
            CallInsight.recording_id, Recording.key, CallInsight.topic_id,
            CallInsight.customer_sentiment, CallInsight.sentiment_start,
            CallInsight.sentiment_end, CallInsight.summary, CallInsight.signals,
            Recording.queue, Recording.agent, _call_time(),
        )  # fmt: skip
        calls = list(session.execute(_filtered(query, filters).order_by(Recording.key)).all())
        members: dict[int | None, list[Any]] = defaultdict(list)
        for row in calls:
            members[row[2] if row[2] in topics else None].append(row)
        newest = max((as_utc(r[10]) for r in calls if r[10] is not None), default=utcnow())
        topic_rows = []
        for topic_id, rows in sorted(members.items(), key=lambda kv: -len(kv[1])):
            if topic_id is None:
                continue
            topic = topics[topic_id]
            centre = vector_from(topic.centroid)
            keys = {r[0]: r[1] for r in rows}
            asked = _questions(session, list(keys), centre, EXAMPLES)
            topic_rows.append(
                {
                    "id": topic_id,
                    "label": topic.label,
                    "keywords": list(topic.keywords),
                    "calls": [r[1] for r in rows],
                    "questions": [
                        {"text": t, "key": keys[rid], "start_s": round(s, 2)} for t, rid, s in asked
                    ],
                    "share_negative": _share_negative(rows, section.negative_below),
                    "mean_sentiment": _mean([r[3] for r in rows]),
                    "trend": _trend(rows, newest),
                }
            )
        return {
            "topics": topic_rows,
            "unassigned": [r[1] for r in members.get(None, [])],
            "calls": [
                {
                    "key": r[1],
                    "topic": topics[r[2]].label if r[2] in topics else None,
                    "customer_sentiment": _round(r[3]),
                    "sentiment_start": _round(r[4]),
                    "sentiment_end": _round(r[5]),
                    "signals": list(r[7] or []),
                    "summary": r[6],
                }
                for r in calls
            ],
            "by_queue": _by(calls, 8, section.negative_below),
            "by_agent": _by(calls, 9, section.negative_below),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 3)


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return _round(float(np.mean(known))) if known else None


def _share_negative(rows: list[Any], below: float) -> float | None:
    known = [r[3] for r in rows if r[3] is not None]
    return round(sum(v < below for v in known) / len(known), 3) if known else None


def _trend(rows: list[Any], newest: datetime) -> dict[str, int]:
    """Calls in the last 7 days of the report and in the 7 days before."""
    week = timedelta(days=7)
    times = [as_utc(r[10]) for r in rows if r[10] is not None]
    return {
        "last_7_days": sum(newest - week < t <= newest for t in times),
        "previous_7_days": sum(newest - 2 * week < t <= newest - week for t in times),
    }


def _by(calls: list[Any], column: int, below: float) -> list[dict[str, Any]]:
    groups: dict[str, list[Any]] = defaultdict(list)
    for row in calls:
        groups[row[column] or "(none)"].append(row)
    return [
        {"name": name, "calls": len(rows), "mean_sentiment": _mean([r[3] for r in rows]),
         "share_negative": _share_negative(rows, below)}
        for name, rows in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    ]  # fmt: skip


def as_json(report: dict[str, Any]) -> str:
    return json.dumps(report, ensure_ascii=False, indent=1)


def plot(report: dict[str, Any], path: Path) -> None:
    """A PNG bar chart: calls per topic, the unhappy share of each in red."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    topics = report["topics"][:15]
    labels = [t["label"] for t in topics][::-1]
    totals = [len(t["calls"]) for t in topics][::-1]
    unhappy = [len(t["calls"]) * (t["share_negative"] or 0.0) for t in topics][::-1]
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(topics) + 1.5))
    ax.barh(labels, totals, color="#8fb3d9", label="calls")
    ax.barh(labels, unhappy, color="#d9534f", label="unhappy customers")
    ax.set_xlabel("calls")
    ax.set_title("What customers call about")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def signal_counts(report: dict[str, Any]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for call in report["calls"]:
        counts.update(call["signals"])
    return counts
