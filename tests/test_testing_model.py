"""Tests for support.model, run through faster-whisper's real inference code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from faster_whisper import BatchedInferencePipeline, WhisperModel
from faster_whisper.audio import pad_or_trim
from faster_whisper.tokenizer import _LANGUAGE_CODES, Tokenizer
from faster_whisper.transcribe import Segment, TranscriptionInfo
from numpy.typing import NDArray

from tests.support.model import (
    END_TIMESTAMP,
    EOT,
    MAX_TOKENS_PER_WINDOW,
    SHAPES,
    SOT,
    WHISPER_LANGUAGES,
    WORDS,
    VocabLayout,
    build_tokenizer,
    build_whisper_model,
    chain_words,
    expected_text,
)

SR = 16000
TEXT = expected_text(8)


def noise(seconds: float, seed: int = 0) -> NDArray[np.float32]:
    return (np.random.default_rng(seed).standard_normal(int(seconds * SR)) * 0.1).astype(np.float32)


def silence_then_noise(silence_s: float, noise_s: float) -> NDArray[np.float32]:
    return np.concatenate([np.zeros(int(silence_s * SR), np.float32), noise(noise_s, seed=1)])


def transcribe(
    model: WhisperModel | BatchedInferencePipeline, audio: NDArray[np.float32], **kwargs: Any
) -> tuple[list[Segment], TranscriptionInfo]:
    kwargs.setdefault("vad_filter", False)
    segments, info = model.transcribe(audio, **kwargs)
    return list(segments), info


def assert_confident(segment: Segment, text: str = TEXT) -> None:
    assert segment.text == text
    assert segment.avg_logprob > -0.5
    assert segment.no_speech_prob < 0.01
    assert segment.temperature == 0.0  # no fallback
    assert segment.compression_ratio < 2.4
    assert segment.end > segment.start


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_whisper_model(tmp_path_factory.mktemp("whisper") / "test")


@pytest.fixture(scope="module", params=["int8", "float32"])
def model(request: pytest.FixtureRequest, model_dir: Path) -> WhisperModel:
    return WhisperModel(str(model_dir), device="cpu", compute_type=request.param, cpu_threads=2)


# ------------------------------------------------------------------------------ files, vocab


def test_model_directory(model_dir: Path) -> None:
    names = {p.name for p in model_dir.iterdir()}
    assert {"model.bin", "config.json", "vocabulary.json", "tokenizer.json"} <= names
    config = json.loads((model_dir / "config.json").read_text())
    assert config["lang_ids"] == list(range(50259, 50358))
    assert config["suppress_ids_begin"] == [220, EOT]
    assert config["suppress_ids"] and all(i < EOT for i in config["suppress_ids"])
    assert config["alignment_heads"] == [[0, 0], [0, 1]]
    pre = json.loads((model_dir / "preprocessor_config.json").read_text())
    assert (pre["feature_size"], pre["sampling_rate"], pre["hop_length"]) == (80, SR, 160)
    assert (pre["chunk_length"], pre["n_fft"]) == (30, 400)
    vocab = json.loads((model_dir / "vocabulary.json").read_text())
    assert len(vocab) == 51865
    assert vocab[220] == "Ġ" and vocab[EOT] == "<|endoftext|>"
    assert vocab[SOT] == "<|startoftranscript|>" and vocab[-1] == "<|30.00|>"


@pytest.mark.parametrize(("languages", "size"), [(99, 51865), (100, 51866)])
def test_vocabulary_layout(languages: int, size: int) -> None:
    layout = VocabLayout(languages)
    tok = build_tokenizer(layout)
    assert tok.get_vocab_size() == layout.size == size
    ids = {t: tok.token_to_id(t) for t in layout.special_tokens()}
    assert ids["<|endoftext|>"] == 50257 and ids["<|startoftranscript|>"] == 50258
    assert ids["<|en|>"] == 50259 and ids["<|zh|>"] == 50260
    assert ids["<|transcribe|>"] == 50359 + (languages - 99)
    assert ids["<|notimestamps|>"] == 50363 + (languages - 99)
    assert ids["<|0.00|>"] == layout.timestamp(0.0) == ids["<|notimestamps|>"] + 1
    assert ids["<|30.00|>"] == size - 1
    assert ids["<|1.00|>"] == layout.timestamp(END_TIMESTAMP)
    assert (ids.get("<|yue|>") is not None) == (languages == 100)


def test_tokenizer_words_and_languages() -> None:
    assert set(WHISPER_LANGUAGES) == set(_LANGUAGE_CODES)
    assert len(set(WORDS)) == len(WORDS) >= MAX_TOKENS_PER_WINDOW
    tok = build_tokenizer(VocabLayout())
    encoded = tok.encode(expected_text(40), add_special_tokens=False).ids
    assert len(encoded) == 40  # one token per word
    assert tok.decode(encoded) == expected_text(40)
    assert tok.decode([tok.get_vocab()["Ġcharlie"]]) == " charlie"
    assert tok.decode(tok.encode(" hello, refund? -").ids) == " hello, refund? -"
    assert chain_words(3) == ["alpha", "bravo", "charlie"]
    assert expected_text(2) == " alpha bravo"


def test_invalid_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="tokens_per_window"):
        build_whisper_model(tmp_path, tokens_per_window=0)
    with pytest.raises(ValueError, match="tokens_per_window"):
        build_whisper_model(tmp_path, tokens_per_window=MAX_TOKENS_PER_WINDOW + 1)
    with pytest.raises(ValueError, match="unknown shape"):
        build_whisper_model(tmp_path, shape="gigantic")


def test_real_shapes() -> None:
    assert (SHAPES["tiny"].d_model, SHAPES["tiny"].n_heads) == (384, 6)
    assert (SHAPES["large-v3"].n_mels, SHAPES["large-v3"].vocab_size) == (128, 51866)
    assert SHAPES["large-v3-turbo"].decoder_layers == 4
    assert all(s.n_audio_ctx == 1500 and s.n_text_ctx == 448 for s in SHAPES.values())
    assert SHAPES["medium"].num_languages == 99 and SHAPES["large-v3"].num_languages == 100


# ------------------------------------------------------------------------------ inference


def test_loads_as_multilingual(model: WhisperModel) -> None:
    assert model.model.is_multilingual
    assert model.model.n_mels == 80
    assert model.model.num_languages == 99


def test_transcribe_noise(model: WhisperModel) -> None:
    segments, info = transcribe(model, noise(5))
    assert info.language == "en" and info.language_probability > 0.99
    assert len(segments) == 1
    assert_confident(segments[0])
    assert (segments[0].start, segments[0].end) == (0.0, END_TIMESTAMP)
    assert segments[0].tokens[0] == 50364 and segments[0].tokens[-1] == 50414


def test_transcribe_30s_silence_and_noise(model: WhisperModel) -> None:
    segments, info = transcribe(model, silence_then_noise(20, 10))
    assert info.language == "en" and info.duration == 30.0
    assert len(segments) == 1
    assert_confident(segments[0])


def test_without_timestamps(model: WhisperModel) -> None:
    segments, _ = transcribe(model, noise(5), without_timestamps=True)
    assert len(segments) == 1
    assert_confident(segments[0])
    assert segments[0].end == 5.0  # no timestamp tokens: the segment spans the window
    assert all(t < EOT for t in segments[0].tokens)


@pytest.mark.parametrize("beam_size", [1, 5])
@pytest.mark.parametrize("without_timestamps", [False, True])
def test_beam_sizes(model: WhisperModel, beam_size: int, without_timestamps: bool) -> None:
    segments, _ = transcribe(
        model, noise(5), beam_size=beam_size, without_timestamps=without_timestamps
    )
    assert len(segments) == 1
    assert_confident(segments[0])


def test_initial_prompt_and_hotwords(model: WhisperModel) -> None:
    segments, _ = transcribe(model, noise(5), initial_prompt="hello", hotwords="refund")
    assert len(segments) == 1
    assert_confident(segments[0])


def test_translate_and_forced_language(model: WhisperModel) -> None:
    for kwargs in ({"task": "translate"}, {"language": "de"}):
        segments, _ = transcribe(model, noise(5), **kwargs)
        assert [s.text for s in segments] == [TEXT]


def test_two_windows_condition_on_previous_text(model: WhisperModel) -> None:
    segments, _ = transcribe(model, noise(45))
    assert [s.start for s in segments] == [0.0, 30.0]
    for segment in segments:
        assert_confident(segment)


def test_detect_language(model: WhisperModel) -> None:
    language, probability, all_probs = model.detect_language(noise(5))
    assert language == "en" and probability > 0.99
    assert len(all_probs) == 99


def test_word_timestamps(model: WhisperModel) -> None:
    segments, _ = transcribe(model, noise(5), word_timestamps=True)
    assert [w.word for w in segments[0].words or []] == [" " + w for w in chain_words(8)]


def test_batched_pipeline(model: WhisperModel) -> None:
    pipeline = BatchedInferencePipeline(model)
    clips = [{"start": 0, "end": 10}, {"start": 10, "end": 20}]
    segments, info = transcribe(pipeline, noise(20), batch_size=4, clip_timestamps=clips)
    assert info.language == "en"
    assert [(s.start, s.end) for s in segments] == [(0.0, 10.0), (10.0, 20.0)]
    for segment in segments:
        assert_confident(segment)


def test_batched_forward(model: WhisperModel) -> None:
    pipeline = BatchedInferencePipeline(model)
    _, info = transcribe(pipeline, noise(20), clip_timestamps=[{"start": 0, "end": 10}])
    clips = [noise(8, seed=2), noise(8, seed=3)]
    features = np.stack([pad_or_trim(model.feature_extractor(c)[..., :-1]) for c in clips])
    tokenizer = Tokenizer(model.hf_tokenizer, True, task="transcribe", language="en")
    options = info.transcription_options
    metadata = [{"offset": 0.0, "duration": 8.0}, {"offset": 8.0, "duration": 8.0}]
    results = pipeline.forward(features, tokenizer, metadata, options)
    assert [[s["text"] for s in r] for r in results] == [[TEXT], [TEXT]]


# ------------------------------------------------------------------------------ other builds


def test_forty_words(tmp_path: Path) -> None:
    path = build_whisper_model(tmp_path / "m40", tokens_per_window=40, seed=3)
    model = WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=2)
    for without_timestamps in (False, True):
        segments, _ = transcribe(model, noise(5), without_timestamps=without_timestamps)
        assert len(segments) == 1
        assert_confident(segments[0], expected_text(40))
        assert len(segments[0].text.split()) == 40


def test_stored_int8(tmp_path: Path) -> None:
    path = build_whisper_model(tmp_path / "q", quantization="int8")
    model = WhisperModel(str(path), device="cpu", compute_type="float32", cpu_threads=2)
    assert [s.text for s in transcribe(model, noise(5))[0]] == [TEXT]


def test_large_v3_vocabulary(tmp_path: Path) -> None:
    path = build_whisper_model(tmp_path / "v3", shape="test-v3")
    model = WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=2)
    assert model.model.is_multilingual and model.model.n_mels == 128
    assert model.model.num_languages == 100
    segments, info = transcribe(model, noise(5))
    assert info.language == "en"
    assert [s.text for s in segments] == [TEXT]


def test_tiny_shape(tmp_path: Path) -> None:
    path = build_whisper_model(tmp_path / "tiny", shape="tiny")
    model = WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=2)
    segments, info = transcribe(model, noise(5))
    assert info.language == "en"
    assert len(segments) == 1
    assert_confident(segments[0])
