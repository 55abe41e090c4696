"""What customers ask and how they feel, measured.

    .venv/bin/python bench/insights.py [--calls 100000] [--seeds 2] [--skip-archive]

1. Sentiment on the labelled sentences (tests/workers/insights/sentiment_set.tsv, written
   apart from the model's prototypes): accuracy per class, the combined model against the
   lexicons alone (the baseline, in the same run).
2. Per-call cost on CPU: the insights corpus (15 calls, 5 topics × 3 moods) transcribed
   with the real tiny.en, with insights off, in the embedded run (wall time); then each
   call's insights from its stored segments, timed; the share is insights / transcription.
   Also the topics found, their purity and inverse purity, and whether every angry call
   scores below zero and below the happy call of its topic; per seed.
3. Topics over an archive of ``--calls`` calls in PostgreSQL (127.0.0.1:5432): 2,000
   distinct problem statements and questions put together from the phrase bank, embedded
   with the real sentence model, drawn for every call; then ``recluster`` (clustering,
   keywords, central questions, every call's topic written) and the report, timed.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from sqlalchemy import select

from callscribe.demo.insight_calls import make_insight_corpus
from callscribe.demo.insight_phrases import TOPIC_PHRASES
from callscribe.demo.realmodels import real_model_dir
from callscribe.insights import Filters, build_insights, recluster
from callscribe.models.db import make_engine, session_factory, upgrade
from callscribe.run import transcribe_source
from callscribe.settings import InsightsSection, Settings
from callscribe.workers.insights.encoder import SentenceEncoder, sentence_model_dir
from callscribe.workers.insights.engine import insights_for
from callscribe.workers.insights.sentiment import SentimentModel, polarity
from callscribe.workers.results.insight_rows import vector_bytes
from callscribe.workers.results.recordings import load_transcript

ROOT = Path(__file__).resolve().parent.parent
SET = ROOT / "tests" / "workers" / "insights" / "sentiment_set.tsv"
EXPECTED = {"complaint": "negative", "implicit": "negative", "request": "neutral",
            "thanks": "positive"}  # fmt: skip


def sentiment_accuracy(model: SentimentModel) -> dict[str, float]:
    rows = [line.split("\t") for line in SET.read_text().splitlines()]
    scores = model.scores([t for _, t in rows])
    right: dict[str, list[bool]] = {label: [] for label in EXPECTED}
    for (label, _), score in zip(rows, scores, strict=True):
        right[label].append(polarity(score) == EXPECTED[label])
    out = {label: sum(v) / len(v) for label, v in right.items()}
    out["overall"] = sum(sum(v) for v in right.values()) / len(rows)
    return out


def part_sentiment(encoder: SentenceEncoder) -> None:
    combined = sentiment_accuracy(SentimentModel(encoder))
    lexicons = sentiment_accuracy(SentimentModel(None))
    print(f"sentiment on {len(SET.read_text().splitlines())} labelled sentences")
    print(f"  {'class':<10} {'combined':>9} {'lexicons':>9}")
    for label in (*EXPECTED, "overall"):
        print(f"  {label:<10} {combined[label]:>9.1%} {lexicons[label]:>9.1%}")


def _purity(groups: list[list[str]], truth: dict[str, str]) -> tuple[float, float]:
    total = sum(len(g) for g in groups)
    purity = sum(Counter(truth[k] for k in g).most_common(1)[0][1] for g in groups) / total
    by_truth: dict[str, Counter[int]] = {}
    for i, g in enumerate(groups):
        for k in g:
            by_truth.setdefault(truth[k], Counter())[i] += 1
    return purity, sum(c.most_common(1)[0][1] for c in by_truth.values()) / total


def part_calls(seed: int, work: Path) -> None:
    folder = work / f"calls-{seed}"
    calls = make_insight_corpus(folder, seed=seed)
    settings = Settings(
        database_url=f"sqlite:///{work}/calls-{seed}.db",
        model={"name": str(real_model_dir("tiny.en")), "device": "cpu"},
        decode={"beam_size": 5, "language": "en"},
        insights={"enabled": False},
        storage={"output": str(work / f"out-{seed}")},
    )
    began = time.perf_counter()
    summary = transcribe_source(settings, str(folder))
    transcription = time.perf_counter() - began
    assert summary.done == len(calls), summary
    factory = session_factory(make_engine(settings.database_url))
    section = InsightsSection()
    insights_for(section, [], ("agent", "customer"))  # load the models outside the timing
    spent = 0.0
    from callscribe.models import Recording

    with factory.begin() as session:
        ids = list(session.scalars(select(Recording.id).order_by(Recording.id)))
    for rec_id in ids:
        _rec, segments = load_transcript(factory, rec_id, latest=True)
        began = time.perf_counter()
        insights_for(section, segments, ("agent", "customer"))
        spent += time.perf_counter() - began
    print(f"seed {seed}: {len(calls)} calls, transcription {transcription:.1f} s wall, "
          f"insights {spent:.2f} s = {spent / transcription:.1%} of it")  # fmt: skip
    on = Settings(**{**settings.model_dump(mode="json", exclude={"insights", "database_url"}),
                     "database_url": f"sqlite:///{work}/calls-{seed}-on.db"})  # fmt: skip
    transcribe_source(on, str(folder))
    factory = session_factory(make_engine(on.database_url))
    recluster(factory, section)
    report = build_insights(factory, section, Filters())
    truth = {c.path.name: c.topic for c in calls}
    purity, inverse = _purity([t["calls"] for t in report["topics"]], truth)
    score = {c["key"]: c["customer_sentiment"] for c in report["calls"]}
    ordered = all(
        score[f"{t}_angry_0.wav"] < min(0.0, score[f"{t}_happy_0.wav"]) for t in TOPIC_PHRASES
    )
    print(f"  topics {len(report['topics'])}, purity {purity:.2f}, inverse purity "
          f"{inverse:.2f}, angry < 0 and < happy in every topic: {ordered}")  # fmt: skip


def _texts(rng: random.Random, n: int) -> list[tuple[str, str, str]]:
    """``n`` distinct (topic, problem, question) triples, each sentence given a random
    lead-in and tail so that no two are the same text."""
    leads = ("", "So, ", "Well, ", "Hi, ", "Okay, so ", "Right, ", "Um, ", "Hello, ")
    tails = ("", " I checked this morning.", " It started last week.", " Thanks.",
             " I am at home now.", " It is for my partner's account.")  # fmt: skip
    out: set[tuple[str, str, str]] = set()
    while len(out) < n:
        topic = rng.choice(list(TOPIC_PHRASES))
        phrases = TOPIC_PHRASES[topic]
        problem = rng.choice(leads) + rng.choice(phrases["problem"]) + rng.choice(tails)
        out.add((topic, problem, rng.choice(phrases["question"])))
    return sorted(out)


def part_archive(calls: int, encoder: SentenceEncoder, seed: int = 0) -> None:
    import psycopg2

    rng = random.Random(seed)
    texts = _texts(rng, 2000)
    began = time.perf_counter()
    problems = encoder.embed([t[1] for t in texts])
    questions = encoder.embed([t[2] for t in texts])
    embed_s = time.perf_counter() - began
    about = problems * 2 + questions
    about /= np.linalg.norm(about, axis=1, keepdims=True)
    name = f"bench_insights_{seed}"
    admin = psycopg2.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cur.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    try:
        upgrade(url)
        picks = [rng.randrange(len(texts)) for _ in range(calls)]
        began = time.perf_counter()
        _fill(url, picks, texts, about, questions, rng)
        fill_s = time.perf_counter() - began
        factory = session_factory(make_engine(url))
        section = InsightsSection()
        began = time.perf_counter()
        made = recluster(factory, section)
        cluster_s = time.perf_counter() - began
        began = time.perf_counter()
        report = build_insights(factory, section, Filters())
        report_s = time.perf_counter() - began
        truth = {f"call_{i:06d}.wav": texts[pick][0] for i, pick in enumerate(picks)}
        purity, inverse = _purity([t["calls"] for t in report["topics"]], truth)
        print(f"archive of {calls:,} calls: embedding 4,000 sentences {embed_s:.1f} s, "
              f"loading {fill_s:.1f} s (not timed below)")  # fmt: skip
        print(f"  recluster {cluster_s:.1f} s ({len(made)} topics), report {report_s:.1f} s, "
              f"total {cluster_s + report_s:.1f} s; purity {purity:.2f}, inverse purity "
              f"{inverse:.2f}")  # fmt: skip
        for t in report["topics"][:8]:
            print(f"    {len(t['calls']):>7,}  {t['label']}")
    finally:
        make_engine(url).dispose()
        with admin.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()


def _fill(url: str, picks_of: list[int], texts: list[Any], about: np.ndarray,
          questions: np.ndarray, picks: random.Random) -> None:  # fmt: skip
    """A done recording per pick, each with insights and one question, by COPY."""
    import io

    import psycopg2

    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute("INSERT INTO sources (uri, kind, created_at) VALUES "
                    "('file:///bench', 'local', now()) RETURNING id")  # fmt: skip
        source = cur.fetchone()[0]
        queues = ("billing", "support", "sales", "retention")
        rec = io.StringIO()
        ins = io.StringIO()
        qs = io.StringIO()
        for i, pick in enumerate(picks_of):
            _topic, problem, question = texts[pick]
            rec.write(f"{i + 1}\t{source}\tcall_{i:06d}.wav\tfile:///bench/call_{i:06d}.wav\t1\t"
                      f"done\t{{}}\tnow\tnow\tnow\t{queues[i % 4]}\tagent_{i % 50}\n")  # fmt: skip
            sentiment = picks.uniform(-0.8, 0.8)
            ins.write(f"{i + 1}\t1\tnow\t{sentiment}\t{sentiment}\t{sentiment}\t{sentiment}\t[]\t"
                      f"{problem}\t1.0\t\\N\tCustomer: {problem}\t"
                      f"\\\\x{vector_bytes(about[pick]).hex()}\tminilm+lexicons\n")  # fmt: skip
            qs.write(f"{i + 1}\t5.0\t7.0\t{question}\t0\t"
                     f"\\\\x{vector_bytes(questions[pick]).hex()}\n")  # fmt: skip
        for buffer, table, columns in (
            (rec, "recordings", "id, source_id, key, uri, version, status, metadata, "
             "discovered_at, updated_at, finished_at, queue, agent"),
            (ins, "call_insights", "recording_id, transcript_version, computed_at, "
             "customer_sentiment, sentiment_start, sentiment_end, sentiment_min, signals, "
             "problem, problem_start_s, answer, summary, embedding, models"),
            (qs, "call_questions", "recording_id, start_s, end_s, text, sentiment, embedding"),
        ):  # fmt: skip
            buffer.seek(0)
            cur.copy_expert(f"COPY {table} ({columns}) FROM STDIN", buffer)
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--skip-calls", action="store_true", help="no transcribed corpus")
    parser.add_argument("--skip-archive", action="store_true")
    args = parser.parse_args()
    encoder = SentenceEncoder(sentence_model_dir())
    part_sentiment(encoder)
    with tempfile.TemporaryDirectory(prefix="bench-insights-") as tmp:
        if not args.skip_calls:
            for seed in range(args.seeds):
                part_calls(seed, Path(tmp))
    if not args.skip_archive:
        part_archive(args.calls, encoder)


if __name__ == "__main__":
    main()
