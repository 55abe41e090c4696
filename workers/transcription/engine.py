"""The model side of a worker: load faster-whisper once per process and transcribe many
windows (≤ 30 s each, from any recordings and channels) in full batches.

Each window is decoded without timestamp tokens, with temperature fallback and word
alignment (``workers.transcription.decoding``), so a window gives the same text as
``WhisperModel.transcribe(without_timestamps=True)`` on the same clip with the same options
(tested), plus the time of every word.

A window may carry its own decode options (its job's: language, prompt, hotwords, task …);
a model batch holds only windows of one language and one set of options, and is decoded
with those, so a window's result does not depend on what it was batched with.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from callscribe.errors import ModelLoadError, one_line
from callscribe.settings import DecodeSection, ExecutionSection, ModelSection, Settings

from .allocator import tune_allocator
from .decoding import Decoded, decode_batch
from .language import window_languages

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WindowInput:
    """One window to transcribe; ``group`` windows share a detected language (give the
    windows of one group the same options). ``options``: how to decode this window (its
    job's options); None: the engine's own."""

    key: Hashable
    audio: np.ndarray
    group: Hashable
    options: DecodeSection | None = None


@dataclass(frozen=True)
class ReadyWindow:
    """A window with its features computed, its language known and its options resolved:
    what a batch takes. Windows with equal ``batch_key`` may share a model batch."""

    key: Hashable
    features: np.ndarray
    samples: int
    language: str
    language_probability: float
    options: DecodeSection

    @property
    def batch_key(self) -> tuple[str, DecodeSection]:
        return self.language, self.options

    def result(self, decoded: Decoded) -> WindowResult:
        return WindowResult(
            key=self.key,
            language=self.language,
            language_probability=self.language_probability,
            decoded=decoded,
        )


@dataclass(frozen=True)
class WindowResult:
    """What the model made of one window (word times relative to the window's audio).
    ``language_probability``: how sure detection was of its group's language (1.0 when the
    language was fixed by the options, or the model is English-only)."""

    key: Hashable
    language: str
    language_probability: float
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


def compute_type_for(model: ModelSection) -> str:
    """The compute type to load the model with: as set, or the device's default."""
    if model.compute_type != "auto":
        return model.compute_type
    return DEFAULT_COMPUTE_TYPE[resolve_device(model.device)]


#: How long a partial batch waits for more windows while jobs are being prepared (ms).
DEFAULT_BATCH_WAIT_MS = {"cpu": 1000.0, "cuda": 50.0}


def batch_wait_s(execution: ExecutionSection, device: str) -> float:
    """Seconds a partial batch waits for more windows on ``device`` (``cpu``/``cuda``): as
    set, or the device default."""
    wait = execution.batch_wait_ms
    return (wait if wait is not None else DEFAULT_BATCH_WAIT_MS[device]) / 1000


def batch_size_for(execution: ExecutionSection, device: str) -> int:
    """Windows per model batch on ``device``: as set, or the default for the device."""
    return execution.batch_size or DEFAULT_BATCH_SIZE[device]


def jobs_in_flight(execution: ExecutionSection, device: str) -> int:
    """Jobs prepared and waiting for the model at once: as set, or the device default."""
    return execution.jobs_in_flight or DEFAULT_JOBS_IN_FLIGHT[device]


def cpu_threads(model: ModelSection, processes: int = 1) -> int:
    """CTranslate2 threads: as set, or this machine's cores shared among the worker's
    ``processes`` (the library's own default oversubscribes small machines badly)."""
    if model.cpu_threads:
        return model.cpu_threads
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // processes)


def load_whisper(model: ModelSection, processes: int = 1) -> Any:
    """Load faster-whisper from ``model.name``: a local CTranslate2 directory, or a
    faster-whisper model name downloaded on first use. Fails with one clear line."""
    from faster_whisper import WhisperModel

    name = model.name
    looks_like_path = os.sep in name or name.startswith(".") or os.path.exists(name)
    if looks_like_path and not os.path.isdir(name):
        raise ModelLoadError(f"model directory {name!r} does not exist")
    if looks_like_path and not os.path.isfile(os.path.join(name, "model.bin")):
        raise ModelLoadError(f"{name!r} is not a CTranslate2 model directory (no model.bin)")
    device = resolve_device(model.device)
    if device == "cpu" and model.tune_allocator:
        tune_allocator()
    try:
        return WhisperModel(
            name,
            device=device,
            device_index=model.device_index,
            compute_type=compute_type_for(model),
            cpu_threads=cpu_threads(model, processes),
            download_root=model.cache_dir,
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

    def __init__(self, model: Any, decode: DecodeSection, batch_size: int) -> None:
        self.model = model
        self.decode_options = decode  # for windows without options of their own
        self.batch_size = batch_size
        self._lock = threading.Lock()  # one batch on the model at a time

    def warm_up(self) -> None:
        """On a GPU, one full batch of silence through encoder and decoder, so the first real
        job does not pay for the library's lazy allocations. A CPU has none worth the time
        (a batch of 8 windows costs seconds there)."""
        if self.model.model.device != "cuda":
            return
        silence = np.zeros(16000, dtype=np.float32)
        batch = [WindowInput(i, silence, "warm-up") for i in range(self.batch_size)]
        self.transcribe(batch)

    def transcribe(self, windows: Sequence[WindowInput]) -> list[WindowResult]:
        """Transcribe windows in batches of ``batch_size`` (each of one language and one set
        of options); results in input order."""
        ready = self.prepare(windows)
        results: dict[int, WindowResult] = {}
        by_key: dict[tuple[str, DecodeSection], list[int]] = {}
        for index, item in enumerate(ready):
            by_key.setdefault(item.batch_key, []).append(index)
        for indices in by_key.values():
            for first in range(0, len(indices), self.batch_size):
                batch = indices[first : first + self.batch_size]
                outputs = self.decode([ready[i] for i in batch])
                for i, output in zip(batch, outputs, strict=True):
                    results[i] = ready[i].result(output)
        return [results[i] for i in range(len(windows))]

    def prepare(self, windows: Sequence[WindowInput]) -> list[ReadyWindow]:
        """CPU side of a window, done on the caller's thread: log-mel features, its options
        (its own or the engine's), and the language of each group (detected once per group
        when not fixed, see ``workers.transcription.language``)."""
        options = [self.decode_options if w.options is None else w.options for w in windows]
        features = [self._features(w.audio) for w in windows]
        languages = window_languages(self.model, [w.group for w in windows], features, options)
        return [
            ReadyWindow(w.key, f, w.audio.size, found.language, found.probability, o)
            for w, f, found, o in zip(windows, features, languages, options, strict=True)
        ]

    def decode(self, batch: Sequence[ReadyWindow]) -> list[Decoded]:
        """One model batch; every window must have the same language and options."""
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import pad_or_trim

        languages = {item.language for item in batch}
        if len(languages) != 1:
            raise ValueError(f"one language per batch, got {sorted(languages)}")
        if len({item.options for item in batch}) != 1:
            raise ValueError("one set of decode options per batch")
        options = batch[0].options
        tokenizer = Tokenizer(
            self.model.hf_tokenizer,
            self.model.model.is_multilingual,
            task=options.task,
            language=languages.pop(),
        )
        features = [pad_or_trim(item.features) for item in batch]
        frames = [item.features.shape[-1] for item in batch]
        with self._lock:
            return decode_batch(self.model, tokenizer, features, frames, options)

    def _features(self, audio: np.ndarray) -> np.ndarray:
        features: np.ndarray = self.model.feature_extractor(audio)[..., :-1]
        return features


_ENGINES: dict[tuple[Any, ...], Engine] = {}
_ENGINES_LOCK = threading.Lock()


def get_engine(settings: Settings, processes: int = 1) -> Engine:
    """The process-wide engine for these settings (its ``model``, ``decode`` and
    ``execution`` sections): the model is loaded once per process. ``processes``: worker
    processes sharing this machine's cores."""
    model, decode = settings.model, settings.decode
    batch_size = batch_size_for(settings.execution, resolve_device(model.device))
    key = (model, decode, batch_size, processes)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            log.info("loading model %s on %s", model.name, model.device)
            engine = Engine(load_whisper(model, processes), decode, batch_size)
            engine.warm_up()
            _ENGINES[key] = engine
        return engine


def decode_record(settings: Settings) -> dict[str, Any]:
    """The decoding options a result records: the model as loaded (device and compute type
    resolved), the batch size, and the ``decode`` section (of the settings the recording's
    jobs ran with)."""
    device = resolve_device(settings.model.device)
    return {
        "model": settings.model.name,
        "device": device,
        "compute_type": compute_type_for(settings.model),
        "batch_size": batch_size_for(settings.execution, device),
        **settings.decode.model_dump(mode="json"),
    }


def unload_engines() -> None:
    """Drop every loaded engine of this process (benchmarks sweeping settings)."""
    with _ENGINES_LOCK:
        _ENGINES.clear()
