"""The speaker model at int8, measured against the float one in the same run (issue 22's
CPU target): CAM++ quantized statically (onnxruntime's QDQ, per-channel int8 weights,
uint8 activations calibrated with MinMax on telephone-band speech from flite and
espeak-ng), then ``bench/diarization.py`` on the same corpus once with each model.

    python bench/speaker_int8.py [bench/diarization.py's options]

Needs ``onnx`` beside onnxruntime (``pip install onnx``; the worker does not: this only
builds the file). The int8 file is written under the name and digest the loader checks, in
a temporary model directory (``diarization.model_dir``): it is not a build callscribe
makes. Calibration uses sentences and voices that the benchmark's calls also use, so it
only sets activation ranges, not what the model hears.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import diarization

from callscribe.media.files import sha256
from callscribe.workers.speakers.model import fbank, speaker_model_file

SENTENCES = (
    "thank you for calling how can I help you today",
    "I was charged twice for my bill this month and I want a refund",
    "let me check your account number please hold for a moment",
    "my order never arrived and the tracking does not update",
)
VOICES = (("flite", "slt"), ("flite", "rms"), ("flite", "awb"), ("flite", "kal16"))
VOICES += (("espeak-ng", "en-us"), ("espeak-ng", "en+m3"))
#: sox: 16-kHz float mono on stdout, band-limited as a telephone line is.
TELEPHONE = ("-t", "raw", "-r", "16000", "-e", "float", "-b", "32", "-c", "1", "-")
TELEPHONE += ("highpass", "300", "lowpass", "3400")


def calibration_features(work: Path) -> list[np.ndarray]:
    """Filterbanks of 1.5-s windows every 0.5 s of each sentence in each voice, band-limited
    to 300–3400 Hz as a telephone line is."""
    out = []
    for n, (tool, voice) in enumerate(VOICES):
        for i, text in enumerate(SENTENCES):
            wav = work / f"{n}-{i}.wav"
            if tool == "flite":
                command = ["flite", "-voice", voice, "-t", text, "-o", str(wav)]
            else:
                command = ["espeak-ng", "-v", voice, "-w", str(wav), text]
            subprocess.run(command, check=True, capture_output=True)
            raw = subprocess.run(
                ["sox", str(wav), *TELEPHONE],
                check=True,
                capture_output=True,
            ).stdout
            audio = np.frombuffer(raw, np.float32)
            for start in range(0, audio.size - 24000, 8000):
                out.append(fbank(audio[start : start + 24000]))
    return out


def quantize(source: Path, target: Path, work: Path) -> None:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self, features: list[np.ndarray]) -> None:
            self.rest = iter(features)

        def get_next(self) -> dict[str, np.ndarray] | None:
            feats = next(self.rest, None)
            return None if feats is None else {"feats": feats[None]}

    prepared = work / "prepared.onnx"
    quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
    quantize_static(
        str(prepared),
        str(target),
        Reader(calibration_features(work)),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )


def main(argv: list[str]) -> int:
    try:
        import onnx  # noqa: F401
    except ImportError:
        print("bench/speaker_int8.py needs onnx: pip install onnx", file=sys.stderr)
        return 2
    source = speaker_model_file()
    with tempfile.TemporaryDirectory(prefix="callscribe-int8-") as tmp:
        work = Path(tmp)
        models = work / "models"
        models.mkdir()
        target = models / source.name
        quantize(source, target, work)
        target.with_name(target.name + ".sha256").write_text(sha256(target) + "\n")
        sizes = [f"{path.stat().st_size / 1e6:.1f} MB" for path in (target, source)]
        print(f"int8 model: {sizes[0]} (float {sizes[1]})")
        for label, extra in (("float", []), ("int8", ["--model-dir", str(models)])):
            print(f"\n## {label}")
            diarization.main([*argv, *extra, "--out", str(work / label)])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
