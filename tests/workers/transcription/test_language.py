"""Per-window decode options, the translate task, and language detection over several
windows of a channel.

The random-weight test model checks the mechanics (batches hold one language and one set of
options, results equal decoding each window alone with its options, detection runs once per
group); the multilingual Whisper base model checks what they are for: Spanish speech
translated to English as ``WhisperModel.transcribe(task="translate")`` does it, and a channel
whose first window is line noise or hold music still detected as Spanish."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from callscribe.demo.realmodels import real_model_dir
from callscribe.demo.voices import hold_music, render_speech
from callscribe.settings import DecodeSection, ModelSection
from callscribe.workers.transcription import language as language_module
from callscribe.workers.transcription.batching import Batcher
from callscribe.workers.transcription.engine import Engine, ReadyWindow, WindowInput, load_whisper

SR = 16000
TEST_MODEL = {"device": "cpu", "compute_type": "int8", "cpu_threads": 2}

#: Options that change how a window is decoded (the test model's text does not depend on
#: them, its scores do): each set must give what it gives alone, in any batch.
OPTIONS = [
    DecodeSection(beam_size=1, tail_s=0),
    DecodeSection(beam_size=2, initial_prompt="Acme router support", hotwords="refund", tail_s=0),
    DecodeSection(beam_size=1, task="translate", temperatures=(0.0, 0.5), tail_s=0),
    DecodeSection(beam_size=1, language="en", tail_s=0),
]


def _noise(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(0, 0.05, int(seconds * SR)).astype(np.float32)


@pytest.fixture(scope="module")
def test_model(model_dir: Path) -> Any:
    return load_whisper(ModelSection(name=str(model_dir), **TEST_MODEL))


def _mixed_windows() -> list[WindowInput]:
    """Three windows for each set of options (and three with the engine's own), each its
    own length, interleaved as jobs would hand them in."""
    windows = []
    for n in range(3):
        for k, options in enumerate([*OPTIONS, None]):
            windows.append(
                WindowInput(
                    (k, n),
                    _noise(0.4 + 0.3 * n + 0.1 * k, seed=10 * k + n),
                    group=k,
                    options=options,
                )
            )
    return windows


def _alone(model: Any, window: WindowInput, default: DecodeSection) -> Any:
    """What a window gives decoded on its own, by an engine whose options are its own."""
    engine = Engine(model, window.options or default, 1)
    return engine.transcribe([WindowInput(window.key, window.audio, window.group)])[0]


def _recording_batches(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[list[ReadyWindow]]:
    batches: list[list[ReadyWindow]] = []
    real = engine.decode

    def spy(batch: list[ReadyWindow]) -> Any:
        batches.append(list(batch))
        return real(batch)

    monkeypatch.setattr(engine, "decode", spy)
    return batches


def test_windows_with_their_own_options_decode_as_alone(
    test_model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    default = DecodeSection(beam_size=3, tail_s=0)
    engine = Engine(test_model, default, 4)
    batches = _recording_batches(engine, monkeypatch)
    windows = _mixed_windows()
    results = engine.transcribe(windows)
    assert [r.key for r in results] == [w.key for w in windows]
    for batch in batches:
        assert len({item.batch_key for item in batch}) == 1
    assert {b[0].options for b in batches} == {*OPTIONS, default}
    for window, result in zip(windows, results, strict=True):
        alone = _alone(test_model, window, default)
        assert result == alone and result.decoded.text
        assert result.language == "en" and 0 < result.language_probability <= 1


def test_batcher_keeps_jobs_options_apart(test_model: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    default = DecodeSection(beam_size=1, tail_s=0)
    engine = Engine(test_model, default, 4)
    batches = _recording_batches(engine, monkeypatch)
    batcher = Batcher(engine, batch_size=4, max_wait_s=60)
    windows = _mixed_windows()
    jobs = {k: [w for w in windows if w.group == k] for k in range(len(OPTIONS) + 1)}
    with batcher.preparing():  # only full batches run meanwhile
        futures = {k: batcher.submit(job) for k, job in jobs.items()}
    results = {k: f.result(timeout=120) for k, f in futures.items()}
    for batch in batches:
        assert len({item.batch_key for item in batch}) == 1
    assert batcher.windows_run == len(windows)
    for k, job in jobs.items():
        assert [r.key for r in results[k].windows] == [w.key for w in job]
        assert list(results[k].windows) == [_alone(test_model, w, default) for w in job]


def test_a_partial_batch_of_other_options_does_not_wait_behind_a_fuller_queue(
    test_model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The window that has waited ``max_wait_s`` runs first, though another queue is
    fuller (it would have waited for that queue's deadline)."""
    engine = Engine(test_model, DecodeSection(beam_size=1, tail_s=0), 4)
    batches = _recording_batches(engine, monkeypatch)
    batcher = Batcher(engine, batch_size=4, max_wait_s=0.6)
    lone = [WindowInput("lone", _noise(0.5, 1), "a", options=OPTIONS[1])]
    crowd = [WindowInput(("crowd", i), _noise(0.5, 2 + i), "b") for i in range(3)]
    with batcher.preparing():
        began = time.perf_counter()
        first = batcher.submit(lone)
        time.sleep(0.3)
        second = batcher.submit(crowd)
        first.result(timeout=60)
        second.result(timeout=60)
    assert time.perf_counter() - began >= 0.6
    assert [[item.key for item in b] for b in batches] == [["lone"], [w.key for w in crowd]]


def test_language_is_detected_once_per_group_from_its_longest_windows(
    test_model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[int]] = []
    real = language_module.distributions

    def spy(model: Any, features: list[np.ndarray]) -> list[dict[str, float]]:
        calls.append([f.shape[-1] for f in features])
        return real(model, features)

    monkeypatch.setattr(language_module, "distributions", spy)
    engine = Engine(test_model, DecodeSection(detect_windows=3), 8)
    seconds = [1.0, 3.0, 2.0, 5.0, 4.0, 0.5]
    windows = [
        WindowInput((g, i), _noise(s, i), group=g)
        for g in ("left", "right")
        for i, s in enumerate(seconds)
    ]
    ready = engine.prepare(windows)
    assert calls == [[300, 500, 400], [300, 500, 400]]  # the three longest, in order
    assert {(r.language, r.language_probability) for r in ready[:6]} == {
        (ready[0].language, ready[0].language_probability)
    }
    assert ready[0].language == "en" and 0.9 < ready[0].language_probability <= 1

    calls.clear()
    fixed = DecodeSection(language="de")
    ready = engine.prepare([WindowInput(i, _noise(1, i), 0, options=fixed) for i in range(3)])
    assert not calls and {(r.language, r.language_probability) for r in ready} == {("de", 1.0)}


def test_one_window_is_detected_as_faster_whisper_detects_it(test_model: Any) -> None:
    audio = _noise(7, 3)
    (ready,) = Engine(test_model, DecodeSection(), 1).prepare([WindowInput(0, audio, 0)])
    language, probability, _all = test_model.detect_language(
        features=test_model.feature_extractor(audio)[..., :-1]
    )
    assert ready.language == language
    assert ready.language_probability == pytest.approx(probability, abs=1e-4)


# --------------------------------------------------------------------- real models

SPANISH = (
    "Buenos días, llamo porque me cobraron dos veces este mes y quiero un reembolso.",
    "Mi número de cuenta es cuatro cinco seis, y la factura llegó ayer por la tarde.",
    "Gracias por esperar, ya encontré su pedido y el técnico llega el lunes.",
)
ENGLISH = "Hi, I have a question about my bill, I was charged twice this month."


def _spanish(n: int) -> np.ndarray:
    """About nine seconds of Spanish: two sentences, half a second apart."""
    first, second = (render_speech("espeak:es", SPANISH[(n + k) % 3]) for k in (0, 1))
    return np.concatenate([first, np.zeros(SR // 2, np.float32), second])


@pytest.fixture(scope="module")
def base_model() -> Any:
    return load_whisper(
        ModelSection(
            name=str(real_model_dir("base")), device="cpu", compute_type="int8", cpu_threads=2
        )
    )


@pytest.fixture(scope="module")
def tiny_model() -> Any:
    return load_whisper(
        ModelSection(
            name=str(real_model_dir("tiny.en")), device="cpu", compute_type="int8", cpu_threads=2
        )
    )


def _first_window_language(model: Any, audio: np.ndarray) -> str:
    """How the language was detected before: from the group's first window alone."""
    language, _probability, _all = model.detect_language(
        features=model.feature_extractor(audio)[..., :-1]
    )
    return str(language)


@pytest.mark.parametrize("opening", ["noise", "hold music"])
def test_a_channel_opening_on_noise_or_music_is_detected_from_its_speech(
    base_model: Any, opening: str
) -> None:
    first = _noise(10, 0) if opening == "noise" else hold_music(12.0)
    channel = [first, *(_spanish(n) for n in range(3))]
    assert _first_window_language(base_model, first) != "es"  # the old method's answer
    engine = Engine(base_model, DecodeSection(), 8)
    ready = engine.prepare([WindowInput(i, audio, "customer") for i, audio in enumerate(channel)])
    assert {r.language for r in ready} == {"es"}
    assert len({r.language_probability for r in ready}) == 1
    assert 0.5 < ready[0].language_probability < 1


def test_clear_speech_is_detected_with_high_probability(base_model: Any) -> None:
    engine = Engine(base_model, DecodeSection(), 8)
    english, spanish = engine.prepare(
        [
            WindowInput("agent", render_speech("slt", ENGLISH), "agent"),
            WindowInput("customer", _spanish(0), "customer"),
        ]
    )
    assert english.language == "en" and 0.9 < english.language_probability < 1
    assert spanish.language == "es" and 0.8 < spanish.language_probability < 1


def test_an_english_only_model_hears_english(tiny_model: Any) -> None:
    engine = Engine(tiny_model, DecodeSection(), 8)
    ready = engine.prepare(
        [
            WindowInput(0, _spanish(0), 0),
            WindowInput(1, _noise(3, 1), 0, options=DecodeSection(language="es")),
        ]
    )
    assert [(r.language, r.language_probability) for r in ready] == [("en", 1.0)] * 2


def _reference(model: Any, audio: np.ndarray, options: DecodeSection) -> tuple[str, Any]:
    segments, info = model.transcribe(
        audio,
        task=options.task,
        beam_size=options.beam_size,
        temperature=options.temperatures,
        language=options.language,
        vad_filter=False,
        condition_on_previous_text=False,
        without_timestamps=True,
    )
    return " ".join(s.text.strip() for s in segments), info


def test_translate_gives_english_as_faster_whisper_does(base_model: Any) -> None:
    """One batcher, two jobs on the same Spanish clip: one translated, one transcribed.
    Each equals ``WhisperModel.transcribe`` with its task."""
    clip = _spanish(0)
    translate = DecodeSection(task="translate", tail_s=0)
    transcribe = DecodeSection(tail_s=0)
    batcher = Batcher(Engine(base_model, transcribe, 4), batch_size=4, max_wait_s=60)
    tasks = {"translate": translate, "transcribe": transcribe}
    with batcher.preparing():  # both jobs are queued before a batch runs
        futures = {
            name: batcher.submit([WindowInput(name, clip, name, options=options)])
            for name, options in tasks.items()
        }
    found = {name: f.result(timeout=300).windows[0] for name, f in futures.items()}
    assert batcher.batches_run == 2  # one per task
    for name, options in tasks.items():
        text, info = _reference(base_model, clip, options)
        result = found[name]
        assert result.decoded.text == text
        assert result.language == info.language == "es"
        assert result.language_probability == pytest.approx(info.language_probability, abs=0.02)
    assert "buenos" in found["transcribe"].decoded.text.lower()
    english = found["translate"].decoded.text.lower()
    assert "buenos" not in english and " i " in f" {english} "
