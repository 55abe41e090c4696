"""Full-text search over every call's transcript (migration 0010).

Queries use web-search syntax on both databases: words (all must occur), ``"a phrase"``,
``or`` between alternatives, ``-word`` / ``-"a phrase"`` to exclude. The query is parsed
here and handed to the database rebuilt from its terms, each one quoted, so that no input
can raise a syntax error or reach the database as an operator: on PostgreSQL as a
``websearch_to_tsquery`` string, on SQLite as an FTS5 ``MATCH`` expression. A term without
a letter or digit is dropped; an alternative with nothing but exclusions is dropped (FTS5
cannot express "everything but"), and a query left with nothing matches nothing.

PostgreSQL matches ``segments.search`` (English stemming and stop words for segments in
English, the ``simple`` configuration otherwise) and ranks by ``ts_rank_cd``; SQLite
matches ``segments_fts`` (``unicode61``, diacritics removed, no stemming) and ranks by
``-bm25`` (so on both, higher ranks first). For text outside English, and for English text
without stemming differences, both find the same segments; ranks are not comparable
between the two. Only segments of a recording's current transcript count (their job's
``version`` is the recording's ``transcript_version``). Ties are broken by (recording,
start, segment), so pages are stable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    case,
    column,
    func,
    literal_column,
    or_,
    select,
    table,
    text,
    tuple_,
)
from sqlalchemy.orm import Session

from .tables import Job, Recording, Segment, Source

#: On PostgreSQL a query matching more segments than this ranks the first this many the
#: index scan yields (not all of them), so its time stays bounded (``docs/benchmarks.md``);
#: SQLite's FTS5 ranks every match.
MAX_RANKED = 2000
#: Around each matched word in :attr:`Hit.snippet` (brackets would clash with "[CARD]").
MARK_START, MARK_END = "«", "»"
#: What migration 0010 makes outside the ORM: PostgreSQL's column and index, SQLite's FTS5
#: table and its shadow tables.
SEARCH_COLUMN, SEARCH_INDEX = "search", "ix_segments_search"
FTS_TABLES = frozenset(
    {
        "segments_fts",
        "segments_fts_data",
        "segments_fts_idx",
        "segments_fts_docsize",
        "segments_fts_config",
        "segments_fts_content",
    }
)

_FTS = table("segments_fts", column("rowid", Integer))
_FTS_REF: ColumnElement[Any] = literal_column("segments_fts")
_SEARCH: ColumnElement[Any] = literal_column("segments.search")
_TOKEN = re.compile(r'(-*)"([^"]*)"?|([^\s"]+)')


@dataclass(frozen=True, kw_only=True)
class Hit:
    """One matching segment: where it is, its text with matches marked, its rank."""

    recording_id: int
    key: str
    source_uri: str
    segment_id: int
    channel: int
    speaker: str
    start_s: float
    end_s: float
    snippet: str
    rank: float


@dataclass(frozen=True)
class Alternative:
    """Terms (words or phrases) that must all occur, and terms that must not."""

    include: tuple[str, ...]
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParsedQuery:
    """A web-search query: its alternatives (``or``)."""

    alternatives: tuple[Alternative, ...]

    def websearch(self) -> str:
        """For PostgreSQL's ``websearch_to_tsquery``: every term quoted."""
        return " or ".join(
            " ".join([f'"{t}"' for t in a.include] + [f'-"{t}"' for t in a.exclude])
            for a in self.alternatives
        )

    def fts5(self) -> str:
        """An FTS5 ``MATCH`` expression: every term a quoted string."""

        def quoted(term: str) -> str:
            return '"' + term.replace('"', '""') + '"'

        return " OR ".join(
            "("
            + " AND ".join(map(quoted, a.include))
            + "".join(f" NOT {quoted(t)}" for t in a.exclude)
            + ")"
            for a in self.alternatives
        )


def parse_query(query: str) -> ParsedQuery:
    """Words, ``"phrases"`` (an unclosed quote runs to the end), ``or``, ``-`` (exclude)."""
    alternatives: list[Alternative] = []
    include: list[str] = []
    exclude: list[str] = []
    for match in _TOKEN.finditer(query.replace("\x00", " ")):
        dashes, phrase, word = match.groups()
        if word is not None and word.lower() == "or":
            alternatives.append(Alternative(tuple(include), tuple(exclude)))
            include, exclude = [], []
            continue
        term = phrase if word is None else word.lstrip("-")
        negated = bool(dashes) if word is None else word.startswith("-")
        if re.search(r"[^\W_]", term):
            (exclude if negated else include).append(" ".join(term.split()))
    alternatives.append(Alternative(tuple(include), tuple(exclude)))
    return ParsedQuery(tuple(a for a in alternatives if a.include))


def search(
    session: Session,
    query: str,
    *,
    speaker: str | None = None,
    source_uri: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    where: Mapping[str, str] | None = None,
    queue: str | None = None,
    agent: str | None = None,
    limit: int = 20,
    offset: int = 0,
) -> list[Hit]:
    """Segments matching ``query``, best first. ``speaker``: 'agent' or 'customer';
    ``source_uri``: the source's ``uri``; ``since`` (inclusive) and ``until`` (exclusive)
    bound the recording's ``finished_at``; ``queue``, ``agent``: the call's (its metadata,
    docs/metadata.md); ``where``: the recording has these keys with these values (compared
    as text) in its call metadata (a standard field or another column) or its
    ``metadata``."""
    if limit < 0 or offset < 0:
        raise ValueError("limit and offset must not be negative")
    parsed = parse_query(query)
    if not parsed.alternatives or limit == 0:
        return []
    sqlite = session.get_bind().dialect.name == "sqlite"
    filters = _filters(sqlite, speaker, source_uri, since, until, where or {})
    filters += [
        column == value
        for column, value in ((Recording.queue, queue), (Recording.agent, agent))
        if value is not None
    ]
    if sqlite:
        return _search_sqlite(session, parsed, filters, limit, offset)
    return _search_postgresql(session, parsed, filters, limit, offset)


def context(session: Session, hit: Hit, n: int) -> list[Segment]:
    """The ``n`` segments before the hit, the hit's segment and the ``n`` after it, in
    time order: both channels of the recording's current transcript."""
    current = (
        select(Segment)
        .join(Job, Job.id == Segment.job_id)
        .join(Recording, Recording.id == Segment.recording_id)
        .where(
            Segment.recording_id == hit.recording_id, Job.version == Recording.transcript_version
        )
    )
    here = tuple_(Segment.start_s, Segment.id)
    point = tuple_(bindparam("s", hit.start_s), bindparam("i", hit.segment_id))
    before = session.scalars(
        current.where(here < point).order_by(Segment.start_s.desc(), Segment.id.desc()).limit(n)
    ).all()
    after = session.scalars(
        current.where(here >= point).order_by(Segment.start_s, Segment.id).limit(n + 1)
    ).all()
    return [*reversed(before), *after]


def include_name(name: str | None, type_: str, parent_names: Mapping[str, Any]) -> bool:
    """For Alembic's ``include_name``: leave what 0010 makes outside the ORM out of
    autogenerate's comparison (it would otherwise propose dropping it)."""
    if type_ == "table":
        return name not in FTS_TABLES
    if type_ == "column":
        return not (name == SEARCH_COLUMN and parent_names.get("table_name") == "segments")
    return not (type_ == "index" and name == SEARCH_INDEX)


def _filters(
    sqlite: bool,
    speaker: str | None,
    source_uri: str | None,
    since: datetime | None,
    until: datetime | None,
    where: Mapping[str, str],
) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if speaker is not None:
        found.append(Segment.speaker == speaker)
    if source_uri is not None:
        found.append(Source.uri == source_uri)
    if since is not None:
        found.append(Recording.finished_at >= _utc(since))
    if until is not None:
        found.append(Recording.finished_at < _utc(until))
    for i, (key, value) in enumerate(where.items()):
        found.append(_metadata_is(sqlite, i, str(key), str(value)))
    return found


def _utc(value: datetime) -> datetime:
    """Aware in UTC (SQLite stores UTC without a zone; a naive value is taken as UTC)."""
    return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)


#: Call metadata fields stored in columns of their own (``where`` looks there for them).
CALL_COLUMNS = ("call_id", "agent", "queue", "direction")


def _metadata_is(sqlite: bool, i: int, key: str, value: str) -> ColumnElement[bool]:
    """The recording's call metadata has ``key`` with ``value`` (a standard field's column,
    or another column in ``call_meta``), or its ``metadata`` has (any key, bound, never
    spliced; JSON true/false as 'true'/'false', numbers as written)."""
    call: ColumnElement[bool] = (
        getattr(Recording, key) == value
        if key in CALL_COLUMNS
        else _json_has(sqlite, "call_meta", f"c{i}", key, value)
    )
    return or_(call, _json_has(sqlite, "metadata", f"m{i}", key, value))


def _json_has(sqlite: bool, column: str, name: str, key: str, value: str) -> ColumnElement[bool]:
    if not sqlite:
        return func.jsonb_extract_path_text(literal_column(f"recordings.{column}"), key) == value
    return text(
        f"EXISTS (SELECT 1 FROM json_each(recordings.{column}) AS m WHERE m.key = :{name}k "
        f"AND CASE m.type WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' "
        f"ELSE CAST(m.value AS TEXT) END = :{name}v)"
    ).bindparams(**{f"{name}k": key, f"{name}v": value})  # type: ignore[return-value]


def _hits_query(rank: ColumnElement[Any], extra: Sequence[Any] = ()) -> Select[Any]:
    """The columns of a hit (and ``extra``), ranked, over the current transcripts."""
    return _current(
        select(
            Segment.id,
            Segment.recording_id,
            Recording.key,
            Source.uri,
            Segment.channel,
            Segment.speaker,
            Segment.start_s,
            Segment.end_s,
            rank.label("rank"),
            *extra,
        )
    )


def _current(stmt: Select[Any]) -> Select[Any]:
    """``stmt`` over the segments of current transcripts, with their recording and source."""
    return (
        stmt.join(Job, Job.id == Segment.job_id)
        .join(
            Recording,
            and_(Recording.id == Segment.recording_id, Recording.transcript_version == Job.version),
        )
        .join(Source, Source.id == Recording.source_id)
    )


def _hit(row: Any, snippet: str) -> Hit:
    return Hit(
        segment_id=row[0],
        recording_id=row[1],
        key=row[2],
        source_uri=row[3],
        channel=row[4],
        speaker=row[5],
        start_s=row[6],
        end_s=row[7],
        snippet=snippet,
        rank=float(row[8]),
    )


def _search_sqlite(
    session: Session,
    parsed: ParsedQuery,
    filters: list[ColumnElement[bool]],
    limit: int,
    offset: int,
) -> list[Hit]:
    match = _FTS_REF.op("MATCH")(bindparam("q", parsed.fts5()))
    rank = -func.bm25(_FTS_REF)
    stmt = (
        _hits_query(rank)
        .select_from(_FTS)
        .join(Segment, Segment.id == _FTS.c.rowid)
        .where(match, *filters)
        .order_by(rank.desc(), Recording.id, Segment.start_s, Segment.id)
        .limit(limit)
        .offset(offset)
    )
    rows = session.execute(stmt).all()
    if not rows:
        return []
    marked = dict(
        session.execute(
            select(_FTS.c.rowid, func.highlight(_FTS_REF, 0, MARK_START, MARK_END)).where(
                match, _FTS.c.rowid.in_([row[0] for row in rows])
            )
        ).all()
    )
    return [_hit(row, marked[row[0]]) for row in rows]


def _search_postgresql(
    session: Session,
    parsed: ParsedQuery,
    filters: list[ColumnElement[bool]],
    limit: int,
    offset: int,
) -> list[Hit]:
    """Each segment is matched by the query in its own configuration (so an exclusion
    means the same on both sides); the GIN index serves both arms."""
    q = bindparam("q", parsed.websearch(), type_=String())
    english = func.websearch_to_tsquery(literal_column("'english'::regconfig"), q)
    simple = func.websearch_to_tsquery(literal_column("'simple'::regconfig"), q)
    is_english = Segment.language == "en"
    match = or_(
        and_(is_english, _SEARCH.op("@@")(english), func.querytree(english) != "T"),
        and_(
            or_(Segment.language.is_(None), Segment.language != "en"),
            _SEARCH.op("@@")(simple),
            func.querytree(simple) != "T",
        ),
    )
    rank = case(
        (is_english, func.ts_rank_cd(_SEARCH, english)), else_=func.ts_rank_cd(_SEARCH, simple)
    )
    candidates = (
        _current(select(Segment.id).select_from(Segment))
        .where(match, *filters)
        .limit(MAX_RANKED)
        .scalar_subquery()
    )
    page = (
        _hits_query(rank, [Segment.language, Segment.text])
        .where(Segment.id.in_(candidates))
        .order_by(rank.desc(), Recording.id, Segment.start_s, Segment.id)
        .limit(limit)
        .offset(offset)
        .subquery()
    )
    in_english = page.c.language == "en"
    snippet = func.ts_headline(
        case(
            (in_english, literal_column("'english'::regconfig")),
            else_=literal_column("'simple'::regconfig"),
        ),
        page.c.text,
        case((in_english, english), else_=simple),
        f"StartSel={MARK_START}, StopSel={MARK_END}, HighlightAll=true",
    )
    columns = [c for c in page.c if c.name not in ("language", "text")]
    rows = session.execute(
        select(*columns, snippet).order_by(
            page.c.rank.desc(), page.c.recording_id, page.c.start_s, page.c.id
        )
    ).all()
    return [_hit(row, row[-1]) for row in rows]
