"""The speaker model (``workers.speakers.model``): built once from its pinned wheel into the
cache and checked by SHA-256, run without torch, and telling voices apart."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from callscribe.demo.voices import render_speech
from callscribe.workers.speakers.model import (
    ONNX_SHA256,
    SpeakerEncoder,
    SpeakerModelError,
    fbank,
    sha256,
    speaker_model_file,
)


@pytest.fixture(scope="module")
def encoder(speaker_model: Path) -> SpeakerEncoder:
    return SpeakerEncoder(speaker_model)


def test_the_built_model_is_the_pinned_one(speaker_model: Path) -> None:
    assert sha256(speaker_model) == ONNX_SHA256
    assert speaker_model_file(speaker_model.parent) == speaker_model  # no second build


def test_a_damaged_copy_is_built_again(speaker_model: Path, tmp_path: Path) -> None:
    """A cached file that is not the expected one (a half-written copy) is not used: it is
    removed and the model built again from the wheel, to the same bytes."""
    damaged = tmp_path / speaker_model.name
    damaged.write_bytes(speaker_model.read_bytes()[:1000])
    assert speaker_model_file(tmp_path) == damaged
    assert sha256(damaged) == ONNX_SHA256
    assert [p.name for p in tmp_path.iterdir()] == [damaged.name]  # nothing else is kept


def test_a_build_that_cannot_run_is_one_line(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    with pytest.raises(SpeakerModelError) as raised:
        speaker_model_file(blocked / "models")
    assert "cannot build the speaker model" in str(raised.value)
    assert "\n" not in str(raised.value)


def test_one_voice_is_closer_to_itself_than_to_another(encoder: SpeakerEncoder) -> None:
    lines = ["Thank you for calling, how can I help you today?", "Let me check that for you."]
    clips = [render_speech(v, t) for v in ("slt", "rms", "awb") for t in lines]
    e = encoder.embed(clips)
    assert e.shape == (6, 192) and np.allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-4)
    same = [float(e[i] @ e[i + 1]) for i in (0, 2, 4)]
    other = [float(e[i] @ e[j]) for i in (0, 1) for j in (2, 3, 4, 5)]
    assert min(same) > max(other) + 0.1, (same, other)
    assert encoder.embed([np.zeros(800, np.float32)])[0].tolist() == [0.0] * 192  # too short


def test_filterbanks_are_kaldis_mean_normalised() -> None:
    clip = render_speech("slt", "Hello there.")
    feats = fbank(clip)
    assert feats.shape == (1 + (len(clip) - 400) // 160, 80)
    assert np.allclose(feats.mean(axis=0), 0.0, atol=1e-3)


def test_the_worker_side_never_imports_torch(speaker_model: Path) -> None:
    code = (
        "import sys, numpy as np\n"
        "from pathlib import Path\n"
        "from callscribe.workers.speakers.model import SpeakerEncoder\n"
        "from callscribe.workers.speakers.diarize import diarize_channel\n"
        f"e = SpeakerEncoder(Path({str(speaker_model)!r}))\n"
        "e.embed([np.random.default_rng(0).normal(0, 0.1, 24000).astype('float32')])\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
