"""Files that lie: writers for the hostile-input tests (issue "Hostile inputs").

* :func:`lying_flac` rewrites a FLAC file's STREAMINFO so its header claims a different
  number of samples (or a different sample rate) than its frames hold; the audio frames,
  which decoders read, are untouched.
* :func:`lying_wav` rewrites the size of a WAV file's ``data`` chunk.
"""

from __future__ import annotations

import struct
from pathlib import Path

__all__ = ["MAX_FLAC_SAMPLES", "flac_streaminfo", "lying_flac", "lying_wav"]

#: The largest total-samples figure STREAMINFO can hold (36 bits).
MAX_FLAC_SAMPLES = (1 << 36) - 1
_STREAMINFO_FIELDS = slice(18, 26)  # sample rate, channels, bits, total samples (64 bits)


def flac_streaminfo(path: Path) -> tuple[int, int, int, int]:
    """(sample rate, channels, bits per sample, total samples) from STREAMINFO."""
    data = Path(path).read_bytes()
    _check_flac(data)
    packed = int.from_bytes(data[_STREAMINFO_FIELDS], "big")
    return (packed >> 44, ((packed >> 41) & 7) + 1, ((packed >> 36) & 31) + 1,
            packed & MAX_FLAC_SAMPLES)


def lying_flac(src: Path, out: Path, *, total_samples: int | None = None,
               sample_rate: int | None = None) -> Path:
    """Copy the FLAC file ``src`` to ``out`` with STREAMINFO claiming ``total_samples``
    and/or ``sample_rate`` (each kept when None)."""
    data = bytearray(Path(src).read_bytes())
    _check_flac(bytes(data))
    rate, channels, bits, total = flac_streaminfo(Path(src))
    rate = rate if sample_rate is None else sample_rate
    total = total if total_samples is None else total_samples
    if not 0 <= total <= MAX_FLAC_SAMPLES or not 0 < rate < (1 << 20):
        raise ValueError("STREAMINFO holds 36-bit sample counts and 20-bit sample rates")
    packed = (rate << 44) | ((channels - 1) << 41) | ((bits - 1) << 36) | total
    data[_STREAMINFO_FIELDS] = packed.to_bytes(8, "big")
    out = Path(out)
    out.write_bytes(bytes(data))
    return out


def lying_wav(src: Path, out: Path, *, data_bytes: int) -> Path:
    """Copy the WAV file ``src`` to ``out`` with its ``data`` chunk claiming
    ``data_bytes`` bytes."""
    data = bytearray(Path(src).read_bytes())
    at = data.find(b"data", 12)
    if data[:4] != b"RIFF" or at < 0:
        raise ValueError(f"{src} is not a RIFF WAV file")
    data[at + 4: at + 8] = struct.pack("<I", data_bytes)
    out = Path(out)
    out.write_bytes(bytes(data))
    return out


def _check_flac(data: bytes) -> None:
    if data[:4] != b"fLaC" or data[4] & 0x7F != 0:
        raise ValueError("not a FLAC file starting with STREAMINFO")
