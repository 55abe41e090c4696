"""What customers ask and how they feel, end to end with the real models: a corpus of 15
calls over 5 topics, each topic with an angry, a neutral and a happy customer, every call
worded differently (``callscribe.demo.insight_calls``), spoken by real TTS voices,
transcribed by tiny.en into the real PostgreSQL, then ``callscribe insights --json`` as a
user runs it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from callscribe.demo.insight_calls import InsightCall, make_insight_call, make_insight_corpus
from callscribe.models.db import make_engine
from callscribe.run import transcribe_source
from callscribe.settings import Settings

pytestmark = pytest.mark.postgres


def _settings(model: Path, url: str, out: Path, redaction: str = "mask") -> Settings:
    return Settings(
        database_url=url,
        model={"name": str(model), "device": "cpu"},
        decode={"beam_size": 5, "language": "en"},
        redaction={"mode": redaction},
        storage={"output": str(out)},
    )


def _insights(url: str, *extra: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "callscribe", "insights", "--database-url", url, "--json",
         *extra],
        capture_output=True, text=True, check=True, env=os.environ.copy(),
    )  # fmt: skip
    report: dict[str, Any] = json.loads(done.stdout)
    return report


@pytest.fixture(scope="module")
def archive(
    tiny_en: Path, sentence_model: Path, pg_admin: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, list[InsightCall], Path]]:
    from tests.support.services import make_pg_database

    folder = tmp_path_factory.mktemp("insight-calls") / "calls"
    calls = make_insight_corpus(folder, seed=3)
    url, drop = make_pg_database(pg_admin)
    settings = _settings(tiny_en, url, tmp_path_factory.mktemp("insight-out"))
    try:
        summary = transcribe_source(settings, str(folder))
        assert summary.done == len(calls) and not summary.failed
        yield url, calls, tmp_path_factory.mktemp("insight-later")
    finally:
        from sqlalchemy.orm import close_all_sessions

        close_all_sessions()
        drop()


@pytest.fixture(scope="module")
def report(archive: tuple[str, list[InsightCall], Path], tmp_path_factory: Any) -> Any:
    url, _calls, _later = archive
    plot = tmp_path_factory.mktemp("insight-plot") / "topics.png"
    return _insights(url, "--plot", str(plot)), plot


def _purity(clusters: list[list[str]], truth: dict[str, str]) -> tuple[float, float]:
    total = sum(len(c) for c in clusters)
    purity = sum(Counter(truth[k] for k in c).most_common(1)[0][1] for c in clusters) / total
    by_truth: dict[str, Counter[int]] = {}
    for index, members in enumerate(clusters):
        for key in members:
            by_truth.setdefault(truth[key], Counter())[index] += 1
    inverse = sum(c.most_common(1)[0][1] for c in by_truth.values()) / total
    return purity, inverse


def test_topics_are_found_from_the_data(
    archive: tuple[str, list[InsightCall], Path], report: Any
) -> None:
    _url, calls, _later = archive
    found, plot = report
    truth = {c.path.name: c.topic for c in calls}
    clusters = [t["calls"] for t in found["topics"]]
    assert 4 <= len(clusters) <= 7, [t["label"] for t in found["topics"]]
    assert sorted(k for c in clusters for k in c) == sorted(truth)
    purity, inverse = _purity(clusters, truth)
    assert purity >= 0.8 and inverse >= 0.8, (purity, inverse, clusters)
    for topic in found["topics"]:
        assert topic["label"] and len(topic["keywords"]) >= 3
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_angry_customers_score_below_happy_ones_in_every_topic(
    archive: tuple[str, list[InsightCall], Path], report: Any
) -> None:
    _url, calls, _later = archive
    found, _plot = report
    score = {c["key"]: c["customer_sentiment"] for c in found["calls"]}
    for topic in {c.topic for c in calls}:
        angry = score[f"{topic}_angry_0.wav"]
        happy = score[f"{topic}_happy_0.wav"]
        assert angry < 0 and angry < happy, (topic, angry, happy)
    unhappy = [t["share_negative"] for t in found["topics"]]
    assert all(0 <= s <= 1 for s in unhappy)
    assert found["by_queue"] and found["by_queue"][0]["calls"] == len(calls)


def test_customer_questions_are_listed_with_their_times(
    archive: tuple[str, list[InsightCall], Path], report: Any
) -> None:
    _url, calls, _later = archive
    found, _plot = report
    said = {c.path.name: c.questions for c in calls}
    listed = [q for t in found["topics"] for q in t["questions"]]
    assert len(listed) >= 10
    timed = 0
    for question in listed:
        assert question["text"].strip() and question["key"] in said
        starts = [start for start, _end, _text in said[question["key"]]]
        timed += any(abs(question["start_s"] - s) < 1.5 for s in starts)
    assert timed >= 10, listed  # listed at the time the customer asked it


def test_each_call_has_a_problem_statement_and_a_summary(
    archive: tuple[str, list[InsightCall], Path], report: Any
) -> None:
    url, calls, _later = archive
    found, _plot = report
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT r.key, i.problem, i.summary, i.models FROM call_insights i "
                 "JOIN recordings r ON r.id = i.recording_id")
        ).all()  # fmt: skip
    engine.dispose()
    truth = {c.path.name: c.problem for c in calls}
    assert len(rows) == len(calls)
    close = 0
    for key, problem, summary, models in rows:
        assert models == "minilm+lexicons"
        assert summary.startswith("Customer: ") and " Agent: " in summary
        want = set(re.findall(r"[a-z']+", truth[key].lower()))
        got = set(re.findall(r"[a-z']+", (problem or "").lower()))
        close += len(want & got) / len(want) >= 0.6
    assert close >= len(calls) - 2
    assert all(c["summary"] for c in found["calls"])


def test_a_new_call_joins_its_topic_and_recluster_makes_a_new_generation(
    archive: tuple[str, list[InsightCall], Path], report: Any, tiny_en: Path
) -> None:
    url, _calls, later = archive
    found, _plot = report
    billing = {k for t in found["topics"] for k in t["calls"] if k.startswith("billing")}
    billing_topics = {t["label"] for t in found["topics"] if set(t["calls"]) & billing}
    folder = later / "calls"
    folder.mkdir()
    make_insight_call(folder / "billing_new.wav", topic="billing", mood="neutral", seed=41)
    summary = transcribe_source(_settings(tiny_en, url, later / "out"), str(folder))
    assert summary.done == 1
    after = _insights(url)
    new = next(c for c in after["calls"] if c["key"] == "billing_new.wav")
    assert new["topic"] in billing_topics, (new, billing_topics)
    again = _insights(url, "--recluster")
    engine = make_engine(url)
    with engine.connect() as conn:
        generations = conn.execute(text("SELECT DISTINCT generation FROM topics")).scalars()
        assert sorted(generations) == [1, 2]
    engine.dispose()
    assert sum(len(t["calls"]) for t in again["topics"]) == 16


def test_nothing_redacted_reaches_the_insights_tables(
    tiny_en: Path, sentence_model: Path, pg_url: str, tmp_path: Path
) -> None:
    """The customer opens with a phone number and an e-mail address in the problem
    statement: the insights hold the problem with the redaction tags, never the words."""
    folder = tmp_path / "calls"
    folder.mkdir()
    problem = (
        "I cannot log in. My phone number is five five five, two three four, six seven eight "
        "nine, and my email is pat dot lee at example dot com."
    )
    make_insight_call(folder / "pii.wav", topic="password", mood="neutral", seed=5,
                      problem=problem)  # fmt: skip
    summary = transcribe_source(_settings(tiny_en, pg_url, tmp_path / "out"), str(folder))
    assert summary.done == 1
    engine = make_engine(pg_url)
    with engine.connect() as conn:
        stored = " ".join(
            str(v) for row in conn.execute(
                text("SELECT problem, answer, summary FROM call_insights "
                     "UNION ALL SELECT text, NULL, NULL FROM call_questions")
            ) for v in row if v
        )  # fmt: skip
        kinds = set(conn.execute(text("SELECT kind FROM redactions")).scalars())
    engine.dispose()
    assert kinds >= {"phone", "email"} or len(kinds) >= 1, kinds
    assert re.search(r"\[[A-Z]+\]", stored), stored  # the sentence reached the insights, tagged
    assert not re.search(r"\d{3}", stored), stored
    assert "example" not in stored.lower() and "@" not in stored
    assert "five five five" not in stored.lower()
