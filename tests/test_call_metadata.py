"""Call metadata (issue 13, item 2): a metadata file beside the recordings, or a manifest's
``metadata`` objects, reach the recordings' columns, the exports, ``report --by queue``,
search and the dashboards' view; changed metadata is updated without transcribing again;
bad rows are warned about and skipped while every recording still completes."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from callscribe.models import Job, Recording
from callscribe.models.db import make_engine, session_factory
from callscribe.models.search import search
from callscribe.report import build_report
from callscribe.run import transcribe_source
from callscribe.settings import Settings
from callscribe.storage.metadata import MAX_VALUE, read_metadata
from callscribe.storage.sources import S3Source, load_call_metadata, open_source
from tests.support.audio import Turn, make_call
from tests.support.model import expected_text

SettingsFactory = Callable[..., Settings]
WORD = expected_text().split()[0]


def _read(body: str, name: str) -> dict[str, Any]:
    return read_metadata(io.BytesIO(body.encode("utf-8")), name)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_csv_and_jsonl_rows_are_validated_cleaned_and_capped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    csv_text = (
        "\ufeffKey,call_id,Agent,queue,direction,started_at,tier,note\n"
        "a.wav,C-1,dana,billing,Inbound,2026-11-02T09:30:00+02:00,gold,\n"
        'b.wav,C-2,lee,support,sideways,yesterday,,"two\nlines\x07"\n'
        ",C-3,x,y,inbound,,,\n"
        f"c.wav,C-4,{'z' * 1000},q,outbound,2026-11-02 08:00,,\n"
        "c.wav,C-5,zed,q2,outbound,2026-11-02 08:00,,\n"
    )
    rows = _read(csv_text, "callscribe-metadata.csv")
    assert set(rows) == {"a.wav", "b.wav", "c.wav"}
    a, b, c = rows["a.wav"], rows["b.wav"], rows["c.wav"]
    assert (a.call_id, a.agent, a.queue, a.direction) == ("C-1", "dana", "billing", "inbound")
    assert a.started_at == datetime(2026, 11, 2, 7, 30, tzinfo=UTC)
    assert a.extra == {"tier": "gold"}
    assert b.direction is None and b.started_at is None and b.extra == {"note": "two lines"}
    assert c.call_id == "C-5" and c.started_at == datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    assert (
        len(_read(csv_text.replace("C-5,zed", "C-5," + "z" * 1000), "m.csv")["c.wav"].agent or "")
        == MAX_VALUE
    )
    warned = _warnings(caplog)
    assert all("\n" not in w for w in warned)
    assert any("callscribe-metadata.csv:3: direction 'sideways'" in w for w in warned)
    assert any("started_at 'yesterday'" in w for w in warned)
    assert any("csv:5: no key; row skipped" in w for w in warned)  # b spans lines 3-4
    assert any("key 'c.wav' listed again" in w for w in warned)

    caplog.clear()
    jsonl = "\n".join(
        [
            json.dumps({"key": "a.wav", "queue": "billing", "ivr": {"path": [1, 2]}, "vip": True}),
            "{not json",
            json.dumps(["a list"]),
            json.dumps({"key": "b.wav", "direction": "OUTBOUND", "started_at": "2026-11-02"}),
        ]
    )
    rows = _read(jsonl, "callscribe-metadata.jsonl")
    assert rows["a.wav"].extra == {"ivr": '{"path":[1,2]}', "vip": "true"}
    assert rows["b.wav"].direction == "outbound"
    assert rows["b.wav"].started_at == datetime(2026, 11, 2, tzinfo=UTC)
    assert len(_warnings(caplog)) == 2
    caplog.clear()
    assert _read("call_id,queue\nC-1,billing\n", "x.csv") == {}
    assert "no key column" in _warnings(caplog)[0]


def _calls(folder: Path) -> None:
    folder.mkdir()
    make_call(folder / "a.wav", [Turn(0, "Thank you for calling."), Turn(1, "Hello.")])
    make_call(folder / "b.wav", [Turn(0, "Please hold.")], channels=1)
    make_call(folder / "c.wav", [Turn(0, "Goodbye.")], channels=1)


def _rows(url: str) -> dict[str, dict[str, Any]]:
    engine = make_engine(url)
    with engine.connect() as conn:
        found = {
            row.key: row._asdict()
            for row in conn.execute(
                text(
                    "SELECT key, call_id, agent, queue, direction, started_at, call_meta, version, "
                    "status FROM recordings"
                )
            )
        }
    engine.dispose()
    return found


def _json_meta(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _cli(args: list[str], url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLSCRIBE_")}
    env.update(CALLSCRIBE_DATABASE_URL=url, COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "callscribe", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_metadata_file_reaches_database_exports_report_and_search(
    db_url: str, make_settings: SettingsFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    folder = tmp_path / "calls"
    _calls(folder)
    metadata = folder / "callscribe-metadata.csv"
    metadata.write_text(
        "key,call_id,agent,queue,direction,started_at,tier\n"
        "a.wav,C-1,dana,billing,inbound,2026-11-02T09:30:00+02:00,gold\n"
        "b.wav,C-2,lee,support,sideways,2026-11-02T10:00:00,\n"
        "ghost.wav,C-9,nobody,billing,inbound,,\n"
    )
    # even a pattern that matches it never makes the metadata file a recording
    settings = make_settings(db_url, storage={"include": ["*.wav", "*.csv"]})
    summary = transcribe_source(settings, str(folder))
    assert summary.done == 3 and not summary.failed
    assert summary.registration.discovered == 3
    warned = _warnings(caplog)
    assert any("callscribe-metadata.csv:3: direction 'sideways'" in w for w in warned)
    assert any("key 'ghost.wav' is not a recording of the source" in w for w in warned)
    assert summary.registration.metadata_unknown == 1

    rows = _rows(db_url)
    assert set(rows) == {"a.wav", "b.wav", "c.wav"}
    a = rows["a.wav"]
    assert (a["call_id"], a["agent"], a["queue"], a["direction"]) == (
        "C-1",
        "dana",
        "billing",
        "inbound",
    )
    started = a["started_at"]
    started = datetime.fromisoformat(started) if isinstance(started, str) else started
    assert started.replace(tzinfo=started.tzinfo or UTC) == datetime(2026, 11, 2, 7, 30, tzinfo=UTC)
    assert _json_meta(a["call_meta"]) == {"tier": "gold"}
    assert rows["b.wav"]["queue"] == "support" and rows["b.wav"]["direction"] is None
    assert rows["c.wav"]["queue"] is None and rows["c.wav"]["call_meta"] is None

    out = Path(settings.storage.output)
    exported = json.loads((out / "a.wav.json").read_text())
    assert exported["call"] == {
        "call_id": "C-1",
        "agent": "dana",
        "queue": "billing",
        "direction": "inbound",
        "started_at": "2026-11-02T07:30:00+00:00",
        "extra": {"tier": "gold"},
    }
    assert json.loads((out / "c.wav.json").read_text())["call"] is None
    assert (
        (out / "a.wav.dialogue.txt")
        .read_text()
        .startswith("[agent dana · queue billing]\n\nAgent: ")
    )
    assert (out / "c.wav.dialogue.txt").read_text().startswith("Agent: ")

    factory = session_factory(make_engine(db_url))
    report = build_report(factory, "queue", None, 0.36)
    by_queue = {r.bucket: r for r in report.rows}
    assert set(by_queue) == {"billing", "support", "(none)"}
    assert all(r.audio_hours > 0 and r.cost_usd > 0 and r.recordings_done == 1 for r in report.rows)
    assert report.total.audio_hours == pytest.approx(
        build_report(factory, "source", None, 0.36).total.audio_hours
    )
    only = build_report(factory, "day", None, 0.36, queue="billing")
    assert only.total.recordings_done == 1
    assert only.total.audio_hours == pytest.approx(by_queue["billing"].audio_hours)
    assert [r.bucket for r in build_report(factory, "agent", None, 0.36, queue="support").rows] == [
        "lee"
    ]
    engine = make_engine(db_url)
    with engine.connect() as conn:
        view = {
            row[0]: row[1:]
            for row in conn.execute(
                text(
                    "SELECT queue, agent, sum(audio_hours), sum(cost_usd), sum(recordings), "
                    "min(day) FROM v_cost_by_queue GROUP BY queue, agent"
                )
            )
        }
    engine.dispose()
    assert set(view) == {"billing", "support", None}
    assert view["billing"][0] == "dana" and view["billing"][3] == 1
    assert view["billing"][1] == pytest.approx(by_queue["billing"].audio_hours)
    assert view["billing"][2] == pytest.approx(by_queue["billing"].cost_usd)
    day = view["billing"][4]  # midnight UTC of the day the jobs ran
    day = datetime.fromisoformat(day) if isinstance(day, str) else day.astimezone(UTC)
    assert (day.hour, day.minute, day.second) == (0, 0, 0)
    assert abs((datetime.now(UTC) - day.replace(tzinfo=UTC)).total_seconds()) < 2 * 86400
    with factory.begin() as session:
        assert {h.key for h in search(session, WORD, queue="billing")} == {"a.wav"}
        assert {h.key for h in search(session, WORD, agent="lee")} == {"b.wav"}
        assert {h.key for h in search(session, WORD, where={"tier": "gold"})} == {"a.wav"}
        assert {h.key for h in search(session, WORD, where={"queue": "support"})} == {"b.wav"}

    done = _cli(["report", "--by", "queue", "--json"], db_url)
    assert done.returncode == 0, done.stderr
    table = json.loads(done.stdout)
    assert [r["bucket"] for r in table["rows"]] == ["(none)", "billing", "support"]
    plain = _cli(["report", "--by", "agent", "--queue", "billing"], db_url)
    assert plain.returncode == 0 and "dana" in plain.stdout and "lee" not in plain.stdout
    assert _cli(["report", "--by", "planet"], db_url).returncode == 2

    # the metadata changes: stored again, nothing transcribed again
    with factory.begin() as session:
        jobs_before = session.scalar(select(func.count()).select_from(Job))
    metadata.write_text(
        "key,call_id,agent,queue,direction,started_at,tier\n"
        "a.wav,C-1,dana,retention,inbound,2026-11-02T09:30:00+02:00,platinum\n"
        "b.wav,C-2,lee,support,sideways,2026-11-02T10:00:00,\n"
    )
    again = transcribe_source(settings, str(folder))
    registration = again.registration
    assert (registration.new, registration.changed, registration.metadata_updated) == (0, 0, 1)
    rows = _rows(db_url)
    assert rows["a.wav"]["queue"] == "retention"
    assert _json_meta(rows["a.wav"]["call_meta"]) == {"tier": "platinum"}
    assert all(row["version"] == 1 and row["status"] == "done" for row in rows.values())
    with factory.begin() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == jobs_before
        assert (
            session.scalar(select(Recording.transcript_version).where(Recording.key == "a.wav"))
            == 1
        )
    assert {r.bucket for r in build_report(factory, "queue", None, 0.36).rows} == {
        "retention",
        "support",
        "(none)",
    }
    factory.kw["bind"].dispose()


def test_manifest_metadata_reaches_database_and_exports(
    db_url: str, make_settings: SettingsFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    folder = tmp_path / "audio"
    folder.mkdir()
    make_call(folder / "x.wav", [Turn(0, "Hello there.")], channels=1)
    make_call(folder / "y.wav", [Turn(0, "Goodbye now.")], channels=1)
    manifest = tmp_path / "calls.jsonl"
    manifest.write_text(
        "\n".join(
            json.dumps(entry)
            for entry in [
                {
                    "key": "2026/x.wav",
                    "uri": str(folder / "x.wav"),
                    "size": 1,
                    "metadata": {
                        "call_id": "M-1",
                        "agent": "ana",
                        "queue": "sales",
                        "direction": "outbound",
                        "started_at": "2026-11-03T12:00:00Z",
                        "campaign": "winter",
                    },
                },
                {
                    "key": "2026/y.wav",
                    "uri": str(folder / "y.wav"),
                    "size": 1,
                    "metadata": {"queue": "sales", "started_at": "not a time"},
                },
            ]
        )
        + "\n"
    )
    settings = make_settings(db_url)
    summary = transcribe_source(settings, str(manifest))
    assert summary.done == 2 and not summary.failed
    assert any("calls.jsonl:2: started_at 'not a time'" in w for w in _warnings(caplog))
    rows = _rows(db_url)
    x = rows["2026/x.wav"]
    assert (x["call_id"], x["agent"], x["queue"], x["direction"]) == (
        "M-1",
        "ana",
        "sales",
        "outbound",
    )
    assert _json_meta(x["call_meta"]) == {"campaign": "winter"}
    assert rows["2026/y.wav"]["queue"] == "sales" and rows["2026/y.wav"]["started_at"] is None
    exported = json.loads((Path(settings.storage.output) / "2026/x.wav.json").read_text())
    assert exported["call"]["started_at"] == "2026-11-03T12:00:00+00:00"
    assert exported["call"]["extra"] == {"campaign": "winter"}
    factory = session_factory(make_engine(db_url))
    report = build_report(factory, "queue", None, 0.36)
    assert [(r.bucket, r.recordings_done) for r in report.rows] == [("sales", 2)]
    factory.kw["bind"].dispose()


def test_s3_metadata_object_is_read_and_never_listed(s3: Any, s3_settings: dict[str, Any]) -> None:
    bucket = s3.bucket_name
    s3.put_object(Bucket=bucket, Key="calls/a.wav", Body=b"RIFF")
    s3.put_object(Bucket=bucket, Key="calls/2024/callscribe-metadata.jsonl", Body=b"{}")
    s3.put_object(
        Bucket=bucket,
        Key="calls/callscribe-metadata.jsonl",
        Body=b'{"key": "a.wav", "queue": "billing", "agent": "dana"}\n',
    )
    storage = Settings(
        **{**s3_settings, "storage": {**s3_settings["storage"], "include": ["*.wav", "*.jsonl"]}}
    ).storage
    source = open_source(f"s3://{bucket}/calls", storage)
    assert isinstance(source, S3Source)
    assert [o.key for o in source.list()] == ["2024/callscribe-metadata.jsonl", "a.wav"]
    calls, names = load_call_metadata(source, storage)
    assert names == "callscribe-metadata.jsonl"
    assert calls["a.wav"].queue == "billing" and calls["a.wav"].agent == "dana"
    empty = open_source(f"s3://{bucket}/nothing", storage)
    assert load_call_metadata(empty, storage) == ({}, "")


def test_metadata_file_names_must_be_plain() -> None:
    from pydantic import ValidationError

    for bad in ("../m.csv", "sub/m.csv", "m.txt", ".."):
        with pytest.raises(ValidationError):
            Settings(storage={"metadata_files": [bad]})
