"""A call's insights ⇄ their rows (``call_insights``, ``call_questions``), and the topic a
new call joins (the nearest of the current topics, when it is close enough)."""

from __future__ import annotations

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from callscribe.models import CallInsight, CallQuestion, Recording, Topic
from callscribe.models.base import utcnow

from ..insights.call import CallInsights
from ..insights.topics import nearest


def vector_bytes(vector: np.ndarray) -> bytes:
    """A topic vector as stored: float16, little-endian (768 bytes for 384 values)."""
    return np.asarray(vector, "<f2").tobytes()


def vector_from(data: bytes) -> np.ndarray:
    return np.frombuffer(data, "<f2").astype(np.float32)


def current_topics(session: Session) -> list[Topic]:
    """The latest clustering's topics."""
    generation = select(func.max(Topic.generation)).scalar_subquery()
    return list(session.scalars(select(Topic).where(Topic.generation == generation)))


def join_topic(
    session: Session, vector: np.ndarray | None, min_similarity: float
) -> tuple[int | None, float | None]:
    """The current topic a call with topic vector ``vector`` belongs to, and how close it
    is; (None, similarity) when none is close enough, (None, None) without topics."""
    topics = current_topics(session)
    if vector is None or not topics:
        return None, None
    centroids = np.stack([vector_from(t.centroid) for t in topics])
    index, similarity = nearest(vector, centroids)
    return (topics[index].id if similarity >= min_similarity else None), similarity


def replace_insights(
    session: Session, rec: Recording, insights: CallInsights | None, min_similarity: float
) -> None:
    """The recording's insights rows, replaced (none when ``insights`` is None)."""
    session.execute(delete(CallQuestion).where(CallQuestion.recording_id == rec.id))
    session.execute(delete(CallInsight).where(CallInsight.recording_id == rec.id))
    if insights is None:
        return
    topic_id, similarity = join_topic(session, insights.embedding, min_similarity)
    session.add(
        CallInsight(
            recording_id=rec.id,
            transcript_version=rec.version,
            computed_at=utcnow(),
            customer_sentiment=insights.customer_sentiment,
            sentiment_start=insights.sentiment_start,
            sentiment_end=insights.sentiment_end,
            sentiment_min=insights.sentiment_min,
            signals=list(insights.signals),
            problem=insights.problem,
            problem_start_s=insights.problem_start_s,
            answer=insights.answer,
            summary=insights.summary,
            embedding=None if insights.embedding is None else vector_bytes(insights.embedding),
            topic_id=topic_id,
            topic_similarity=similarity,
            models=insights.models,
        )
    )
    rows = insights.question_embeddings
    for i, question in enumerate(insights.questions):
        session.add(
            CallQuestion(
                recording_id=rec.id,
                start_s=question.start,
                end_s=question.end,
                text=question.text,
                sentiment=question.sentiment,
                embedding=None if rows is None else vector_bytes(rows[i]),
            )
        )
