"""Redacted audio: a copy of a recording with the redacted words' spans silenced.

The source is decoded by ffmpeg at its own sample rate with all its channels, as 16-bit
PCM; each channel's spans (the :class:`~callscribe.workers.protection.redaction.Redaction` times of
its words, padded by ``pad_s`` on both sides) are set to zero, and the result is written as
a 16-bit PCM WAV with the same channels and rate. Everything outside the spans is exactly
what the plain decode gives. The whole recording is held in memory (an hour of 8 kHz
stereo is 58 MB).
"""

from __future__ import annotations

import math
import os
import subprocess
import tempfile
import wave
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from pydub.utils import get_encoder_name

from callscribe.errors import BadAudioError
from callscribe.storage.modes import make_readable

Span = tuple[float, float]


def silence_spans(
    samples: np.ndarray, sample_rate: int, spans: Sequence[Span], pad_s: float = 0.05
) -> np.ndarray:
    """A copy of ``samples`` (time on the first axis) with each span, widened by
    ``pad_s`` on both sides and clamped to the array, set to zero."""
    out = samples.copy()
    for start, end in spans:
        first = max(0, math.floor((start - pad_s) * sample_rate + 1e-6))
        last = min(len(out), math.ceil((end + pad_s) * sample_rate - 1e-6))
        if last > first:
            out[first:last] = 0
    return out


def decode_pcm16(path: str | Path) -> tuple[np.ndarray, int]:
    """The first audio stream of ``path`` as int16 samples shaped (frames, channels), and
    its sample rate: ffmpeg's decode at the source's own rate and channel count."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "decoded.wav"
        done = subprocess.run(
            [
                get_encoder_name(),
                "-nostdin",
                "-v",
                "error",
                "-i",
                str(path),
                "-map",
                "0:a:0",
                "-c:a",
                "pcm_s16le",
                "-f",
                "wav",
                str(wav),
            ],
            capture_output=True,
            check=False,
        )
        if done.returncode != 0 or not wav.exists():
            reason = done.stderr.decode(errors="replace").strip()[-300:]
            raise BadAudioError(f"cannot decode audio: {reason or 'ffmpeg failed'}")
        with wave.open(str(wav), "rb") as reader:
            channels, rate = reader.getnchannels(), reader.getframerate()
            data = reader.readframes(reader.getnframes())
    samples = np.frombuffer(data, dtype="<i2")
    return samples[: samples.size - samples.size % channels].reshape(-1, channels), rate


def write_redacted_audio(
    src_path: str | Path,
    out_path: str | Path,
    spans_by_channel: Mapping[int, Sequence[Span]],
    pad_s: float = 0.05,
) -> None:
    """Write ``out_path`` (16-bit PCM WAV): ``src_path`` with each channel's spans silent.
    Written to a temporary name beside it and renamed, so a reader never sees half a
    file."""
    samples, rate = decode_pcm16(src_path)
    samples = samples.copy()
    for channel, spans in spans_by_channel.items():
        if not 0 <= channel < samples.shape[1]:
            raise ValueError(f"channel {channel} not in a {samples.shape[1]}-channel file")
        samples[:, channel] = silence_spans(samples[:, channel], rate, spans, pad_s)
    out = Path(out_path)
    fd, partial = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".part")
    try:
        make_readable(fd)
        with os.fdopen(fd, "wb") as handle, wave.open(handle, "wb") as writer:
            writer.setnchannels(samples.shape[1])
            writer.setsampwidth(2)
            writer.setframerate(rate)
            writer.writeframes(samples.astype("<i2").tobytes())
        os.replace(partial, out)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
