"""The model side of a worker: load faster-whisper once per process and transcribe many
windows (≤ 30 s each, from any recordings and channels) in full batches.

It runs faster-whisper's own batched decoding path (``BatchedInferencePipeline.forward``),
so a window gives the same text as ``WhisperModel.transcribe`` on the same clip with the
same options (tested).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from callscribe.errors import ModelLoadError
from callscribe.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DecodeOptions:
    """Decoding options, recorded with every result."""

    model: str
    device: str
    compute_type: str
    beam_size: int
    language: str | None
    initial_prompt: str | None
    hotwords: str | None
    segment_timestamps: bool
    batch_size: int
    no_speech_threshold: float = 0.6
    log_prob_threshold: float = -1.0

    @classmethod
    def from_settings(cls, settings: Settings) -> DecodeOptions:
        return cls(
            model=settings.model, device=settings.device, compute_type=settings.compute_type,
            beam_size=settings.beam_size, language=settings.language,
            initial_prompt=settings.initial_prompt, hotwords=settings.hotwords,
            segment_timestamps=settings.segment_timestamps,
            batch_size=batch_size_for(settings),
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class WindowInput:
    """One window to transcribe; ``group`` windows share a detected language."""

    key: Hashable
    audio: np.ndarray
    group: Hashable


@dataclass(frozen=True)
class ReadyWindow:
    """A window with its features computed and its language known: what a batch takes."""

    key: Hashable
    features: np.ndarray
    samples: int
    language: str


@dataclass(frozen=True)
class SegmentText:
    """A transcribed piece of a window; times relative to the window start."""

    start: float
    end: float
    text: str
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float


@dataclass(frozen=True)
class WindowResult:
    """What the model made of one window."""

    key: Hashable
    language: str
    segments: tuple[SegmentText, ...]


def resolve_device(device: str) -> str:
    """``auto`` → ``cuda`` when a GPU is visible, else ``cpu``."""
    if device != "auto":
        return device
    import ctranslate2

    return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"


#: Windows per model batch when ``batch_size`` is unset: a CPU gains little from batching
#: and pays in latency; a GPU needs wide batches to be busy (see docs/benchmarks.md).
DEFAULT_BATCH_SIZE = {"cpu": 8, "cuda": 32}
#: Jobs in flight per worker process when ``workers`` is unset.
DEFAULT_JOBS_IN_FLIGHT = {"cpu": 2, "cuda": 8}


def batch_size_for(settings: Settings) -> int:
    """Windows per model batch: as set, or the default for the device."""
    return settings.batch_size or DEFAULT_BATCH_SIZE[resolve_device(settings.device)]


def jobs_in_flight(settings: Settings) -> int:
    """Jobs prepared and waiting for the model at once: as set, or the device default."""
    return settings.workers or DEFAULT_JOBS_IN_FLIGHT[resolve_device(settings.device)]


def cpu_threads(settings: Settings) -> int:
    """CTranslate2 threads: as set, or this machine's cores shared among the worker's
    processes (the library's own default oversubscribes small machines badly)."""
    if settings.cpu_threads:
        return settings.cpu_threads
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // settings.worker_concurrency)


def load_whisper(settings: Settings) -> Any:
    """Load the model named by the settings: a local CTranslate2 directory, or a
    faster-whisper model name downloaded on first use. Fails with one clear line."""
    from faster_whisper import WhisperModel

    name = settings.model
    looks_like_path = os.sep in name or name.startswith(".") or os.path.exists(name)
    if looks_like_path and not os.path.isdir(name):
        raise ModelLoadError(f"model directory {name!r} does not exist")
    if looks_like_path and not os.path.isfile(os.path.join(name, "model.bin")):
        raise ModelLoadError(f"{name!r} is not a CTranslate2 model directory (no model.bin)")
    device = resolve_device(settings.device)
    try:
        return WhisperModel(
            name, device=device, device_index=settings.device_index,
            compute_type=settings.compute_type, cpu_threads=cpu_threads(settings),
            download_root=settings.model_cache_dir,
        )
    except Exception as exc:  # hub errors, CUDA errors, bad files: all mean "cannot load"
        reason = _short_reason(exc)
        if looks_like_path:
            raise ModelLoadError(f"cannot load model from {name!r}: {reason}") from exc
        raise ModelLoadError(
            f"cannot download model {name!r} ({reason}); without access to the Hugging Face "
            "hub, pass a local CTranslate2 model directory: --model /path/to/model"
        ) from exc


def _short_reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    first = text.split(". ")[0].removeprefix("Got: ")
    if len(first) > 120:
        first = first[:119] + "…"
    return first or type(exc).__name__


class Engine:
    """A loaded model plus the options to decode with. Thread-safe."""

    def __init__(self, model: Any, options: DecodeOptions) -> None:
        from faster_whisper.transcribe import BatchedInferencePipeline

        self.model = model
        self.options = options
        self._pipeline = BatchedInferencePipeline(model)
        self._lock = threading.Lock()  # the pipeline keeps per-call state

    def warm_up(self) -> None:
        """One full batch of silence through encoder and decoder, so the first real job does
        not pay for the library's lazy allocations."""
        silence = np.zeros(16000, dtype=np.float32)
        batch = [WindowInput(i, silence, "warm-up") for i in range(self.options.batch_size)]
        self.transcribe(batch)

    def transcribe(self, windows: Sequence[WindowInput]) -> list[WindowResult]:
        """Transcribe windows in batches of ``batch_size``; results in input order."""
        ready = self.prepare(windows)
        results: dict[int, WindowResult] = {}
        by_language: dict[str, list[int]] = {}
        for index, item in enumerate(ready):
            by_language.setdefault(item.language, []).append(index)
        for language, indices in by_language.items():
            for first in range(0, len(indices), self.options.batch_size):
                batch = indices[first:first + self.options.batch_size]
                outputs = self.decode([ready[i] for i in batch])
                for i, output in zip(batch, outputs, strict=True):
                    results[i] = WindowResult(windows[i].key, language, output)
        return [results[i] for i in range(len(windows))]

    def prepare(self, windows: Sequence[WindowInput]) -> list[ReadyWindow]:
        """CPU side of a window, done on the caller's thread: log-mel features, and the
        language of each group (detected once per group when not fixed)."""
        features = [self._features(w.audio) for w in windows]
        languages = self._languages(windows, features)
        return [ReadyWindow(w.key, f, w.audio.size, languages[w.group])
                for w, f in zip(windows, features, strict=True)]

    def decode(self, batch: Sequence[ReadyWindow]) -> list[tuple[SegmentText, ...]]:
        """One model batch; every window must have the same language."""
        languages = {item.language for item in batch}
        if len(languages) != 1:
            raise ValueError(f"one language per batch, got {sorted(languages)}")
        return self._decode_batch([item.features for item in batch],
                                  [item.samples for item in batch], languages.pop())

    def _features(self, audio: np.ndarray) -> np.ndarray:
        features: np.ndarray = self.model.feature_extractor(audio)[..., :-1]
        return features

    def _languages(self, windows: Sequence[WindowInput],
                   features: list[np.ndarray]) -> dict[Hashable, str]:
        if self.options.language:
            return {w.group: self.options.language for w in windows}
        if not self.model.model.is_multilingual:
            return {w.group: "en" for w in windows}
        found: dict[Hashable, str] = {}
        for window, feats in zip(windows, features, strict=True):
            if window.group not in found:
                language, _prob, _all = self.model.detect_language(features=feats)
                found[window.group] = language
        return found

    def _decode_batch(self, features: list[np.ndarray], sizes: list[int],
                      language: str) -> list[tuple[SegmentText, ...]]:
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import pad_or_trim

        tokenizer = Tokenizer(self.model.hf_tokenizer, self.model.model.is_multilingual,
                              task="transcribe", language=language)
        stacked = np.stack([pad_or_trim(f) for f in features])
        metadata = [{"offset": 0.0, "duration": n / 16000, "segments": []} for n in sizes]
        with self._lock:
            outputs = self._pipeline.forward(stacked, tokenizer, metadata,
                                             self._transcription_options(tokenizer))
        return [self._keep(output, size / 16000) for output, size in zip(outputs, sizes,
                                                                           strict=True)]

    def _keep(self, output: list[dict[str, Any]], duration: float) -> tuple[SegmentText, ...]:
        kept = []
        for seg in output:
            text = seg["text"].strip()
            silent = (seg["no_speech_prob"] > self.options.no_speech_threshold
                      and seg["avg_logprob"] < self.options.log_prob_threshold)
            if not text or silent:
                continue
            start = min(max(0.0, float(seg["start"])), duration)
            end = min(max(start, float(seg["end"])), duration)
            kept.append(SegmentText(start, end, text, float(seg["avg_logprob"]),
                                    float(seg["no_speech_prob"]),
                                    float(seg["compression_ratio"])))
        return tuple(kept)

    def _transcription_options(self, tokenizer: Any) -> Any:
        from faster_whisper.transcribe import TranscriptionOptions, get_suppressed_tokens

        o = self.options
        return TranscriptionOptions(
            beam_size=o.beam_size, best_of=5, patience=1.0, length_penalty=1.0,
            repetition_penalty=1.0, no_repeat_ngram_size=0,
            log_prob_threshold=o.log_prob_threshold, no_speech_threshold=o.no_speech_threshold,
            compression_ratio_threshold=2.4, condition_on_previous_text=False,
            prompt_reset_on_temperature=0.5, temperatures=[0.0],
            initial_prompt=o.initial_prompt, prefix=None, suppress_blank=True,
            suppress_tokens=get_suppressed_tokens(tokenizer, [-1]),
            without_timestamps=not o.segment_timestamps, max_initial_timestamp=1.0,
            word_timestamps=False, prepend_punctuations="\"'“¿([{-",
            append_punctuations="\"'.。,，!！?？:：”)]}、", multilingual=False,
            max_new_tokens=None, clip_timestamps="0", hallucination_silence_threshold=None,
            hotwords=o.hotwords,
        )


_ENGINES: dict[tuple[Any, ...], Engine] = {}
_ENGINES_LOCK = threading.Lock()


def get_engine(settings: Settings) -> Engine:
    """The process-wide engine for these settings: the model is loaded once per process."""
    options = DecodeOptions.from_settings(settings)
    key = (settings.model, settings.device, settings.device_index, settings.compute_type,
           settings.cpu_threads, options)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            log.info("loading model %s on %s", settings.model, settings.device)
            engine = Engine(load_whisper(settings), options)
            engine.warm_up()
            _ENGINES[key] = engine
        return engine


def unload_engines() -> None:
    """Drop every loaded engine of this process (benchmarks sweeping settings)."""
    with _ENGINES_LOCK:
        _ENGINES.clear()
