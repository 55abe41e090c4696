"""The speaker model at int8 (``diarization.precision = int8``): about half the CPU of the
float model for nearly its accuracy ([benchmarks](../../docs/benchmarks.md#speakers)).

Built once beside the float file it comes from: calibration speech from flite and espeak-ng
(``speakers.calibration``), static QDQ quantization in a child process whose interpreter
has ``onnx`` (this one if it has it, else a build venv with ``onnx`` and this
onnxruntime's version, removed afterwards), then a check that it still gives the float
model's embeddings of the calibration windows (mean cosine at least ``MIN_MEAN_COSINE``).
Its SHA-256 goes beside it (``.sha256``) as the float file's does."""

from __future__ import annotations

import hashlib
import logging
import tempfile
from pathlib import Path

import numpy as np

from .calibration import calibration_features, calibration_key
from .model import _BUILD_LOCK, SpeakerModelError, _run, is_recorded, python_with, record

log = logging.getLogger(__name__)

#: Bump when the quantization changes: a new cache name, so a new build.
QUANT_VERSION = 1
#: The int8 model's embeddings of the calibration windows against the float one's: the
#: mean cosine measured 0.89, the least 0.80; a quantization that went wrong gives far less.
MIN_MEAN_COSINE = 0.85
MIN_COSINE = 0.5


def int8_model_file(float_model: Path) -> Path:
    """The checked int8 file made from ``float_model`` (in its folder), built first if it
    is not there. Raises :class:`SpeakerModelError`."""
    key = hashlib.sha256(
        f"{float_model.name}\n{calibration_key()}\n{QUANT_VERSION}".encode()
    ).hexdigest()
    target = float_model.with_name(f"{float_model.stem}-int8-{key[:12]}.onnx")
    with _BUILD_LOCK:
        if is_recorded(target):
            return target
        try:
            with tempfile.TemporaryDirectory(prefix="speaker-int8-", dir=target.parent) as tmp:
                work = Path(tmp)
                features = calibration_features(work)
                np.save(work / "features.npy", features)
                built = work / "int8.onnx"
                _run(
                    [_quantizing_python(work), "-m", "callscribe.workers.speakers.quantize",
                     str(float_model), str(work / "features.npy"), str(built)],
                    "quantizing the speaker model to int8",
                )  # fmt: skip
                check_int8(float_model, built, features)
                record(built, target)
        except OSError as exc:
            raise SpeakerModelError(
                f"cannot build the int8 speaker model in {target.parent}: {exc}"
            ) from exc
    log.info("int8 speaker model built: %s", target)
    return target


def check_int8(float_model: Path, int8_model: Path, features: np.ndarray) -> None:
    """Raise :class:`SpeakerModelError` unless ``int8_model`` gives ``float_model``'s
    embeddings of ``features`` (cosine, see the module)."""
    import onnxruntime

    def embed(path: Path) -> np.ndarray:
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        (out,) = session.run(None, {"feats": features})
        return np.asarray(out) / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)

    cosines = np.sum(embed(float_model) * embed(int8_model), axis=1)
    if not (cosines.mean() >= MIN_MEAN_COSINE and cosines.min() >= MIN_COSINE):
        raise SpeakerModelError(
            f"the int8 speaker model does not give the float model's embeddings (cosine "
            f"{cosines.mean():.2f} on average, {cosines.min():.2f} the least; wanted "
            f"{MIN_MEAN_COSINE} and {MIN_COSINE})"
        )


def _quantizing_python(work: Path) -> str:
    """An interpreter with onnx and onnxruntime's quantization tools (``python_with``)."""
    import onnxruntime

    packages = ("onnx>=1.16", f"onnxruntime=={onnxruntime.__version__}", "numpy")
    return python_with("import onnx, onnxruntime.quantization", packages, work / "quantize-venv")
