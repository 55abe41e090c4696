"""Speech to calibrate the int8 speaker model on (``diarization.precision = int8``): short
support-call sentences in the flite and espeak-ng voices installed here, band-limited to
300–3400 Hz as a telephone line is (ffmpeg), as filterbanks of 1.5-s windows every 0.5 s.
Only the activations' ranges come from it, not what the model hears."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import numpy as np

from .model import SAMPLE_RATE, SpeakerModelError, fbank

SENTENCES = (
    "thank you for calling how can I help you today",
    "I was charged twice for my bill this month and I want a refund",
    "let me check your account number please hold for a moment",
    "my order never arrived and the tracking does not update",
)
VOICES = (
    ("flite", "slt"),
    ("flite", "rms"),
    ("flite", "awb"),
    ("flite", "kal16"),
    ("espeak-ng", "en-us"),
    ("espeak-ng", "en+m3"),
)
WINDOW = int(1.5 * SAMPLE_RATE)
STEP = SAMPLE_RATE // 2
#: At least this many windows, or the ranges are too narrow to trust.
MIN_WINDOWS = 48


def calibration_key() -> str:
    """What the calibration is made of (part of the int8 file's name)."""
    text = "\n".join([*SENTENCES, *(f"{t}:{v}" for t, v in VOICES), str(WINDOW), str(STEP)])
    return hashlib.sha256(text.encode()).hexdigest()


def calibration_features(work: Path) -> np.ndarray:
    """``(windows, 148, 80)`` filterbanks of the sentences in every voice whose tool is on
    ``PATH``. Raises :class:`SpeakerModelError` when too few can be made."""
    if shutil.which("ffmpeg") is None:
        raise SpeakerModelError("calibrating the int8 speaker model needs ffmpeg")
    out: list[np.ndarray] = []
    tools = sorted({tool for tool, _voice in VOICES if shutil.which(tool)})
    for n, (tool, voice) in enumerate(VOICES):
        if tool not in tools:
            continue
        for i, text in enumerate(SENTENCES):
            audio = _speak(tool, voice, text, work / f"{n}-{i}.wav")
            for start in range(0, audio.size - WINDOW, STEP):
                out.append(fbank(audio[start : start + WINDOW]))
    if len(out) < MIN_WINDOWS:
        raise SpeakerModelError(
            "calibrating the int8 speaker model needs speech from flite or espeak-ng "
            f"(found {', '.join(tools) or 'neither'}): apt-get install flite espeak-ng"
        )
    return np.stack(out)


def _speak(tool: str, voice: str, text: str, wav: Path) -> np.ndarray:
    if tool == "flite":
        command = ["flite", "-voice", voice, "-t", text, "-o", str(wav)]
    else:
        command = ["espeak-ng", "-v", voice, "-w", str(wav), text]
    band = "highpass=f=300,lowpass=f=3400"
    decode = ["ffmpeg", "-nostdin", "-v", "error", "-i", str(wav), "-af", band]
    decode += ["-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "f32le", "-"]
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=60)
        raw = subprocess.run(decode, check=True, capture_output=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise SpeakerModelError(
            f"{tool} -v {voice} could not make calibration speech: {exc}"
        ) from exc
    return np.frombuffer(raw, np.float32)
