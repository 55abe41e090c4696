"""The speaker model (``workers.speakers.model``): built once from its pinned wheel (checked
by SHA-256) into the cache, the export checked against torch, the cached copy against its
recorded SHA-256; run without torch, and telling voices apart."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from callscribe.demo.voices import render_speech
from callscribe.workers.speakers.model import (
    SpeakerEncoder,
    SpeakerModelError,
    execution_providers,
    fbank,
    prepare_speaker_model,
    probe_features,
    sha256,
    speaker_model_file,
    verify_export,
)


@pytest.fixture(scope="module")
def encoder(speaker_model: Path) -> SpeakerEncoder:
    return SpeakerEncoder(speaker_model)


def _recorded(model: Path) -> str:
    return model.with_name(model.name + ".sha256").read_text().strip()


def test_the_built_model_is_recorded_and_not_built_twice(speaker_model: Path) -> None:
    assert _recorded(speaker_model) == sha256(speaker_model)
    built_at = speaker_model.stat().st_mtime_ns
    assert speaker_model_file(speaker_model.parent) == speaker_model
    assert speaker_model.stat().st_mtime_ns == built_at  # no second build


def test_a_damaged_copy_is_built_again(speaker_model: Path, tmp_path: Path) -> None:
    """A cached file that is not the recorded one (a half-written copy) is not used: it is
    removed and the model built again from the wheel, to a file that gives the same
    embeddings."""
    damaged = tmp_path / speaker_model.name
    damaged.write_bytes(speaker_model.read_bytes()[:1000])
    damaged.with_name(damaged.name + ".sha256").write_text(sha256(speaker_model))
    assert speaker_model_file(tmp_path) == damaged
    assert _recorded(damaged) == sha256(damaged)
    probe = np.random.default_rng(1).normal(0, 0.1, 32000).astype(np.float32)
    again, first = (
        SpeakerEncoder(damaged).embed([probe]),
        SpeakerEncoder(speaker_model).embed([probe]),
    )
    assert np.abs(again - first).max() < 1e-4
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [damaged.name, damaged.name + ".sha256"]  # nothing else is kept


def test_an_export_that_is_not_torchs_is_refused(speaker_model: Path, tmp_path: Path) -> None:
    """The build's check: the ONNX file must give the exporting torch's embeddings of the
    probe; a reference that differs (an export gone wrong) is one line."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(speaker_model), providers=["CPUExecutionProvider"])
    (faithful,) = session.run(None, {"feats": probe_features()})
    np.save(tmp_path / "same.npy", faithful + 1e-5)
    verify_export(speaker_model, tmp_path / "same.npy")  # within the tolerance: passes
    np.save(tmp_path / "off.npy", faithful + 0.01)
    with pytest.raises(SpeakerModelError) as raised:
        verify_export(speaker_model, tmp_path / "off.npy")
    assert "does not give torch's embeddings" in str(raised.value)
    assert "\n" not in str(raised.value)


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


def test_the_gpu_gets_the_cuda_provider_where_onnxruntime_has_one() -> None:
    cuda = ("CUDAExecutionProvider", {"device_id": 1})
    both = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert execution_providers("cuda", 1, both) == [cuda, "CPUExecutionProvider"]
    assert execution_providers("cuda", 0, ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert execution_providers("cpu", 0, both) == ["CPUExecutionProvider"]


def test_a_cuda_worker_without_the_gpu_provider_runs_the_model_on_the_cpu(
    speaker_model: Path,
) -> None:
    """The plain onnxruntime wheel (this machine's) has no CUDA provider: asking for the GPU
    still loads the model, on the CPU."""
    encoder = SpeakerEncoder(speaker_model, device="cuda")
    assert encoder.providers[-1] == "CPUExecutionProvider"
    assert encoder.embed([np.random.default_rng(0).normal(0, 0.1, 24000).astype("float32")]).any()


def test_a_worker_prepares_the_model_before_it_takes_jobs(
    speaker_model: Path, tmp_path: Path
) -> None:
    """``prepare_speaker_model`` (what ``callscribe worker`` calls first): None when the model
    is ready, else the one-line reason, never an exception."""
    assert prepare_speaker_model(str(speaker_model.parent)) is None
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    problem = prepare_speaker_model(str(blocked / "models"))
    assert problem and "cannot build the speaker model" in problem and "\n" not in problem
