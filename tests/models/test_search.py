"""Full-text search (migration 0010, ``models.search``) on SQLite and PostgreSQL: syntax,
filters, pagination, current transcripts only, hostile queries, and the same hits on both
databases."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import delete, update
from sqlalchemy.orm import Session, sessionmaker

from callscribe.models import (
    Job,
    JobStatus,
    Recording,
    RecordingStatus,
    Segment,
    Source,
    SourceKind,
    Window,
    WindowStatus,
)
from callscribe.models.db import downgrade, make_engine, session_factory, upgrade
from callscribe.models.search import Hit, context, parse_query, search

A, B = "file:///calls/a", "s3://bucket/b"
AGENT, CUSTOMER = "agent", "customer"


@dataclass
class Call:
    """A recording: its source, key, turns (speaker, text), and how it is stored."""

    source: str
    key: str
    turns: list[tuple[str, str]]
    finished: datetime | None = datetime(2024, 1, 10, 12, tzinfo=UTC)
    meta: dict[str, Any] = field(default_factory=dict)
    #: Turns of other versions of the object: (job version, text) — never found.
    other_versions: list[tuple[int, str]] = field(default_factory=list)
    version: int = 1
    language: str | None = None


CALLS = [
    Call(
        A,
        "2024/01/one.wav",
        [
            (AGENT, "Thank you for calling, how can I help you today?"),
            (CUSTOMER, "I was charged a late fee on my account."),
            (AGENT, "I can waive the late fee for you."),
            (CUSTOMER, "Great, and please cancel my subscription."),
        ],
        meta={"team": "billing", "priority": 1},
    ),
    Call(
        A,
        "2024/02/two.wav",
        [
            (AGENT, "Welcome to support, what seems to be the problem?"),
            (CUSTOMER, "My internet is down again and I want a refund."),
            (AGENT, "I am sorry, a refund is possible after the fee is reviewed."),
            (CUSTOMER, "The fee was late, not my fault."),
        ],
        finished=datetime(2024, 2, 15, 9, tzinfo=UTC),
        meta={"team": "support", "vip": True},
    ),
    Call(
        B,
        "three.wav",
        [
            (AGENT, "Your refund was processed."),
            (CUSTOMER, "Thanks, cancel the order please."),
        ],
        finished=datetime(2024, 3, 20, 17, tzinfo=UTC),
        meta={"team": "billing"},
        version=2,
        other_versions=[
            (1, "An old refund transcript with a late fee."),
            (3, "A pending refund transcript still being written."),
        ],
    ),
    Call(B, "four.wav", [(CUSTOMER, "Refund my late fee now.")], finished=None),
    *[
        Call(
            B,
            f"filler-{i:02d}.wav",
            [(AGENT if j % 2 else CUSTOMER, "Please verify the account number.") for j in range(3)],
            finished=datetime(2024, 4, 1, tzinfo=UTC) + timedelta(hours=i),
        )
        for i in range(9)
    ],
]


def load(url: str, calls: list[Call], revision: str = "head") -> sessionmaker[Session]:
    """Migrate ``url`` and store the calls: one job, window and segment per turn, 5 s
    apart; an unfinished call has no transcript version."""
    upgrade(url, revision)
    factory = session_factory(make_engine(url))
    with factory.begin() as session:
        sources = {uri: Source(uri=uri, kind=SourceKind.LOCAL) for uri in (A, B)}
        session.add_all(sources.values())
        for call in calls:
            recording = Recording(
                source=sources[call.source],
                key=call.key,
                uri=f"{call.source}/{call.key}",
                version=call.version,
                meta=call.meta,
                finished_at=call.finished,
                status=RecordingStatus.DONE if call.finished else RecordingStatus.RUNNING,
                transcript_version=call.version if call.finished else None,
            )
            session.add(recording)
            session.flush()
            turns = [(call.version, speaker, line) for speaker, line in call.turns]
            turns += [(version, AGENT, line) for version, line in call.other_versions]
            for seq, (version, speaker, line) in enumerate(turns):
                add_turn(
                    session,
                    recording.id,
                    seq if version == call.version else -1 - seq,
                    version,
                    speaker,
                    line,
                    5.0 * seq,
                    call.language,
                )
    return factory


def add_turn(
    session: Session,
    recording_id: int,
    seq: int,
    version: int,
    speaker: str,
    line: str,
    at: float,
    language: str | None,
) -> None:
    job = Job(
        recording_id=recording_id,
        seq=seq,
        version=version,
        start_s=at,
        end_s=at + 5,
        status=JobStatus.DONE,
    )
    session.add(job)
    session.flush()
    channel = 0 if speaker == AGENT else 1
    window = Window(
        job_id=job.id,
        recording_id=recording_id,
        channel=channel,
        start_s=at,
        end_s=at + 4,
        speech_s=4.0,
        pieces=[[at, at + 4]],
        status=WindowStatus.DONE,
    )
    session.add(window)
    session.flush()
    session.add(
        Segment(
            recording_id=recording_id,
            job_id=job.id,
            window_id=window.id,
            channel=channel,
            speaker=speaker,
            start_s=at,
            end_s=at + 4,
            text=line,
            language=language,
        )
    )


@pytest.fixture
def db(db_url: str) -> Iterator[sessionmaker[Session]]:
    factory = load(db_url, CALLS)
    yield factory
    bind = factory.kw["bind"]
    bind.dispose()


def found(factory: sessionmaker[Session], query: str, **kwargs: Any) -> list[tuple[str, float]]:
    """(key, start) of each hit, in rank order."""
    with factory() as session:
        return [(h.key, h.start_s) for h in search(session, query, limit=100, **kwargs)]


ONE, TWO, THREE = "2024/01/one.wav", "2024/02/two.wav", "three.wav"


def test_words_phrases_or_and_not(db: sessionmaker[Session]) -> None:
    assert sorted(found(db, "late fee")) == [(ONE, 5.0), (ONE, 10.0), (TWO, 15.0)]
    assert sorted(found(db, '"late fee"')) == [(ONE, 5.0), (ONE, 10.0)]
    assert sorted(found(db, "LATE Fee")) == sorted(found(db, "late fee"))
    assert sorted(found(db, "refund or cancel")) == [
        (ONE, 15.0),
        (TWO, 5.0),
        (TWO, 10.0),
        (THREE, 0.0),
        (THREE, 5.0),
    ]
    assert sorted(found(db, "refund -fee")) == [(TWO, 5.0), (THREE, 0.0)]
    assert sorted(found(db, 'fee -"late fee"')) == [(TWO, 10.0), (TWO, 15.0)]
    assert sorted(found(db, "waive or refund -internet processed")) == [(ONE, 10.0), (THREE, 0.0)]
    assert found(db, "-fee") == [] and found(db, "fee or -late") == found(db, "fee")
    assert found(db, "nonexistentword") == []


def test_filters(db: sessionmaker[Session]) -> None:
    assert found(db, "refund", speaker=CUSTOMER) == [(TWO, 5.0)]
    assert sorted(found(db, "refund", speaker=AGENT)) == [(TWO, 10.0), (THREE, 0.0)]
    assert found(db, "refund", source_uri=B) == [(THREE, 0.0)]
    assert found(db, "refund", source_uri="s3://nowhere") == []
    feb, mar = datetime(2024, 2, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC)
    assert {k for k, _ in found(db, "fee", since=feb, until=mar)} == {TWO}
    assert {k for k, _ in found(db, "fee", until=feb)} == {ONE}
    assert {k for k, _ in found(db, "refund", since=mar)} == {THREE}
    # another zone: 2024-02-15 09:00 UTC is 10:00 at UTC+1; naive values are UTC
    plus_one = timezone(timedelta(hours=1))
    assert {
        k for k, _ in found(db, "fee", since=datetime(2024, 2, 15, 10, 1, tzinfo=plus_one))
    } == set()
    assert {k for k, _ in found(db, "fee", since=datetime(2024, 2, 15, 9))} == {TWO}


def test_metadata_filter(db: sessionmaker[Session]) -> None:
    assert sorted(found(db, "cancel", where={"team": "billing"})) == [(ONE, 15.0), (THREE, 5.0)]
    assert sorted(found(db, "refund", where={"vip": "true"})) == [(TWO, 5.0), (TWO, 10.0)]
    assert {k for k, _ in found(db, "fee", where={"priority": "1"})} == {ONE}
    assert found(db, "fee", where={"team": "billing", "priority": "2"}) == []
    for key in ['we"ird', "a.b", "$.team", "'; DROP TABLE recordings; --", ""]:
        assert found(db, "fee", where={key: "billing"}) == []


def test_pagination_is_stable(db: sessionmaker[Session]) -> None:
    with db() as session:
        everything = search(session, "verify account", limit=100)
        pages = [search(session, "verify account", limit=10, offset=o) for o in (0, 10, 20)]
        assert search(session, "verify account", limit=0) == []
        with pytest.raises(ValueError):
            search(session, "verify account", offset=-1)
    assert len(everything) == 27
    assert [h for page in pages for h in page] == everything
    assert [len(p) for p in pages] == [10, 10, 7]
    key = [(-h.rank, h.recording_id, h.start_s, h.segment_id) for h in everything]
    assert key == sorted(key) and len({h.segment_id for h in everything}) == 27


def test_only_current_transcripts(db: sessionmaker[Session]) -> None:
    assert found(db, "old") == [] and found(db, "pending") == []
    assert all(key != "four.wav" for key, _ in found(db, "refund"))  # no transcript yet
    assert found(db, "transcript") == []


def test_hits_snippets_and_context(db: sessionmaker[Session]) -> None:
    with db() as session:
        hits = search(session, "waive")
        assert len(hits) == 1
        hit = hits[0]
        assert isinstance(hit, Hit) and hit.rank > 0
        assert (hit.key, hit.source_uri, hit.speaker, hit.channel) == (ONE, A, AGENT, 0)
        assert (hit.start_s, hit.end_s) == (10.0, 14.0)
        assert hit.snippet == "I can «waive» the late fee for you."
        snippet = search(session, "late fee", speaker=CUSTOMER, source_uri=A)[0].snippet
        assert "«late»" in snippet and "«fee»" in snippet
        around = context(session, hit, 1)
        assert [s.start_s for s in around] == [5.0, 10.0, 15.0]
        assert [s.speaker for s in around] == [CUSTOMER, AGENT, CUSTOMER]
        assert [s.start_s for s in context(session, hit, 10)] == [0.0, 5.0, 10.0, 15.0]
        assert [s.id for s in context(session, hit, 0)] == [hit.segment_id]
        third = search(session, "processed")[0]
        assert [s.text for s in context(session, third, 5)] == [  # not the other versions
            "Your refund was processed.",
            "Thanks, cancel the order please.",
        ]


HOSTILE = [
    '"',
    '""',
    '"""',
    "(",
    ")",
    "()",
    "NEAR(refund fee)",
    "NEAR",
    "*",
    "refund*",
    ":",
    "text:refund",
    "'",
    "''",
    "\\",
    "-",
    "--",
    "- -refund",
    "or",
    "OR OR",
    "and",
    "NOT",
    "AND refund",
    '"unclosed refund',
    "\x00refund",
    "segments_fts",
    "^refund",
    "{text}: refund",
    "'; DROP TABLE segments; --",
    "\u0301",
    "🙂",
    "refund:*",
    "!refund",
    "refund & fee | late",
    "<->",
    "a <2> b",
    '-"',
    '"-"',
    "   ",
    "",
    "_",
    "refund_fee",
    "e-mail",
    "49.99",
    "$$",
    "%",
    "?",
    "[CARD]",
]


def test_hostile_queries_never_raise(db: sessionmaker[Session]) -> None:
    with db() as session:
        for query in HOSTILE:
            assert isinstance(search(session, query), list), query
        assert {h.key for h in search(session, '"unclosed refund')} == set()
        assert {h.key for h in search(session, "NEAR(refund")} == set()
        assert {h.key for h in search(session, "\x00refund")} == {TWO, THREE}


def test_index_follows_changes(db: sessionmaker[Session]) -> None:
    """SQLite's triggers and PostgreSQL's generated column keep up with writes."""
    with db.begin() as session:
        session.execute(
            update(Segment)
            .where(Segment.text == "Your refund was processed.")
            .values(text="Your chargeback was processed.")
        )
        session.execute(delete(Recording).where(Recording.key == ONE))
    assert found(db, "chargeback") == [(THREE, 0.0)]
    assert found(db, "refund", source_uri=B) == []
    assert found(db, "waive") == []


def test_migration_indexes_existing_rows(db_url: str) -> None:
    # stored through today's ORM, then taken back to before 0010 (later migrations add
    # columns the ORM would write), and up again: 0010 indexes the rows already there
    load(db_url, CALLS[:1]).kw["bind"].dispose()
    downgrade(db_url, "0009")
    upgrade(db_url)
    factory = session_factory(make_engine(db_url))
    assert found(factory, "waive") == [(ONE, 10.0)]
    factory.kw["bind"].dispose()


def test_query_rendering() -> None:
    parsed = parse_query('late "late fee" -refund or cancel -"the order" or -fee or OR')
    assert [(a.include, a.exclude) for a in parsed.alternatives] == [
        (("late", "late fee"), ("refund",)),
        (("cancel",), ("the order",)),
    ]
    assert parsed.websearch() == '"late" "late fee" -"refund" or "cancel" -"the order"'
    assert parsed.fts5() == ('("late" AND "late fee" NOT "refund") OR ("cancel" NOT "the order")')
    assert parse_query('say "hi').alternatives[0].include == ("say", "hi")
    assert parse_query("* : ( ) _").alternatives == ()


QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("late fee", {}),
    ('"late fee"', {}),
    ("refund or cancel", {}),
    ("refund -fee", {}),
    ("fee", {"speaker": CUSTOMER}),
    ("refund", {"source_uri": B}),
    ("fee", {"since": datetime(2024, 2, 1, tzinfo=UTC)}),
    ("verify account", {}),
    ("cancel", {"where": {"team": "billing"}}),
    ('"the fee" or please', {}),
    ("help -today", {}),
    ("account", {"until": datetime(2024, 2, 1, tzinfo=UTC)}),
] + [(q, {}) for q in HOSTILE]


def test_postgresql_and_sqlite_find_the_same(pg_url: str, tmp_path: Any) -> None:
    pg = load(pg_url, CALLS)
    lite = load(f"sqlite:///{tmp_path / 'same.db'}", CALLS)
    try:
        for query, kwargs in QUERIES:
            assert sorted(found(pg, query, **kwargs)) == sorted(found(lite, query, **kwargs)), (
                query,
                kwargs,
            )
    finally:
        pg.kw["bind"].dispose()
        lite.kw["bind"].dispose()


def test_english_segments_are_stemmed_on_postgresql(pg_url: str) -> None:
    english = Call(
        A, "en.wav", [(CUSTOMER, "I wanted refunds for the cancelled orders.")], language="en"
    )
    other = Call(A, "xx.wav", [(CUSTOMER, "refunds cancelled")], language="fr")
    factory = load(pg_url, [english, other])
    try:
        assert found(factory, "refund") == [("en.wav", 0.0)]
        assert sorted(found(factory, "refunds")) == [("en.wav", 0.0), ("xx.wav", 0.0)]
        # excluded in each one's own terms: "cancelled" is "cancel" in English only
        assert found(factory, "refunds -cancel") == [("xx.wav", 0.0)]
        assert found(factory, "the") == []  # only a stop word in English; none in French
        with factory() as session:
            assert "«refunds»" in search(session, "refund")[0].snippet
    finally:
        factory.kw["bind"].dispose()
