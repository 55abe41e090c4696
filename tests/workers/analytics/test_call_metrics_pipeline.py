"""Call metrics through the whole pipeline: real-voice calls with deliberate overtalk and a
hold, transcribed by callscribe with the real tiny.en model into PostgreSQL; the stored
``call_metrics`` row, the view and the JSON export against the generator's exact turns."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from callscribe.demo.calls import RealCall, make_real_call
from callscribe.demo.matrix import reference_metrics
from callscribe.demo.realmodels import real_model_dir
from callscribe.demo.scoring import stored_segments
from callscribe.models.db import make_engine, session_factory
from callscribe.run import transcribe_source
from callscribe.settings import Settings
from callscribe.workers.analytics.activity import merge_activity
from callscribe.workers.results import recordings
from callscribe.workers.results.exports import Transcript
from callscribe.workers.results.finalize import one_channel_metrics
from tests.support.services import make_pg_database
from tests.test_real_speech import settings_for
from tests.workers.analytics.test_call_metrics import (
    MERGE_GAP_S,
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
        make_real_call(
            folder / "mono_6.wav", seed=6, minutes=0.75, layout="mono", fmt="wav", overtalk=False
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


@pytest.mark.parametrize("index", [2, 3], ids=["with-overtalk", "no-overtalk"])
def test_a_mono_call_gets_two_party_figures_from_who_spoke(run: Run, index: int) -> None:
    """A mono mix is diarized, so its talk is shared out by speaker: the two-party figures
    against the true turns of each party (as a stereo call of the same turns would have
    them), with the call still counted as one channel. Where both talk at once, the mix
    gives one voice's words: that time goes to one party (the truth's overtalk is the
    allowance), and no overtalk is found where none was."""
    call = run.calls[index]
    got = _rows(
        run.settings.database_url,
        "SELECT * FROM call_metrics m JOIN recordings r ON r.id = m.recording_id",
    )[call.path.name]
    want = reference_metrics(duration_s=call.duration, turns=call.turns, holds=call.holds,
                             merge_gap_s=MERGE_GAP_S)  # fmt: skip
    assert got["channels"] == 1 and got["words_per_minute"] and got["agent_wpm"]
    assert want.customer_talk_s and want.agent_talk_s and want.overtalk_s is not None
    assert (want.overtalk_s > 1.0) == (index == 2)
    # the mix's hidden voice of an overtalk may reach past the heard one's words, so the
    # truth's overtalk is the allowance of the call's talk too (0 on the call without)
    for name in ("talk_s", "non_talk_s"):
        error = abs(got[name] - getattr(want, name))
        assert error <= TOLERANCE_S + want.overtalk_s, (name, error, got, want)
    for name in ("agent_talk_s", "customer_talk_s"):
        error = abs(got[name] - getattr(want, name))
        assert error <= 2 * TOLERANCE_S + want.overtalk_s, (name, got, want)
    assert got["talk_ratio"] > 1.0 and want.talk_ratio and want.talk_ratio > 1.0
    if index == 3:
        assert got["overtalk_s"] == 0.0 and got["customer_talk_s"] == pytest.approx(
            want.customer_talk_s, abs=2 * TOLERANCE_S
        )
        assert got["customer_first_wait_s"] == pytest.approx(want.customer_first_wait_s, abs=0.5)
    assert got["hold_s"] == pytest.approx(want.hold_s, abs=2 * TOLERANCE_S)


def test_a_mono_call_nobody_told_apart_gets_nulls(run: Run) -> None:
    """Without named parties (diarization off or no speaker model: ``unknown``), a mono
    call gets only the figures that need no speaker."""
    call = run.calls[2]
    activity = recordings.load_activity(session_factory(make_engine(run.settings.database_url)),
                                        _recording_id(run, call))  # fmt: skip
    assert activity is not None and len(activity) == 1
    segments = stored_segments(run.settings.database_url, [call])[call.name]
    transcript = Transcript(
        recording_id=0, source="", key=call.path.name, duration_s=call.duration, channels=1,
        language="en", segments=tuple(replace(s, speaker="unknown") for s in segments),
        options={}, export_name=call.path.name,
    )  # fmt: skip
    got = one_channel_metrics(merge_activity(activity[0]), transcript, run.settings.segments)
    want = true_metrics(call)
    assert got.channels == 1 and got.words_per_minute
    for name in ("talk_s", "non_talk_s", "longest_silence_s"):
        assert abs(getattr(got, name) - getattr(want, name)) <= TOLERANCE_S, (name, got, want)
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
        assert getattr(got, name) is None, name


def _recording_id(run: Run, call: RealCall) -> int:
    return int(
        _rows(run.settings.database_url, "SELECT id, key FROM recordings")[call.path.name]["id"]
    )


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
