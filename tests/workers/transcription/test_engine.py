"""The engine runs faster-whisper's real code and must not change what the model hears:
a window's text and words equal ``WhisperModel.transcribe(without_timestamps=True,
word_timestamps=True)`` on the same clip with the same options (word times: see
``test_real_speech``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from callscribe.errors import ModelLoadError
from callscribe.settings import Settings, merge_values
from callscribe.workers.audio.decode import decode
from callscribe.workers.transcription import engine as engine_module
from callscribe.workers.transcription.decoding import encode_windows
from callscribe.workers.transcription.engine import Engine, WindowInput, get_engine, load_whisper
from tests.support.audio import place, speak

OPTION_SETS = [
    {"decode": {"beam_size": 1}},
    {"decode": {"beam_size": 5}},
    {"decode": {"beam_size": 2, "initial_prompt": "Acme router support", "hotwords": "refund"}},
    {"decode": {"beam_size": 1, "language": "en"}},
]


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[np.ndarray]:
    base = tmp_path_factory.mktemp("engine")
    speech = speak("I was charged twice this month, can you help me?", base / "s.wav")
    short = decode(speech, 1).channels[0]
    track = place(base / "t.wav", 30.0, [(0.5, speech), (12.0, speech), (24.0, speech)])
    full = decode(track, 1).channels[0]
    rng = np.random.default_rng(1)
    noise = (rng.normal(0, 0.05, 16000 * 7)).astype(np.float32)
    return [short, full, noise, full[: 16000 * 17]]


@pytest.mark.parametrize("opts", OPTION_SETS)
def test_window_text_equals_whisper_transcribe(
    model_dir: Path, clips: list[np.ndarray], opts: dict[str, object]
) -> None:
    settings = Settings(
        **merge_values(
            {
                "model": {"name": str(model_dir), "device": "cpu", "compute_type": "int8"},
                "execution": {"batch_size": 3},
                "decode": {"tail_s": 0},
            },
            opts,
        )
    )
    engine = get_engine(settings)
    results = engine.transcribe([WindowInput(i, clip, group=i) for i, clip in enumerate(clips)])
    assert [r.key for r in results] == list(range(len(clips)))
    for clip, result in zip(clips, results, strict=True):
        reference, info = engine.model.transcribe(
            clip,
            beam_size=settings.decode.beam_size,
            temperature=settings.decode.temperatures,
            vad_filter=False,
            condition_on_previous_text=False,
            language=settings.decode.language,
            initial_prompt=settings.decode.initial_prompt,
            hotwords=settings.decode.hotwords,
            without_timestamps=True,
        )
        (theirs,) = list(reference)  # a clip of ≤ 30 s without timestamps: one segment
        ours = result.decoded
        assert ours.text == theirs.text.strip() and ours.text, "the test model always speaks"
        assert "".join(w.word for w in ours.words).strip() == ours.text
        assert result.language == info.language
        assert ours.avg_logprob == pytest.approx(theirs.avg_logprob, abs=1e-3)
        assert ours.temperature == theirs.temperature == 0.0


def test_batching_does_not_change_results(model_dir: Path, clips: list[np.ndarray]) -> None:
    settings = Settings(
        model={"name": str(model_dir), "device": "cpu", "compute_type": "int8"},
        decode={"beam_size": 1},
    )
    model = load_whisper(settings.model)
    alone = [
        Engine(model, settings.decode, 1).transcribe([WindowInput(0, c, 0)])[0].decoded
        for c in clips
    ]
    batched = Engine(model, settings.decode, 4).transcribe(
        [WindowInput(i, c, i) for i, c in enumerate(clips)]
    )
    assert [r.decoded for r in batched] == alone


def test_model_is_loaded_once_per_process(model_dir: Path) -> None:
    settings = Settings(model={"name": str(model_dir), "device": "cpu", "compute_type": "int8"})
    assert get_engine(settings) is get_engine(settings.model_copy())


def test_missing_model_directory_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_whisper(Settings(model={"name": str(tmp_path / "nope"), "device": "cpu"}).model)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="not a CTranslate2 model directory"):
        load_whisper(Settings(model={"name": str(tmp_path / "empty"), "device": "cpu"}).model)


def test_model_name_without_network_explains_local_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # as on a machine that cannot reach the hub
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ModelLoadError) as info:
        load_whisper(
            Settings(model={"name": "tiny", "device": "cpu", "cache_dir": str(tmp_path)}).model
        )
    message = info.value.one_line()
    assert "cannot download model 'tiny'" in message
    assert "--model /path/to/model" in message
    assert "\n" not in message


def test_per_window_encoding_equals_one_batch(whisper: Any, clips: list[np.ndarray]) -> None:
    """On CPU the engine encodes one window at a time (``encode_windows``): the same
    encoder output as one batch, in the same order, for the real model."""
    from faster_whisper.transcribe import pad_or_trim

    features = [pad_or_trim(whisper.feature_extractor(c)[..., :-1]) for c in clips]
    batched = np.asarray(whisper.encode(np.stack(features)))
    ours = np.asarray(encode_windows(whisper, features))
    assert ours.shape == batched.shape == (len(clips), 1500, 384)
    np.testing.assert_allclose(ours, batched, atol=2e-3)
    assert np.abs(ours[0] - ours[1]).max() > 0.1, "the clips differ, so must their outputs"


#: A model thread's steady state in small: buffers of several sizes up to 30 MiB taken,
#: filled and freed, round after round; prints the page faults of each round.
ALLOCATING_THREAD = """
import resource, sys, threading, numpy as np
from callscribe.workers.transcription.allocator import tune_allocator
if sys.argv[1] == "tuned":
    assert tune_allocator() and tune_allocator()  # idempotent
def rounds(out):
    for _ in range(6):
        before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
        held = []
        for mib in (30, 20, 12, 6, 3, 25):
            block = np.empty(mib << 20, dtype=np.uint8)
            block.fill(1)
            held = held[-1:] + [block]
        del held, block
        out.append(resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before)
out = []
thread = threading.Thread(target=rounds, args=(out,))
thread.start()
thread.join()
print(*out)
"""


@pytest.mark.parametrize("mode", ["default", "tuned"])
def test_tuned_allocator_reuses_freed_model_memory(mode: str) -> None:
    """With glibc's defaults a thread that keeps taking and freeing large buffers (as the
    model does for every window) faults their pages in again every round; after
    ``tune_allocator`` the later rounds reuse the heap and fault in (almost) nothing."""
    run = subprocess.run(
        [sys.executable, "-c", ALLOCATING_THREAD, mode],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    steady = [int(n) for n in run.stdout.split()][2:]
    pages_per_round = (30 + 20 + 12 + 6 + 3 + 25) * 256
    if mode == "tuned":
        assert max(steady) < pages_per_round // 100, steady
    else:  # what the tuning is for: without it the faults never stop
        assert min(steady) > pages_per_round // 20, steady


def test_allocator_is_tuned_only_when_asked_on_cpu(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[bool] = []
    monkeypatch.setattr(engine_module, "tune_allocator", lambda: calls.append(True) or True)
    load_whisper(
        Settings(model={"name": str(model_dir), "device": "cpu", "tune_allocator": False}).model
    )
    assert calls == []
    load_whisper(Settings(model={"name": str(model_dir), "device": "cpu"}).model)
    assert calls == [True]
