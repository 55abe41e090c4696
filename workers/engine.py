"""The model side of a worker: load faster-whisper once per process and transcribe many
windows (≤ 30 s each, from any recordings and channels) in full batches.

Each window is decoded without timestamp tokens, with temperature fallback and word
alignment (``workers.decoding``), so a window gives the same text as
``WhisperModel.transcribe(without_timestamps=True)`` on the same clip with the same options
(tested), plus the time of every word.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from callscribe.errors import ModelLoadError, one_line
from callscribe.settings import Settings

from .decoding import Decoded, DecodeSettings, decode_batch

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class DecodeOptions:
    """Decoding options, recorded with every result."""

    model: str
    device: str
    compute_type: str
    beam_size: int
    language: str | None
    initial_prompt: str | None
    hotwords: str | None
    batch_size: int
    temperatures: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    compression_ratio_threshold: float = 2.4
    log_prob_threshold: float = -1.0
    no_speech_threshold: float = 0.6
    best_of: int = 5
    tail_s: float = 2.0
    word_timestamps: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> DecodeOptions:
        return cls(
            model=settings.model, device=settings.device,
            compute_type=compute_type_for(settings),
            beam_size=settings.beam_size, language=settings.language,
            initial_prompt=settings.initial_prompt, hotwords=settings.hotwords,
            batch_size=batch_size_for(settings),
            temperatures=tuple(settings.temperatures),
            compression_ratio_threshold=settings.compression_ratio_threshold,
            log_prob_threshold=settings.log_prob_threshold,
            no_speech_threshold=settings.no_speech_threshold,
            tail_s=settings.decode_tail_seconds,
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def decode_settings(self) -> DecodeSettings:
        return DecodeSettings(
            beam_size=self.beam_size, best_of=self.best_of, temperatures=self.temperatures,
            compression_ratio_threshold=self.compression_ratio_threshold,
            log_prob_threshold=self.log_prob_threshold,
            no_speech_threshold=self.no_speech_threshold, tail_s=self.tail_s,
            initial_prompt=self.initial_prompt, hotwords=self.hotwords)


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
class WindowResult:
    """What the model made of one window (word times relative to the window's audio)."""

    key: Hashable
    language: str
    decoded: Decoded


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


#: CTranslate2 compute type when ``compute_type`` is ``auto``: int8 on CPU (float32 is what
#: CTranslate2's own ``default`` gives a float16 model on CPU: 2–3× slower), float16 on CUDA.
DEFAULT_COMPUTE_TYPE = {"cpu": "int8", "cuda": "float16"}


def compute_type_for(settings: Settings) -> str:
    """The compute type to load the model with: as set, or the device's default."""
    if settings.compute_type != "auto":
        return settings.compute_type
    return DEFAULT_COMPUTE_TYPE[resolve_device(settings.device)]


#: How long a partial batch waits for more windows while jobs are being prepared (ms).
DEFAULT_BATCH_WAIT_MS = {"cpu": 1000.0, "cuda": 50.0}


def batch_wait_s(settings: Settings) -> float:
    """Seconds a partial batch waits for more windows: as set, or the device default."""
    wait = settings.batch_wait_ms
    return (wait if wait is not None else DEFAULT_BATCH_WAIT_MS[resolve_device(
        settings.device)]) / 1000


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
            compute_type=compute_type_for(settings), cpu_threads=cpu_threads(settings),
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
    first = one_line(exc).split(". ")[0].removeprefix("Got: ")
    return one_line(first, 120) or type(exc).__name__


class Engine:
    """A loaded model plus the options to decode with. Thread-safe."""

    def __init__(self, model: Any, options: DecodeOptions) -> None:
        self.model = model
        self.options = options
        self._lock = threading.Lock()  # one batch on the model at a time

    def warm_up(self) -> None:
        """On a GPU, one full batch of silence through encoder and decoder, so the first real
        job does not pay for the library's lazy allocations. A CPU has none worth the time
        (a batch of 8 windows costs seconds there)."""
        if self.model.model.device != "cuda":
            return
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

    def decode(self, batch: Sequence[ReadyWindow]) -> list[Decoded]:
        """One model batch; every window must have the same language."""
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import pad_or_trim

        languages = {item.language for item in batch}
        if len(languages) != 1:
            raise ValueError(f"one language per batch, got {sorted(languages)}")
        tokenizer = Tokenizer(self.model.hf_tokenizer, self.model.model.is_multilingual,
                              task="transcribe", language=languages.pop())
        features = [pad_or_trim(item.features) for item in batch]
        frames = [item.features.shape[-1] for item in batch]
        with self._lock:
            return decode_batch(self.model, tokenizer, features, frames,
                                self.options.decode_settings())

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


_ENGINES: dict[tuple[Any, ...], Engine] = {}
_ENGINES_LOCK = threading.Lock()


def get_engine(settings: Settings) -> Engine:
    """The process-wide engine for these settings: the model is loaded once per process."""
    options = DecodeOptions.from_settings(settings)
    key = (settings.model, settings.device, settings.device_index, settings.cpu_threads,
           options)
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
