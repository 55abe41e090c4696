"""The speaker model at int8 (``workers.speakers.int8``): built once beside the float model
from calibration speech, checked against the float model's embeddings, recorded by SHA-256;
telling voices apart as the float one does; one line, and the float model, when it cannot
be built."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.orm import sessionmaker

from callscribe.demo.voices import render_speech
from callscribe.settings import Settings
from callscribe.workers.runtime.context import WorkerContext
from callscribe.workers.speakers.calibration import calibration_features
from callscribe.workers.speakers.int8 import check_int8
from callscribe.workers.speakers.model import (
    SpeakerEncoder,
    SpeakerModelError,
    sha256,
    speaker_model_file,
)


def _recorded(model: Path) -> str:
    return model.with_name(model.name + ".sha256").read_text().strip()


@pytest.fixture
def no_speech_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PATH with ffmpeg and the interpreter's own folder, but neither flite nor espeak-ng."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg
    (bin_dir / "ffmpeg").symlink_to(ffmpeg)
    monkeypatch.setenv("PATH", str(bin_dir))


def test_the_int8_model_is_smaller_recorded_and_not_built_twice(
    speaker_model: Path, speaker_model_int8: Path
) -> None:
    assert speaker_model_int8.parent == speaker_model.parent
    assert speaker_model_int8.name.startswith(speaker_model.stem + "-int8-")
    assert speaker_model_int8.stat().st_size < 0.4 * speaker_model.stat().st_size
    assert _recorded(speaker_model_int8) == sha256(speaker_model_int8)
    built_at = speaker_model_int8.stat().st_mtime_ns
    assert speaker_model_file(speaker_model.parent, "int8") == speaker_model_int8
    assert speaker_model_int8.stat().st_mtime_ns == built_at  # no second build


def test_int8_tells_voices_apart_close_to_the_float_model(
    speaker_model: Path, speaker_model_int8: Path
) -> None:
    lines = ["Thank you for calling, how can I help you today?", "Let me check that for you."]
    clips = [render_speech(v, t) for v in ("slt", "rms", "awb") for t in lines]
    e = SpeakerEncoder(speaker_model_int8).embed(clips)
    same = [float(e[i] @ e[i + 1]) for i in (0, 2, 4)]
    other = [float(e[i] @ e[j]) for i in (0, 1) for j in (2, 3, 4, 5)]
    assert min(same) > max(other) + 0.1, (same, other)
    full = SpeakerEncoder(speaker_model).embed(clips)
    assert float(np.mean(np.sum(e * full, axis=1))) > 0.8  # sentences it was not calibrated on


def test_a_damaged_int8_copy_is_built_again(
    speaker_model: Path, speaker_model_int8: Path, tmp_path: Path
) -> None:
    for path in (speaker_model, speaker_model.with_name(speaker_model.name + ".sha256")):
        shutil.copy(path, tmp_path / path.name)
    damaged = tmp_path / speaker_model_int8.name
    damaged.write_bytes(speaker_model_int8.read_bytes()[:1000])
    damaged.with_name(damaged.name + ".sha256").write_text(sha256(speaker_model_int8))
    assert speaker_model_file(tmp_path, "int8") == damaged
    assert _recorded(damaged) == sha256(damaged) and damaged.stat().st_size > 1_000_000
    leftovers = {p.name for p in tmp_path.iterdir()} - {
        speaker_model.name, speaker_model.name + ".sha256", damaged.name, damaged.name + ".sha256",
    }  # fmt: skip
    assert not leftovers  # the build's folder, venv and calibration audio are gone


def test_a_quantization_gone_wrong_is_refused(
    speaker_model: Path, speaker_model_int8: Path, tmp_path: Path
) -> None:
    features = calibration_features(tmp_path)
    check_int8(speaker_model, speaker_model_int8, features)  # the real one passes
    with pytest.raises(SpeakerModelError) as raised:  # a model of other voices' sound
        noise = np.random.default_rng(0).standard_normal(features.shape).astype(np.float32)
        check_int8(speaker_model, speaker_model_int8, features * 0 + noise * 40)
    assert "does not give the float model's embeddings" in str(raised.value)


def test_without_flite_or_espeak_ng_int8_is_one_line(no_speech_tools: None, tmp_path: Path) -> None:
    with pytest.raises(SpeakerModelError) as raised:
        calibration_features(tmp_path)
    message = str(raised.value)
    assert "apt-get install flite espeak-ng" in message and "\n" not in message


@pytest.fixture
def hello() -> np.ndarray:
    return render_speech("slt", "Hello there, thanks for calling.")


def test_a_worker_whose_int8_model_cannot_be_built_uses_the_float_one(
    speaker_model: Path,
    tmp_path: Path,
    hello: np.ndarray,
    no_speech_tools: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for path in (speaker_model, speaker_model.with_name(speaker_model.name + ".sha256")):
        shutil.copy(path, tmp_path / path.name)
    settings = Settings(diarization={"precision": "int8", "model_dir": str(tmp_path)})
    ctx = WorkerContext(settings=settings, factory=sessionmaker())
    with caplog.at_level(logging.WARNING):
        encoder = ctx.speaker_encoder()
    assert encoder is not None
    assert encoder.embed([hello]).any()
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 1 and "int8 speaker model unavailable, using the float one" in warned[0]
    assert "flite" in warned[0]
    assert not any("int8" in p.name for p in tmp_path.iterdir() if p.is_file())
