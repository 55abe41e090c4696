"""What the pages show, read from the database (never written): runs, calls, one call,
search hits. Each function takes an open session and returns plain frozen records."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, select
from sqlalchemy.exc import NoResultFound
from sqlalchemy.orm import Session, sessionmaker

from callscribe.models import (
    CallInsight,
    CallMetric,
    CallQuestion,
    Job,
    Recording,
    RecordingStatus,
    Run,
    Source,
    Topic,
)
from callscribe.models.search import MARK_END, MARK_START, search
from callscribe.workers.records import Segment
from callscribe.workers.results.recordings import load_transcript

TAG = re.compile(r"\[[A-Z][A-Z0-9_]{0,31}\]")
SENTIMENTS = ("negative", "neutral", "positive")
RECORDING_STATUSES = tuple(s.value for s in RecordingStatus)
POSITIVE_ABOVE = 0.25
#: Failures listed per run on the runs page.
FAILURES_SHOWN = 20


@dataclass(frozen=True, kw_only=True)
class RunRow:
    id: int
    source: str
    kind: str
    started_at: datetime
    finished_at: datetime | None
    discovered: int
    new: int
    changed: int
    jobs: int
    done: int
    failed: int
    pending: int
    audio_hours: float
    cost_usd: float
    error: str | None
    failures: list[tuple[int, str, str]] = field(default_factory=list)
    """(recording id, key, reason) of its failed recordings, the first FAILURES_SHOWN."""

    @property
    def usd_per_audio_hour(self) -> float | None:
        return self.cost_usd / self.audio_hours if self.audio_hours > 0 else None

    @property
    def progress(self) -> float:
        total = self.done + self.failed + self.pending
        return (self.done + self.failed) / total if total else 1.0


def runs(session: Session, limit: int = 50) -> list[RunRow]:
    """The latest runs, newest first, with their progress, failures and cost."""
    rows = session.execute(
        select(Run, Source.uri).join(Source).order_by(Run.id.desc()).limit(limit)
    ).all()
    ids = [run.id for run, _ in rows]
    counts: dict[int, dict[str, int]] = {i: {} for i in ids}
    for run_id, status, n in session.execute(
        select(Recording.run_id, Recording.status, func.count())
        .where(Recording.run_id.in_(ids))
        .group_by(Recording.run_id, Recording.status)
    ):
        if run_id is not None:
            counts[run_id][str(status)] = n
    usage = {
        run_id: (audio or 0.0, cost or 0.0)
        for run_id, audio, cost in session.execute(
            select(Job.run_id, func.sum(Job.audio_seconds), func.sum(Job.cost_usd))
            .where(Job.run_id.in_(ids))
            .group_by(Job.run_id)
        )
    }
    failures: dict[int, list[tuple[int, str, str]]] = {i: [] for i in ids}
    for run_id in ids:
        failures[run_id] = [
            (rid, key, error or "")
            for rid, key, error in session.execute(
                select(Recording.id, Recording.key, Recording.error)
                .where(
                    Recording.run_id == run_id,
                    Recording.status.in_([RecordingStatus.FAILED, RecordingStatus.EXPORT_FAILED]),
                )
                .order_by(Recording.key)
                .limit(FAILURES_SHOWN)
            )
        ]
    out = []
    for run, uri in rows:
        c = counts[run.id]
        failed = c.get("failed", 0) + c.get("export_failed", 0)
        done = c.get("done", 0)
        audio_s, cost = usage.get(run.id, (0.0, 0.0))
        out.append(
            RunRow(
                id=run.id,
                source=uri,
                kind=run.kind,
                started_at=run.started_at,
                finished_at=run.finished_at,
                discovered=run.discovered,
                new=run.new,
                changed=run.changed,
                jobs=run.jobs_enqueued,
                done=done,
                failed=failed,
                pending=sum(c.values()) - done - failed,
                audio_hours=audio_s / 3600,
                cost_usd=cost,
                error=run.error,
                failures=failures[run.id],
            )
        )
    return out


@dataclass(frozen=True, kw_only=True)
class CallFilters:
    """The calls page's filters (each None: any)."""

    source: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    queue: str | None = None
    agent: str | None = None
    status: str | None = None
    topic: int | None = None
    sentiment: str | None = None


@dataclass(frozen=True, kw_only=True)
class CallRow:
    id: int
    key: str
    source: str
    call_time: datetime | None
    duration_s: float | None
    queue: str | None
    agent: str | None
    status: str
    error: str | None
    sentiment: float | None
    topic: str | None


def call_time() -> Any:
    """When a call happened: its metadata's start, else when it was registered."""
    return func.coalesce(Recording.started_at, Recording.discovered_at)


def _sentiment(band: str | None, negative_below: float) -> list[Any]:
    score = CallInsight.customer_sentiment
    if band == "negative":
        return [score < negative_below]
    if band == "positive":
        return [score > POSITIVE_ABOVE]
    if band == "neutral":
        return [and_(score >= negative_below, score <= POSITIVE_ABOVE)]
    return []


def _filtered(query: Select[Any], f: CallFilters, negative_below: float) -> Select[Any]:
    equal = (
        (Source.uri, f.source),
        (Recording.queue, f.queue),
        (Recording.agent, f.agent),
        (Recording.status, f.status),
        (CallInsight.topic_id, f.topic),
    )
    conditions: list[Any] = [column == value for column, value in equal if value is not None]
    if f.since:
        conditions.append(call_time() >= f.since)
    if f.until:
        conditions.append(call_time() < f.until)
    conditions += _sentiment(f.sentiment, negative_below)
    return query.where(*conditions)


def calls(
    session: Session, f: CallFilters, *, page: int, page_size: int, negative_below: float
) -> tuple[list[CallRow], int]:
    """One page of calls matching ``f``, latest first, and how many match in all."""
    base = (
        select(Recording.id)
        .join(Source, Source.id == Recording.source_id)
        .outerjoin(CallInsight, CallInsight.recording_id == Recording.id)
    )
    total = session.scalar(
        select(func.count()).select_from(_filtered(base, f, negative_below).subquery())
    )
    rows = session.execute(
        _filtered(
            select(
                Recording.id,
                Recording.key,
                Source.uri,
                call_time(),
                Recording.duration_s,
                Recording.queue,
                Recording.agent,
                Recording.status,
                Recording.error,
                CallInsight.customer_sentiment,
                Topic.label,
            )
            .join(Source, Source.id == Recording.source_id)
            .outerjoin(CallInsight, CallInsight.recording_id == Recording.id)
            .outerjoin(Topic, Topic.id == CallInsight.topic_id),
            f,
            negative_below,
        )
        .order_by(call_time().desc(), Recording.id.desc())
        .limit(page_size)
        .offset(max(0, page - 1) * page_size)
    ).all()
    return [
        CallRow(
            id=r[0],
            key=r[1],
            source=r[2],
            call_time=r[3],
            duration_s=r[4],
            queue=r[5],
            agent=r[6],
            status=str(r[7]),
            error=r[8],
            sentiment=r[9],
            topic=r[10],
        )
        for r in rows
    ], int(total or 0)


def choices(session: Session) -> dict[str, list[Any]]:
    """What the filters offer: sources, queues, agents, topics (id, label)."""
    distinct = lambda column: [  # noqa: E731
        v
        for (v,) in session.execute(
            select(column).where(column.is_not(None)).distinct().order_by(column).limit(500)
        )
    ]
    return {
        "sources": distinct(Source.uri),
        "queues": distinct(Recording.queue),
        "agents": distinct(Recording.agent),
        "topics": [
            (tid, label)
            for tid, label in session.execute(
                select(Topic.id, Topic.label).order_by(Topic.calls.desc())
            )
        ],
        "statuses": [s.value for s in RecordingStatus],
        "sentiments": list(SENTIMENTS),
    }


@dataclass(frozen=True, kw_only=True)
class Turn:
    """One segment as the call page shows it."""

    speaker: str
    channel: int
    start: float
    end: float
    words: list[tuple[float, float, str, bool]]
    """(start, end, text, is a redaction tag) of each word."""


@dataclass(frozen=True, kw_only=True)
class CallPage:
    recording: Recording
    source: str
    turns: list[Turn]
    metrics: dict[str, Any] | None
    insight: dict[str, Any] | None
    questions: list[tuple[float, str, float | None]]
    metadata: dict[str, Any]


def _turn(segment: Segment) -> Turn:
    words = [
        (w.start, w.end, w.word.strip(), bool(TAG.fullmatch(w.word.strip()))) for w in segment.words
    ]
    if not words:  # a segment stored without word times: one piece over the segment
        text = segment.text.strip()
        words = [(segment.start, segment.end, text, bool(TAG.fullmatch(text)))]
    return Turn(
        speaker=segment.speaker,
        channel=segment.channel,
        start=segment.start,
        end=segment.end,
        words=words,
    )


def merge_turns(turns: list[Turn], gap_s: float = 1.5) -> list[Turn]:
    """Consecutive segments of one speaker on one channel, less than ``gap_s`` apart, as
    one turn of the dialogue."""
    merged: list[Turn] = []
    for turn in turns:
        last = merged[-1] if merged else None
        if (
            last is not None
            and (last.speaker, last.channel) == (turn.speaker, turn.channel)
            and turn.start - last.end < gap_s
        ):
            merged[-1] = Turn(
                speaker=last.speaker,
                channel=last.channel,
                start=last.start,
                end=max(last.end, turn.end),
                words=last.words + turn.words,
            )
        else:
            merged.append(turn)
    return merged


def _columns(row: Any, skip: tuple[str, ...]) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in row.__table__.columns if c.key not in skip}


def call_page(factory: sessionmaker[Session], recording_id: int) -> CallPage | None:
    """Everything the call page shows, or None if there is no such recording."""
    try:
        rec, segments = load_transcript(factory, recording_id)
    except NoResultFound:
        return None
    with factory.begin() as session:
        metric = session.get(CallMetric, recording_id)
        insight = session.get(CallInsight, recording_id)
        topic = session.get(Topic, insight.topic_id) if insight and insight.topic_id else None
        questions = [
            (q.start_s, q.text, q.sentiment)
            for q in session.scalars(
                select(CallQuestion)
                .where(CallQuestion.recording_id == recording_id)
                .order_by(CallQuestion.start_s)
            )
        ]
        insight_view = None
        if insight is not None:
            insight_view = _columns(insight, ("embedding", "recording_id"))
            insight_view["topic"] = topic.label if topic else None
        return CallPage(
            recording=rec,
            source=rec.source.uri,
            turns=merge_turns([_turn(s) for s in segments]),
            metrics=_columns(metric, ("recording_id", "transcript_version", "computed_at"))
            if metric
            else None,
            insight=insight_view,
            questions=questions,
            metadata={
                "call id": rec.call_id,
                "agent": rec.agent,
                "queue": rec.queue,
                "direction": rec.direction,
                "started": rec.started_at,
                **{str(k): v for k, v in (rec.call_meta or {}).items()},
                **{
                    f"file {k}": v
                    for k, v in (rec.meta or {}).items()
                    if not isinstance(v, dict | list)
                },
            },
        )


@dataclass(frozen=True, kw_only=True)
class SearchHit:
    recording_id: int
    key: str
    source: str
    speaker: str
    start_s: float
    pieces: list[tuple[str, bool]]
    """The snippet as (text, matched) pieces, to be escaped one by one."""


def snippet_pieces(snippet: str) -> list[tuple[str, bool]]:
    """``a «b» c`` as [("a ", False), ("b", True), (" c", False)]."""
    pieces: list[tuple[str, bool]] = []
    for i, part in enumerate(re.split(f"[{MARK_START}{MARK_END}]", snippet)):
        if part:
            pieces.append((part, i % 2 == 1))
    return pieces


def search_hits(
    session: Session, query: str, *, page: int, page_size: int, **filters: Any
) -> list[SearchHit]:
    """Full-text hits (``callscribe.models.search``), one page."""
    hits = search(session, query, limit=page_size, offset=max(0, page - 1) * page_size, **filters)
    return [
        SearchHit(
            recording_id=h.recording_id,
            key=h.key,
            source=h.source_uri,
            speaker=h.speaker,
            start_s=h.start_s,
            pieces=snippet_pieces(h.snippet),
        )
        for h in hits
    ]
