"""The review web app at archive scale on PostgreSQL: call page, calls list, search and
the first audio byte, through ``callscribe web`` over real HTTP (one client, keep-alive),
each beside its own floor measured in the same run (the same queries in-process; the
file's first byte read straight from disk).

    .venv/bin/python bench/web.py [--recordings 100000] [--segments 1000000] \\
        [--words-for 10000] [--requests 200] [--admin-url postgresql://…/test]

A scratch database gets ``--recordings`` calls (queue, agent, start time, insights with a
topic and a sentiment) and ``--segments`` segments (bench/search.py's call-center
sentences), with word rows for the segments of ``--words-for`` calls (the call page is
measured on those; a call's words are read by its index, whatever the table's size). The
app reads through a reviewer login. Audio: one real 16-bit call, hard-linked under 50 keys
of a local folder source.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psycopg2
from common import scratch_database, write_results
from search import WORDS, _cumulative, _drop_groups, _zipf, copy_rows, sentence
from sqlalchemy.engine import make_url

from callscribe.demo.calls import make_real_call
from callscribe.models.db import make_engine, session_factory, upgrade
from callscribe.models.roles import make_dashboard_login
from callscribe.models.search import search
from callscribe.web import data
from callscribe.web.users import add_user

QUEUES = ["billing", "support", "sales", "retention", "technical"]
AGENTS = [f"agent{i:02d}" for i in range(50)]
TOPICS = 12
AUDIO_KEYS = 50
PASSWORD = "bench password 1234"


def load(url: str, args: argparse.Namespace, audio_dir: Path) -> dict[str, float]:
    rng = random.Random(args.seed)
    weights = list(_cumulative(_zipf()))
    start = datetime(2026, 9, 1, tzinfo=UTC)
    n, per = args.recordings, args.segments // args.recordings
    timings: dict[str, float] = {}
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        began = time.perf_counter()
        cur.execute(
            "INSERT INTO sources (id, uri, kind, created_at, options) "
            "VALUES (1, %s, 'local', now(), %s)",
            (audio_dir.resolve().as_uri(), '{"redaction": "off"}'),
        )
        copy_rows(
            cur,
            "recordings",
            "id, source_id, key, uri, version, status, metadata, transcript_version, "
            "discovered_at, updated_at, finished_at, started_at, queue, agent, duration_s, "
            "channels",
            (
                (
                    r,
                    1,
                    f"calls/{r:06d}.wav",
                    (audio_dir / f"calls/{r:06d}.wav").as_uri(),
                    1,
                    "done",
                    "{}",
                    1,
                    start,
                    start,
                    start + timedelta(minutes=r),
                    start + timedelta(seconds=r * 77),
                    rng.choice(QUEUES),
                    rng.choice(AGENTS),
                    6.0 * per + 6,
                    2,
                )
                for r in range(1, n + 1)
            ),
        )
        copy_rows(
            cur,
            "jobs",
            "id, recording_id, seq, version, start_s, end_s, is_last, status, attempts, queued_at, "
            "run_id, audio_seconds, cost_usd",
            (
                (r, r, 0, 1, 0, 6 * per + 6, True, "done", 1, start, None, 6 * per + 6, 0.0001)
                for r in range(1, n + 1)
            ),
        )
        copy_rows(
            cur,
            "windows",
            "id, job_id, recording_id, channel, start_s, end_s, speech_s, pieces, status",
            (
                (2 * r - c, r, r, c, 0, 6 * per + 6, 30, "[[0, 30]]", "done")
                for r in range(1, n + 1)
                for c in (0, 1)
            ),
        )
        cur.execute(
            "INSERT INTO topics (id, generation, created_at, label, keywords, centroid, calls) "
            "SELECT g, 1, now(), 'topic ' || g, '[]', '\\x00', 0 FROM generate_series(1, %s) g",
            (TOPICS,),
        )
        copy_rows(
            cur,
            "call_insights",
            "recording_id, transcript_version, computed_at, customer_sentiment, sentiment_start, "
            "sentiment_end, sentiment_min, signals, summary, topic_id, models",
            (
                (
                    r,
                    1,
                    start,
                    round(rng.uniform(-1, 1), 3),
                    0,
                    0,
                    -0.5,
                    "[]",
                    "A summary.",
                    rng.randint(1, TOPICS),
                    "bench",
                )
                for r in range(1, n + 1)
            ),
        )
        timings["load_calls_s"] = time.perf_counter() - began
        began = time.perf_counter()
        texts: dict[int, str] = {}

        def segments() -> Any:
            for i in range(per * n):
                text = sentence(rng, weights)
                if i // per < args.words_for:
                    texts[i + 1] = text
                yield (
                    i + 1,
                    i // per + 1,
                    i // per + 1,
                    2 * (i // per + 1) - i % 2,
                    i % 2,
                    "customer" if i % 2 else "agent",
                    6.0 * (i % per),
                    6.0 * (i % per) + 5.5,
                    text,
                    "en",
                )

        copy_rows(
            cur,
            "segments",
            "id, recording_id, job_id, window_id, channel, speaker, start_s, end_s, text, language",
            segments(),
        )
        timings["load_segments_s"] = time.perf_counter() - began
        began = time.perf_counter()

        def words() -> Any:
            wid = 0
            for sid, text in texts.items():
                i = sid - 1
                tokens = text.split()
                t0, step = 6.0 * (i % per), 5.5 / len(tokens)
                for k, token in enumerate(tokens):
                    wid += 1
                    yield (
                        wid,
                        sid,
                        i // per + 1,
                        i % 2,
                        round(t0 + k * step, 3),
                        round(t0 + (k + 1) * step, 3),
                        " " + token,
                        0.9,
                    )

        copy_rows(
            cur,
            "words",
            "id, segment_id, recording_id, channel, start_s, end_s, word, probability",
            words(),
        )
        timings["load_words_s"] = time.perf_counter() - began
    conn.close()
    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
        cur.execute("SELECT count(*) FROM words")
        timings["words"] = cur.fetchone()[0]
    conn.close()
    return {k: round(v, 1) for k, v in timings.items()}


def make_audio(folder: Path) -> Path:
    """One real 16-bit PCM call under AUDIO_KEYS keys (hard links)."""
    (folder / "calls").mkdir(parents=True)
    original = make_real_call(folder / "original.wav", seed=3, fmt="wav", hold=False).path
    for r in range(1, AUDIO_KEYS + 1):
        os.link(original, folder / f"calls/{r:06d}.wav")
    return original


class Client:
    """One keep-alive HTTP connection with the session cookie."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookie = ""
        #: Times a GET found its kept-alive connection closed by the server (uvicorn closes
        #: one idle for 5 s, e.g. while the floors are measured) and was sent again.
        self.reconnects = 0

    def request(
        self, method: str, path: str, body: str | None = None, headers: dict[str, str] | None = None
    ) -> http.client.HTTPResponse:
        sent = {**(headers or {}), **({"Cookie": self.cookie} if self.cookie else {})}
        if body is not None:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            self.conn.request(method, path, body=body, headers=sent)
            reply = self.conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            if method != "GET":
                raise
            self.reconnects += 1
            self.conn.close()
            self.conn.request(method, path, body=body, headers=sent)
            reply = self.conn.getresponse()
        cookie = reply.getheader("set-cookie")
        if cookie:
            self.cookie = cookie.split(";")[0]
        return reply

    def get(self, path: str) -> bytes:
        reply = self.request("GET", path)
        content = reply.read()
        if reply.status != 200:
            raise RuntimeError(f"GET {path}: {reply.status} {content[:200]!r}")
        return content

    def login(self) -> None:
        form = self.request("GET", "/login").read().decode()
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert token
        body = urlencode({"username": "bench", "password": PASSWORD, "csrf_token": token.group(1)})
        reply = self.request("POST", "/login", body=body)
        reply.read()
        assert reply.status == 303, reply.status


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {
        "p50_ms": round(1000 * statistics.median(ordered), 1),
        "p95_ms": round(1000 * pick(0.95), 1),
        "max_ms": round(1000 * ordered[-1], 1),
    }


def timed(calls: list[Callable[[], Any]]) -> dict[str, float]:
    samples = []
    for call in calls:
        began = time.perf_counter()
        call()
        samples.append(time.perf_counter() - began)
    return percentiles(samples)


def first_byte(client: Client, path: str) -> None:
    reply = client.request("GET", path, headers={"Range": "bytes=0-"})
    assert reply.status == 206 and reply.read(1)
    reply.close()
    client.conn.close()  # the rest of the body is not wanted


def measure(port: int, url: str, args: argparse.Namespace, original: Path) -> dict[str, Any]:
    rng = random.Random(args.seed + 1)
    client = Client(port)
    client.login()
    factory = session_factory(make_engine(url))
    n = args.requests
    call_ids = [rng.randint(1, args.words_for) for _ in range(n)]
    queries = [" ".join(rng.sample(WORDS[:200], 2)) for _ in range(n)]
    speakers = [("customer", "agent", None)[i % 3] for i in range(n)]
    filters = [
        {
            k: v
            for k, v in (
                ("queue", rng.choice([None, *QUEUES])),
                ("agent", rng.choice([None, None, *AGENTS])),
                ("sentiment", rng.choice([None, "negative", "positive"])),
                ("page", str(rng.randint(1, 20))),
            )
            if v
        }
        for _ in range(n)
    ]
    for i in range(20):  # warm the app, the pool and the caches
        client.get(f"/calls/{call_ids[i]}")
        client.get("/search?" + urlencode({"q": queries[i]}))
    out: dict[str, Any] = {}
    out["call_page"] = timed([lambda i=i: client.get(f"/calls/{i}") for i in call_ids])
    out["call_page_queries"] = timed([lambda i=i: data.call_page(factory, i) for i in call_ids])
    searches = [
        {"q": q, **({"speaker": s} if s else {})} for q, s in zip(queries, speakers, strict=True)
    ]
    out["search"] = timed([lambda p=p: client.get("/search?" + urlencode(p)) for p in searches])

    def in_process(p: dict[str, str]) -> None:
        with factory.begin() as session:
            search(session, p["q"], speaker=p.get("speaker"), limit=50)

    out["search_queries"] = timed([lambda p=p: in_process(p) for p in searches])
    out["calls_list"] = timed([lambda f=f: client.get("/calls?" + urlencode(f)) for f in filters])
    audio = [rng.randint(1, AUDIO_KEYS) for _ in range(n)]
    out["audio_first_byte"] = timed(
        [lambda r=r: first_byte(client, f"/calls/{r}/audio") for r in audio]
    )

    def disk() -> None:
        with open(original, "rb") as handle:
            handle.read(1)

    out["audio_first_byte_disk"] = timed([disk for _ in audio])
    out["reconnects"] = client.reconnects
    return out


def serve(url: str, reviewer_url: str, audio_dir: Path) -> tuple[subprocess.Popen[bytes], int]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLSCRIBE_")}
    env.update(
        {
            "CALLSCRIBE_DATABASE_URL": url,
            "CALLSCRIBE_WEB__DATABASE_URL": reviewer_url,
            "CALLSCRIBE_WEB__SECRET_KEY": "b" * 40,
            "CALLSCRIBE_STORAGE__OUTPUT": str(audio_dir / "out"),
        }
    )
    cli = Path(sys.executable).with_name("callscribe")
    proc = subprocess.Popen([str(cli), "web", "--port", str(port)], env=env)
    for _ in range(100):
        try:
            http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/login")
            return proc, port
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("callscribe web did not start")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recordings", type=int, default=100_000)
    parser.add_argument("--segments", type=int, default=1_000_000)
    parser.add_argument("--words-for", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, scratch_database(args.admin_url) as url:
        audio_dir = Path(tmp)
        original = make_audio(audio_dir)
        upgrade(url)
        loaded = load(url, args, audio_dir)
        with make_engine(url).begin() as conn:
            make_dashboard_login(conn, "cs_bench_reviewer", "reviewer-pass", kind="reviewer")
        add_user(session_factory(make_engine(url)), "bench", PASSWORD, "viewer")
        reviewer = make_url(url).set(username="cs_bench_reviewer", password="reviewer-pass")
        proc, port = serve(url, reviewer.render_as_string(hide_password=False), audio_dir)
        try:
            figures = measure(port, url, args, original)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
            _drop_groups(url, "cs_bench_reviewer")
    record = {"recordings": args.recordings, "segments": args.segments, "load": loaded, **figures}
    rows = [
        f"{args.recordings:,} calls, {args.segments:,} segments, {loaded['words']:,} words "
        f"(for {args.words_for:,} calls); {args.requests} requests each, one client.",
        "",
        "| request | p50 | p95 | max | floor (same run) p50 / p95 |",
        "|---|---|---|---|---|",
    ]
    for name, floor, label in (
        ("call_page", "call_page_queries", "call page `/calls/{id}`"),
        ("search", "search_queries", "search `/search?q=` (two words, speaker filter 2 of 3)"),
        ("calls_list", None, "calls list `/calls` (queue, agent, sentiment filters, page 1–20)"),
        ("audio_first_byte", "audio_first_byte_disk", "first audio byte `/calls/{id}/audio`"),
    ):
        r = figures[name]
        base = f"{figures[floor]['p50_ms']} / {figures[floor]['p95_ms']} ms" if floor else "–"
        rows.append(
            f"| {label} | {r['p50_ms']} ms | {r['p95_ms']} ms | {r['max_ms']} ms | {base} |"
        )
    rows += [
        "",
        f"connections the server closed while idle, the GET sent again: {figures['reconnects']}",
    ]
    write_results(args.out, "web", record, "\n".join(rows) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
