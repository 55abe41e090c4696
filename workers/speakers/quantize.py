"""Quantize the speaker model to int8: ``python -m callscribe.workers.speakers.quantize
FLOAT FEATURES OUT`` (onnxruntime's static QDQ: int8 weights per channel, uint8
activations whose ranges MinMax calibration takes from FEATURES, an ``.npy`` of
``(windows, frames, 80)`` filterbanks). Runs in its own process, with an interpreter that
has ``onnx`` (``workers.speakers.model``); the worker itself does not need it."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path


def main(source: Path, features: Path, out: Path) -> None:
    import numpy as np
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    windows = np.load(features)

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.rest = iter(windows)

        def get_next(self) -> dict[str, np.ndarray] | None:
            feats = next(self.rest, None)
            return None if feats is None else {"feats": feats[None]}

    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(out),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
