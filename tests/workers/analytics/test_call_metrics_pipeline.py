"""Call metrics through the whole pipeline: real-voice calls with deliberate overtalk and a
hold, transcribed by callscribe with the real tiny.en model into PostgreSQL; the stored
``call_metrics`` row, the view and the JSON export against the generator's exact turns."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from callscribe.demo.calls import RealCall, make_real_call
from callscribe.demo.realmodels import real_model_dir
from callscribe.models.db import make_engine
from callscribe.run import transcribe_source
from callscribe.settings import Settings
from tests.support.services import make_pg_database
from tests.test_real_speech import settings_for
from tests.workers.analytics.test_call_metrics import (
    SECONDS,
    TOLERANCE_S,
    _clear_of_merge_gap,
    true_metrics,
)


@dataclass
class Run:
    settings: Settings
    calls: list[RealCall]
    folder: Path


@pytest.fixture(scope="module")
def run(pg_admin: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    folder = tmp_path_factory.mktemp("metric-pipeline")
    calls = [
        make_real_call(folder / "stereo_5.wav", seed=5, minutes=1.0, overtalk=True),
        make_real_call(folder / "stereo_7.wav", seed=7, minutes=1.0, overtalk=True),
        make_real_call(
            folder / "mono_4.wav", seed=4, minutes=0.75, layout="mono", fmt="wav", overtalk=True
        ),
    ]
    for call in calls:  # the references stay out of the source folder
        call.path.with_suffix(".json").unlink(missing_ok=True)
    url, drop = make_pg_database(pg_admin)
    settings = settings_for(real_model_dir("tiny.en"), url, folder.parent / "metric-out")
    summary = transcribe_source(settings, str(folder))
    assert summary.done == len(calls) and not summary.failed, summary
    yield Run(settings, calls, folder)
    drop()


def _rows(url: str, sql: str) -> dict[str, dict[str, Any]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {row["key"]: dict(row) for row in conn.execute(text(sql)).mappings()}
    finally:
        engine.dispose()


def test_stored_metrics_match_the_true_turns(run: Run) -> None:
    rows = _rows(run.settings.database_url, "SELECT * FROM v_call_metrics")
    assert set(rows) == {c.path.name for c in run.calls}
    for call in run.calls[:2]:
        assert _clear_of_merge_gap(call), call.name
        want, got = true_metrics(call), rows[call.path.name]
        assert got["channels"] == 2 and want.hold_s and want.hold_s > 4.0
        errors = {name: abs(got[name] - getattr(want, name)) for name in SECONDS}
        assert max(errors.values()) <= TOLERANCE_S, (call.name, errors, got, want)
        assert got["overtalk_count"] == want.overtalk_count, (call.name, got, want)
        assert want.agent_interruptions and want.customer_interruptions
        assert (got["agent_interruptions"], got["customer_interruptions"]) == (
            want.agent_interruptions,
            want.customer_interruptions,
        ), (call.name, got, want)


def test_a_mono_call_gets_nulls_where_two_parties_are_needed(run: Run) -> None:
    call = run.calls[2]
    got = _rows(
        run.settings.database_url,
        "SELECT * FROM call_metrics m JOIN recordings r ON r.id = m.recording_id",
    )[call.path.name]
    want = true_metrics(call)
    assert got["channels"] == 1 and got["words_per_minute"]
    for name in ("talk_s", "non_talk_s", "longest_silence_s"):
        assert abs(got[name] - getattr(want, name)) <= TOLERANCE_S, (name, got, want)
    for name in (
        "agent_talk_s",
        "customer_talk_s",
        "talk_ratio",
        "hold_s",
        "overtalk_s",
        "overtalk_count",
        "agent_interruptions",
        "customer_interruptions",
        "agent_wpm",
        "customer_wpm",
        "customer_first_wait_s",
        "agent_response_gap_s",
    ):
        assert got[name] is None, name


def test_json_export_carries_the_metrics(run: Run) -> None:
    rows = _rows(run.settings.database_url, "SELECT * FROM v_call_metrics")
    for call in run.calls:
        exported = next(Path(run.settings.storage.output).rglob(f"{call.path.name}.json"))
        metrics = json.loads(exported.read_text())["metrics"]
        assert metrics["talk_s"] == pytest.approx(rows[call.path.name]["talk_s"])
        assert metrics["channels"] == rows[call.path.name]["channels"]


def test_metrics_are_replaced_when_the_call_changes(run: Run) -> None:
    call = run.calls[0]
    before = _rows(run.settings.database_url, "SELECT * FROM v_call_metrics")[call.path.name]
    changed = make_real_call(call.path, seed=12, minutes=0.6, overtalk=False, hold=False)
    changed.path.with_suffix(".json").unlink(missing_ok=True)
    summary = transcribe_source(run.settings, str(run.folder))
    assert summary.registration.changed == 1 and not summary.failed
    rows = _rows(run.settings.database_url, "SELECT * FROM v_call_metrics")
    after = rows[call.path.name]
    assert len(rows) == len(run.calls)  # one row per recording, replaced
    assert after["transcript_version"] > before["transcript_version"]
    assert after["hold_s"] == pytest.approx(0.0, abs=TOLERANCE_S)
    assert abs(after["talk_s"] - true_metrics(changed).talk_s) <= TOLERANCE_S
