"""The speaker model at int8 against the float one in the same run (issue 22's CPU target):
``bench/diarization.py`` on the same corpus with ``diarization.precision`` ``float`` and
then ``int8`` (the product's own build: ``workers.speakers.int8``, static QDQ calibrated on
flite and espeak-ng speech), plus the two models alone on the calibration windows (CPU per
audio second, embeddings' cosine).

    python bench/speaker_int8.py [bench/diarization.py's options]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import diarization

from callscribe.workers.speakers.calibration import calibration_features
from callscribe.workers.speakers.model import SpeakerEncoder, speaker_model_file


def offline(float_model: Path, int8_model: Path, work: Path) -> None:
    """Each model alone on one core, batched as the worker batches, on the calibration
    windows: ms of CPU per second of audio, and how far int8's embeddings are from float's."""
    features = calibration_features(work)
    clips_s = features.shape[0] * features.shape[1] / 100
    embeddings = {}
    for name, path in (("float", float_model), ("int8", int8_model)):
        encoder = SpeakerEncoder(path)
        session = encoder._session
        session.run(None, {"feats": features[:8]})  # warm
        began = time.thread_time()
        out = [
            session.run(None, {"feats": features[i : i + 8]})[0] for i in range(0, len(features), 8)
        ]
        spent = time.thread_time() - began
        stacked = np.concatenate(out)
        embeddings[name] = stacked / np.linalg.norm(stacked, axis=1, keepdims=True)
        print(f"{name}: {1000 * spent / clips_s:.1f} ms of one core per audio second, "
              f"{path.stat().st_size / 1e6:.1f} MB")  # fmt: skip
    cosine = np.sum(embeddings["float"] * embeddings["int8"], axis=1)
    print(f"int8 against float: cosine {cosine.mean():.3f} mean, {cosine.min():.3f} least")


def main(argv: list[str]) -> int:
    float_model, int8_model = speaker_model_file(), speaker_model_file(None, "int8")
    with tempfile.TemporaryDirectory(prefix="callscribe-int8-") as tmp:
        work = Path(tmp)
        offline(float_model, int8_model, work)
        for precision in ("float", "int8"):
            print(f"\n## {precision}")
            diarization.main([*argv, "--precision", precision, "--out", str(work / precision)])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
