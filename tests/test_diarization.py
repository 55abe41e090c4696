"""Who spoke, through the whole embedded run with the real tiny.en and the real speaker model:
mono mixes of generated support calls, a dual-mono MP3, one voice alone, a four-voice
meeting, and a speaker model that cannot be built (issue 22)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from callscribe.demo.calls import RealCall, make_real_call
from callscribe.demo.meeting import LINES, Meeting, make_meeting
from callscribe.demo.scoring import best_naming, renamed, speaker_time
from callscribe.demo.voices import SAMPLE_RATE, render_speech
from callscribe.models import Job, Recording
from callscribe.models import Segment as SegmentRow
from callscribe.models.db import make_engine, session_factory
from callscribe.run import transcribe_source
from callscribe.settings import Settings
from callscribe.workers.records import Segment
from callscribe.workers.results.recordings import load_transcript
from tests.test_real_speech import settings_for

CALL_SEEDS = (11, 12, 13, 14, 15)


def transcripts(settings: Settings) -> dict[str, list[Segment]]:
    """Every stored transcript, by recording key."""
    factory = session_factory(make_engine(settings.database_url))
    with factory.begin() as session:
        keys = dict(session.execute(Recording.__table__.select().with_only_columns(
            Recording.key, Recording.id)).all())  # fmt: skip
    return {key: load_transcript(factory, rid)[1] for key, rid in keys.items()}


@pytest.fixture(scope="module")
def calls(tmp_path_factory: pytest.TempPathFactory, tiny_en: Path, speaker_model: Path) -> Any:
    """Five mono calls (two with overtalk), a dual-mono MP3 and one voice alone, through one
    embedded run; then a four-voice meeting with ``diarization.speakers = auto``."""
    root = tmp_path_factory.mktemp("diarization")
    folder = root / "calls"
    folder.mkdir()
    made: dict[str, RealCall] = {}
    for seed in CALL_SEEDS:
        call = make_real_call(
            folder / f"mono_{seed}.wav", seed=seed, layout="mono", minutes=1.0,
            overtalk=seed % 2 == 0,
        )  # fmt: skip
        made[call.path.name] = call
    dual = make_real_call(folder / "dual.mp3", seed=16, layout="dual_mono", fmt="mp3", minutes=1.0)
    made[dual.path.name] = dual
    pause = np.zeros(SAMPLE_RATE // 2, np.float32)
    for voice in ("rms", "slt"):  # a voicemail: one voice, eight different sentences
        said = [np.concatenate([render_speech(voice, line), pause]) for line in LINES[:8]]
        _write_wav(folder / f"alone_{voice}.wav", np.concatenate([pause, *said]))
    settings = settings_for(tiny_en, f"sqlite:///{root}/calls.db", root / "out")
    summary = transcribe_source(settings, str(folder))
    assert not summary.failed

    meeting_dir = root / "meeting"
    meeting_dir.mkdir()
    meeting = make_meeting(meeting_dir / "meeting.wav", seed=3, speakers=4, turns=20)
    meeting_settings = settings_for(
        tiny_en, f"sqlite:///{root}/meeting.db", root / "meeting-out",
        diarization={"speakers": "auto"},
    )  # fmt: skip
    transcribe_source(meeting_settings, str(meeting_dir))
    return made, transcripts(settings), meeting, transcripts(meeting_settings)["meeting.wav"]


def _write_wav(path: Path, samples: np.ndarray) -> None:
    import wave

    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())


@pytest.mark.parametrize("seed", CALL_SEEDS)
def test_a_mono_call_is_told_apart_and_its_agent_named(calls: Any, seed: int) -> None:
    made, found, _meeting, _segments = calls
    call, segments = made[f"mono_{seed}.wav"], found[f"mono_{seed}.wav"]
    assert speaker_time(segments, call.turns) >= 0.95
    first = min(segments, key=lambda s: s.start)
    assert first.speaker == "agent"  # the agent answers
    assert {s.speaker for s in segments} == {"agent", "customer"}
    assert all(s.speaker_confidence is not None and 0 < s.speaker_confidence <= 1 for s in segments)
    for segment in segments:  # every word inside its segment, as the segment's speaker
        assert all(segment.start <= w.start <= w.end <= segment.end for w in segment.words)


@pytest.fixture(scope="module")
def calls_int8(calls: Any, tiny_en: Path, speaker_model_int8: Path, tmp_path_factory: Any) -> Any:
    """The same mono calls and dual-mono MP3 again, with ``diarization.precision = int8``
    (no warning: the int8 model, not the float one it falls back to)."""
    made, _found, _meeting, _segments = calls
    root = tmp_path_factory.mktemp("diarization-int8")
    folder = root / "calls"
    folder.mkdir()
    for name, call in made.items():
        if name.startswith(("mono_", "dual")):
            os.link(call.path, folder / name)  # the same audio
    settings = settings_for(
        tiny_en, f"sqlite:///{root}/calls.db", root / "out",
        diarization={"precision": "int8", "model_dir": str(speaker_model_int8.parent)},
    )  # fmt: skip
    warnings: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: warnings.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger("callscribe").addHandler(handler)
    try:
        summary = transcribe_source(settings, str(folder))
    finally:
        logging.getLogger("callscribe").removeHandler(handler)
    assert not summary.failed and not [w for w in warnings if "speaker model" in w], warnings
    return transcripts(settings)


@pytest.mark.parametrize("name", [*(f"mono_{seed}.wav" for seed in CALL_SEEDS), "dual.mp3"])
def test_the_int8_speaker_model_tells_the_same_calls_apart(
    calls: Any, calls_int8: Any, name: str
) -> None:
    made = calls[0]
    segments = calls_int8[name]
    assert speaker_time(segments, made[name].turns) >= 0.95
    assert min(segments, key=lambda s: s.start).speaker == "agent"
    assert {s.speaker for s in segments} == {"agent", "customer"}


def test_a_dual_mono_mp3_is_two_speakers_not_two_copies(calls: Any) -> None:
    made, found, _meeting, _segments = calls
    segments = found["dual.mp3"]
    assert {s.channel for s in segments} == {0}  # one transcript, not one per copy
    assert {s.speaker for s in segments} == {"agent", "customer"}
    assert speaker_time(segments, made["dual.mp3"].turns) >= 0.95


@pytest.mark.parametrize("voice", ["rms", "slt"])
def test_one_voice_is_one_speaker(calls: Any, voice: str) -> None:
    _made, found, _meeting, _segments = calls
    segments = found[f"alone_{voice}.wav"]
    assert segments and {s.speaker for s in segments} == {"agent"}


def test_a_four_voice_meeting_has_four_speakers(calls: Any) -> None:
    _made, _found, meeting, segments = calls
    assert isinstance(meeting, Meeting)
    naming = best_naming(segments, meeting.turns)
    assert len({s.speaker for s in segments}) == 4
    assert speaker_time(renamed(segments, naming), meeting.turns) >= 0.90
    assert {s.speaker for s in segments} == {f"speaker_{i}" for i in range(1, 5)}


def test_without_a_speaker_model_calls_are_unknown_and_not_failed(
    tmp_path: Path, tiny_en: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "calls"
    folder.mkdir()
    make_real_call(folder / "mono.wav", seed=21, layout="mono")
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    settings = settings_for(
        tiny_en, f"sqlite:///{tmp_path}/db.sqlite", tmp_path / "out",
        diarization={"model_dir": str(blocked / "models")},
    )  # fmt: skip
    with caplog.at_level(logging.WARNING):
        summary = transcribe_source(settings, str(folder))
    assert summary.done == 1 and not summary.failed
    segments = transcripts(settings)["mono.wav"]
    assert segments and {s.speaker for s in segments} == {"unknown"}
    warned = [
        r.getMessage() for r in caplog.records if "speaker model unavailable" in r.getMessage()
    ]
    assert len(warned) == 1 and "cannot build the speaker model" in warned[0]


def test_a_call_cut_into_jobs_keeps_one_name_per_voice(tmp_path: Path, tiny_en: Path) -> None:
    """A 1.5-minute mono call planned as three 40-s jobs: each job tells its voices apart
    on its own; finalizing matches the later jobs' voices to the first job's (the mean
    embeddings each job keeps), so the agent is the agent throughout."""
    folder = tmp_path / "calls"
    folder.mkdir()
    call = make_real_call(folder / "long.wav", seed=31, layout="mono", minutes=1.5)
    settings = settings_for(
        tiny_en, f"sqlite:///{tmp_path}/db.sqlite", tmp_path / "out", planning={"job_max_s": 40},
    )  # fmt: skip
    transcribe_source(settings, str(folder))
    factory = session_factory(make_engine(settings.database_url))
    with factory.begin() as session:
        jobs = session.scalars(select(Job).order_by(Job.seq)).all()
        assert len(jobs) == 3 and all(set(j.speakers or {}) <= {"agent", "customer"} for j in jobs)
        firsts = [
            session.scalars(select(SegmentRow).where(SegmentRow.job_id == j.id).order_by(
                SegmentRow.start_s)).first()
            for j in jobs
        ]  # fmt: skip
    # a later job opened by the customer named that voice "agent" itself (the first to
    # speak): only matching it to the first job's voices makes it the customer
    assert firsts[0] is not None and firsts[0].speaker == "agent"
    assert any(f is not None and f.speaker == "customer" for f in firsts[1:])
    segments = transcripts(settings)["long.wav"]
    assert speaker_time(segments, call.turns) >= 0.95
    assert {s.speaker for s in segments} == {"agent", "customer"}
