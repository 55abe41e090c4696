"""Full-text search at archive scale on PostgreSQL: N synthetic segments (call-center words,
names and numbers; both speakers; English) over M recordings, then two-word queries with a
speaker filter, top 20, through ``callscribe.models.search.search``.

    .venv/bin/python bench/search.py [--segments 1000000] [--recordings 20000] \\
        [--queries 200] [--admin-url postgresql://postgres@127.0.0.1:5432/test]

Creates (and drops) a scratch database on that server; loads with COPY (the generated
``search`` column and its GIN index are maintained as rows arrive), then VACUUM ANALYZE.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg2
from common import scratch_database, write_results
from sqlalchemy import text

from callscribe.models.db import make_engine, session_factory, upgrade
from callscribe.models.search import search

WORDS = """
account balance bill billing charge charged credit debit card payment pay paid refund refunds
cancel cancelled cancellation subscription plan upgrade downgrade renew renewal contract fee
fees late overdue interest rate discount promotion offer price prices cost costs order orders
shipping shipped delivery delivered package tracking return returned exchange warranty repair
replacement broken damaged missing wrong item product device phone router modem internet
service outage connection slow speed signal network wifi password login username email address
verify verification identity security question code pin reset locked unlock fraud dispute
transaction statement invoice receipt number confirm confirmation reference ticket case complaint
manager supervisor transfer hold wait minutes seconds today tomorrow yesterday week month year
morning afternoon evening thank thanks please sorry help understand issue problem resolve
resolved fixed working install installation appointment technician visit schedule reschedule
available unavailable policy terms conditions agreement notice letter mail online website app
portal settings update updated change changed name birth date zip city street apartment move
moving new old current previous next last first second third call called calling callback
message voicemail text support customer agent representative department team system computer
error screen button click download upload file document form signup register registration
insurance claim coverage deductible premium quote estimate approval approved denied pending
processing process processed review reviewed escalate escalation feedback survey rating
loyalty points reward rewards gift voucher coupon checkout cart store branch location hours
open closed weekend holiday emergency urgent immediately soon later again still already
never always usually maybe definitely absolutely exactly correct right okay sure great fine
good bad terrible frustrated happy satisfied disappointed angry confused concerned worried
""".split()
FILLER = "i you we the a to and of is it that for on my your this with was can be have do".split()
NAMES = """james mary john patricia robert jennifer michael linda william elizabeth david
barbara richard susan joseph jessica thomas sarah charles karen christopher lisa daniel nancy
matthew betty anthony margaret mark sandra donald ashley steven kimberly paul emily andrew donna
joshua michelle kenneth carol kevin amanda brian melissa george deborah smith johnson williams
brown jones garcia miller davis rodriguez martinez hernandez lopez gonzalez wilson anderson
taylor moore jackson martin lee perez thompson white harris sanchez clark ramirez lewis""".split()
SEGMENT_COLUMNS = (
    "id, recording_id, job_id, window_id, channel, speaker, start_s, end_s, text, language"
)


def sentence(rng: random.Random, weights: list[float]) -> str:
    """6–20 words: mostly vocabulary (Zipf-weighted) and filler, now and then a name or a
    number."""
    size = rng.randint(6, 20)
    words = rng.choices(WORDS, cum_weights=weights, k=size)
    for i in range(size):
        roll = rng.random()
        if roll < 0.35:
            words[i] = rng.choice(FILLER)
        elif roll < 0.39:
            words[i] = rng.choice(NAMES).capitalize()
        elif roll < 0.42:
            words[i] = str(rng.randint(10, 999_999))
    return " ".join(words).capitalize() + "."


def copy_rows(
    cur: Any, table: str, columns: str, rows: Iterator[tuple[Any, ...]], batch: int = 100_000
) -> None:
    """COPY rows (tab-separated, \\N for NULL) into ``table`` in batches."""

    def flush(lines: list[str]) -> None:
        cur.copy_expert(f"COPY {table} ({columns}) FROM STDIN", io.StringIO("".join(lines)))

    lines: list[str] = []
    for row in rows:
        lines.append("\t".join("\\N" if v is None else str(v) for v in row) + "\n")
        if len(lines) >= batch:
            flush(lines)
            lines = []
    if lines:
        flush(lines)


def load(url: str, segments: int, recordings: int, seed: int) -> dict[str, float]:
    """The corpus: one source; per recording one job, a window per channel, its share of
    the segments alternating agent/customer 6 s apart. Returns seconds per phase."""
    rng = random.Random(seed)
    weights = list(_cumulative(_zipf()))
    start = datetime(2024, 1, 1, tzinfo=UTC)
    per = segments // recordings
    timings: dict[str, float] = {}
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        began = time.perf_counter()
        cur.execute(
            "INSERT INTO sources (id, uri, kind, created_at) "
            "VALUES (1, 's3://archive/calls', 's3', now())"
        )
        copy_rows(
            cur,
            "recordings",
            "id, source_id, key, uri, version, status, metadata, "
            "transcript_version, discovered_at, updated_at, finished_at",
            (
                (
                    r,
                    1,
                    f"calls/{r:06d}.wav",
                    f"s3://archive/calls/{r:06d}.wav",
                    1,
                    "done",
                    json.dumps({"team": rng.choice(["billing", "support", "sales"])}),
                    1,
                    start,
                    start,
                    start + timedelta(minutes=r),
                )
                for r in range(1, recordings + 1)
            ),
        )
        copy_rows(
            cur,
            "jobs",
            "id, recording_id, seq, version, start_s, end_s, is_last, status, attempts, queued_at",
            (
                (r, r, 0, 1, 0, 6 * per + 6, True, "done", 1, start)
                for r in range(1, recordings + 1)
            ),
        )
        copy_rows(
            cur,
            "windows",
            "id, job_id, recording_id, channel, start_s, end_s, speech_s, pieces, status",
            (
                (2 * r - c, r, r, c, 0, 6 * per + 6, 30, "[[0, 30]]", "done")
                for r in range(1, recordings + 1)
                for c in (0, 1)
            ),
        )
        timings["load_recordings_s"] = time.perf_counter() - began
        began = time.perf_counter()
        copy_rows(
            cur,
            "segments",
            SEGMENT_COLUMNS,
            (
                (
                    i + 1,
                    i // per + 1,
                    i // per + 1,
                    2 * (i // per + 1) - i % 2,
                    i % 2,
                    "customer" if i % 2 else "agent",
                    6.0 * (i % per),
                    6.0 * (i % per) + 5.5,
                    sentence(rng, weights),
                    "en",
                )
                for i in range(per * recordings)
            ),
        )
        timings["load_segments_s"] = time.perf_counter() - began
    conn.close()
    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        began = time.perf_counter()
        cur.execute("VACUUM ANALYZE")
        timings["vacuum_analyze_s"] = time.perf_counter() - began
        cur.execute(
            "SELECT pg_size_pretty(pg_relation_size('ix_segments_search')), "
            "pg_size_pretty(pg_table_size('segments'))"
        )
        index_size, table_size = cur.fetchone()
    conn.close()
    return {
        **{k: round(v, 1) for k, v in timings.items()},
        "gin_index_size": index_size,
        "segments_table_size": table_size,
    }


def _zipf() -> Iterator[float]:
    """How often each vocabulary word is used (its rank in ``WORDS`` to the power -0.9)."""
    return (1 / (rank + 1) ** 0.9 for rank in range(len(WORDS)))


def _cumulative(values: Iterator[float]) -> Iterator[float]:
    total = 0.0
    for value in values:
        total += value
        yield total


def run_queries(url: str, count: int, seed: int, frequent: bool) -> dict[str, Any]:
    """``count`` two-word queries, alternating the speaker filter: vocabulary words drawn
    uniformly (common and rare ones), or as often as they occur (``frequent``: many
    matches to rank). Milliseconds per query, and matches per query."""
    rng = random.Random(seed + 1)
    weights = list(_cumulative(_zipf())) if frequent else None
    queries = []
    while len(queries) < count:
        pair = rng.choices(WORDS, cum_weights=weights, k=2)
        if pair[0] != pair[1]:
            queries.append((" ".join(pair), ("agent", "customer")[len(queries) % 2]))
    engine = make_engine(url)
    factory = session_factory(engine)
    times: list[float] = []
    with factory() as session:
        for query, speaker in queries[:10]:  # warm-up, not counted
            search(session, query, speaker=speaker)
        for query, speaker in queries:
            began = time.perf_counter()
            hits = search(session, query, speaker=speaker, limit=20)
            times.append((time.perf_counter() - began) * 1000)
            assert len(hits) <= 20
        matches = [_count(session, q, s) for q, s in queries]
        plan = (
            session.execute(
                text(
                    "EXPLAIN SELECT id FROM segments WHERE language = 'en' AND search @@ "
                    "websearch_to_tsquery('english', :q)"
                ),
                {"q": queries[0][0]},
            )
            .scalars()
            .all()
        )
    engine.dispose()
    ordered = sorted(times)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))], 1)

    return {
        "queries": count,
        "p50_ms": pct(50),
        "p95_ms": pct(95),
        "p99_ms": pct(99),
        "mean_ms": round(statistics.fmean(times), 1),
        "max_ms": round(ordered[-1], 1),
        "matches_median": int(statistics.median(matches)),
        "matches_max": max(matches),
        "uses_gin_index": any("ix_segments_search" in line for line in plan),
    }


def _count(session: Any, query: str, speaker: str) -> int:
    return int(
        session.execute(
            text(
                "SELECT count(*) FROM segments WHERE language = 'en' AND speaker = :s "
                "AND search @@ websearch_to_tsquery('english', :q)"
            ),
            {"q": query, "s": speaker},
        ).scalar_one()
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--segments", type=int, default=1_000_000)
    parser.add_argument("--recordings", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args(argv)
    with scratch_database(args.admin_url) as url:
        upgrade(url)
        loaded = load(url, args.segments, args.recordings, args.seed)
        results = {
            mix: run_queries(url, args.queries, args.seed, mix == "frequent")
            for mix in ("uniform", "frequent")
        }
        _drop_groups(url)
    record = {"segments": args.segments, "recordings": args.recordings, "load": loaded, **results}
    rows = [
        f"{args.segments:,} segments over {args.recordings:,} recordings: loaded (COPY) "
        f"in {loaded['load_segments_s']} s, GIN index {loaded['gin_index_size']}, table "
        f"{loaded['segments_table_size']}.",
        "",
        "| query words | queries | p50 | p95 | p99 | mean | max | matches median / max |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for mix, r in results.items():
        rows.append(
            f"| {mix} | {r['queries']} | {r['p50_ms']} ms | {r['p95_ms']} ms | "
            f"{r['p99_ms']} ms | {r['mean_ms']} ms | {r['max_ms']} ms | "
            f"{r['matches_median']:,} / {r['matches_max']:,} |"
        )
    write_results(args.out, "search", record, "\n".join(rows) + "\n")
    return 0


def _drop_groups(url: str, *logins: str) -> None:
    """Roles outlive their database: drop the logins made for this one and the groups the
    migrations made for it (``models.roles.GROUPS``)."""
    from callscribe.models.roles import GROUPS

    name = url.rsplit("/", 1)[1]
    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        for role in [*logins, *(make(name) for make in GROUPS.values())]:
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
            if cur.fetchone():
                cur.execute(f'DROP OWNED BY "{role}"')
                cur.execute(f'DROP ROLE "{role}"')
    conn.close()


if __name__ == "__main__":
    sys.exit(main())
