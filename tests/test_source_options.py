"""Per-source options: set with ``callscribe source add|set``, copied onto runs and jobs,
applied by the worker to that source's jobs only; and language detection over several
windows through the whole pipeline (the real multilingual base model)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import text

from callscribe.demo.realmodels import real_model_dir
from callscribe.demo.voices import hold_music
from callscribe.models.db import make_engine, open_database
from callscribe.run import transcribe_source
from callscribe.scheduler.source_options import set_options
from callscribe.settings import Settings
from callscribe.storage.sources import open_source
from tests.support.audio import place, speak
from tests.support.services import make_pg_database

SPANISH = (
    "Hola, buenos días. Quiero cancelar mi contrato de fibra porque el servicio no "
    "funciona desde el lunes.",
    "Muy bien, señora. ¿Me puede decir su número de cliente, por favor?",
)
ENGLISH = "Hello, thanks for calling. How can I help you with your internet service today?"


def _cli(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CALLSCRIBE_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "callscribe", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_source_add_set_show(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cs.db'}"
    folder = tmp_path / "calls"
    folder.mkdir()
    added = _cli(
        "source",
        "add",
        str(folder),
        "--language",
        "es",
        "--hotwords",
        "Acme",
        "--labels",
        "customer,agent",
        url=url,
    )
    assert added.returncode == 0, added.stderr
    shown = _cli("source", "show", str(folder), "--json", url=url)
    (row,) = [json.loads(line) for line in shown.stdout.splitlines()]
    assert row["source"] == folder.resolve().as_uri() and row["kind"] == "local"
    assert row["options"] == {
        "language": "es",
        "hotwords": "Acme",
        "speaker_labels": ["customer", "agent"],
    }
    changed = _cli(
        "source", "set", str(folder), "--redaction", "off", "--unset", "hotwords", url=url
    )
    assert changed.returncode == 0, changed.stderr
    row = json.loads(_cli("source", "show", "--json", url=url).stdout)
    assert row["options"] == {
        "language": "es",
        "speaker_labels": ["customer", "agent"],
        "redaction": "off",
    }
    bad = _cli("source", "set", str(folder), "--formats", "json,docx", url=url)
    assert bad.returncode == 2 and "export_formats" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    row = json.loads(_cli("source", "show", "--json", url=url).stdout)
    assert "export_formats" not in row["options"]  # a bad value changes nothing
    replaced = _cli("source", "add", str(folder), "--task", "translate", url=url)
    assert replaced.returncode == 0
    row = json.loads(_cli("source", "show", "--json", url=url).stdout)
    assert row["options"] == {"task": "translate"}


def test_options_apply_over_the_global_settings() -> None:
    settings = Settings(
        decode={"language": "en", "hotwords": "global"},  # type: ignore[arg-type]
        redaction={"by_source": {"file:///x": "mask"}},
    )
    job = settings.for_source(
        {"language": "auto", "redaction": "off", "speaker_labels": ["customer", "agent"]}
    )
    assert job.decode.language is None and job.decode.hotwords == "global"
    assert job.redaction.mode_for("file:///x") == "off"  # the source's own choice wins
    assert job.segments.speaker_for(1, 2) == "agent"
    assert settings.for_source({}) is settings and settings.for_source(None) is settings


# ------------------------------------------------------------------ real model, PostgreSQL


def _write(path: Path, samples: np.ndarray) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path


@dataclass
class Corpus:
    settings: Settings
    spanish: Path
    mixed: Path


@pytest.fixture(scope="module")
def corpus(pg_admin: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    base = tmp_path_factory.mktemp("per-source")
    clips = base / "clips"
    clips.mkdir()
    es = [speak(line, clips / f"es{i}.wav", voice="es") for i, line in enumerate(SPANISH)]
    en = speak(ENGLISH, clips / "en.wav", voice="en-us")
    spanish, mixed = base / "spanish", base / "mixed"
    spanish.mkdir()
    mixed.mkdir()
    place(spanish / "llamada.wav", 16.0, [(0.5, es[0]), (8.5, es[1])])
    place(mixed / "english.wav", 10.0, [(0.5, en)])
    music = _write(clips / "music.wav", hold_music(60.0, seed=3))
    place(mixed / "music_then_spanish.wav", 80.0, [(0.0, music), (61.0, es[0]), (70.0, es[1])])
    url, drop = make_pg_database(pg_admin)
    settings = Settings(
        database_url=url,
        model={"name": str(real_model_dir("base")), "device": "cpu"},
        decode={"beam_size": 1, "hotwords": None},
        redaction={"mode": "off"},
        storage={"output": str(base / "out")},
    )  # type: ignore[arg-type]
    set_options(
        open_database(settings),
        open_source(str(spanish), settings.storage).uri,
        open_source(str(spanish), settings.storage).kind,
        {"language": "es", "hotwords": "fibra Acme"},
    )
    for folder in (spanish, mixed):
        summary = transcribe_source(settings, str(folder))
        assert summary.done == len(list(folder.iterdir())) and not summary.failed, summary
    yield Corpus(settings, spanish, mixed)
    drop()


def _query(url: str, sql: str) -> list[dict[str, Any]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return [dict(row) for row in conn.execute(text(sql)).mappings()]
    finally:
        engine.dispose()


def test_a_source_with_its_own_language_and_hotwords_is_transcribed_with_them(
    corpus: Corpus,
) -> None:
    url = corpus.settings.database_url
    runs = {
        r["uri"]: r["options"]
        for r in _query(
            url, "SELECT s.uri, r.options FROM runs r JOIN sources s ON s.id = r.source_id"
        )
    }
    spanish_uri = corpus.spanish.resolve().as_uri()
    assert runs[spanish_uri] == {"language": "es", "hotwords": "fibra Acme"}
    assert not runs[corpus.mixed.resolve().as_uri()]  # the other source keeps the globals
    rows = _query(
        url,
        "SELECT r.key, j.options, r.metadata FROM jobs j "
        "JOIN recordings r ON r.id = j.recording_id",
    )
    by_key = {row["key"]: row for row in rows}
    spanish = by_key["llamada.wav"]
    assert spanish["options"] == {"language": "es", "hotwords": "fibra Acme"}
    decode = spanish["metadata"]["transcription"]["decode"]
    assert (decode["language"], decode["hotwords"]) == ("es", "fibra Acme")
    assert spanish["metadata"]["transcription"]["source_options"]["language"] == "es"
    english = by_key["english.wav"]
    assert not english["options"]
    assert english["metadata"]["transcription"]["decode"]["language"] is None
    assert english["metadata"]["transcription"]["decode"]["hotwords"] is None
    languages = {
        row["key"]: row["languages"]
        for row in _query(
            url,
            "SELECT r.key, array_agg(DISTINCT s.language) AS languages FROM segments s "
            "JOIN recordings r ON r.id = s.recording_id GROUP BY r.key",
        )
    }
    assert languages["llamada.wav"] == ["es"] and languages["english.wav"] == ["en"]


def test_detection_listens_past_a_first_minute_of_music(corpus: Corpus) -> None:
    rows = _query(corpus.settings.database_url, "SELECT key, metadata, language FROM recordings")
    call = {row["key"]: row for row in rows}["music_then_spanish.wav"]
    assert call["language"] == "es"
    detected = call["metadata"]["transcription"]["languages"]["0"]
    assert detected["language"] == "es" and 0.5 < detected["probability"] <= 1.0
    exported = json.loads(
        next(Path(corpus.settings.storage.output).rglob("music_then_spanish.wav.json")).read_text()
    )
    assert exported["options"]["languages"]["0"]["language"] == "es"
