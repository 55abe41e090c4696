"""Files that lie: writers for the hostile-input tests (issue "Hostile inputs").

* :func:`lying_flac` rewrites a FLAC file's STREAMINFO so its header claims a different
  number of samples (or a different sample rate) than its frames hold; the audio frames,
  which decoders read, are untouched.
* :func:`lying_wav` rewrites the size of a WAV file's ``data`` chunk.
* :func:`make_hostile_corpus` writes a folder of them, with hostile names, beside good
  calls and broken files, each labelled with what should become of it.
"""

from __future__ import annotations

import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .audio import (
    AGENT_LINES,
    CUSTOMER_LINES,
    Turn,
    corrupt_empty,
    corrupt_no_audio_stream,
    corrupt_text_as_wav,
    corrupt_truncated_mp3,
    make_call,
    speak,
)

__all__ = [
    "MAX_FLAC_SAMPLES",
    "HostileItem",
    "decoded_seconds",
    "flac_streaminfo",
    "lying_flac",
    "lying_wav",
    "make_hostile_corpus",
]

#: The largest total-samples figure STREAMINFO can hold (36 bits).
MAX_FLAC_SAMPLES = (1 << 36) - 1
_STREAMINFO_FIELDS = slice(18, 26)  # sample rate, channels, bits, total samples (64 bits)


def flac_streaminfo(path: Path) -> tuple[int, int, int, int]:
    """(sample rate, channels, bits per sample, total samples) from STREAMINFO."""
    data = Path(path).read_bytes()
    _check_flac(data)
    packed = int.from_bytes(data[_STREAMINFO_FIELDS], "big")
    return (
        packed >> 44,
        ((packed >> 41) & 7) + 1,
        ((packed >> 36) & 31) + 1,
        packed & MAX_FLAC_SAMPLES,
    )


def lying_flac(
    src: Path, out: Path, *, total_samples: int | None = None, sample_rate: int | None = None
) -> Path:
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
    data[at + 4 : at + 8] = struct.pack("<I", data_bytes)
    out = Path(out)
    out.write_bytes(bytes(data))
    return out


def _check_flac(data: bytes) -> None:
    if data[:4] != b"fLaC" or data[4] & 0x7F != 0:
        raise ValueError("not a FLAC file starting with STREAMINFO")


@dataclass(frozen=True)
class HostileItem:
    """One file of :func:`make_hostile_corpus`: its key under the folder, what is odd
    about it, and whether it should end ``done`` (``audio_s``: the audio it really holds,
    decoded) or ``failed``."""

    key: str
    what: str
    good: bool
    audio_s: float = 0.0


def decoded_seconds(path: Path) -> float:
    """Seconds of audio ffmpeg decodes from ``path`` at its own rate (the truth a test
    compares with), 0.0 when nothing decodes."""
    done = subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "quiet",
            "-i",
            str(path),
            "-map",
            "0:a:0",
            "-ac",
            "1",
            "-ar",
            "16000",
            "-f",
            "s16le",
            "pipe:1",
        ],
        capture_output=True,
        check=False,
    )
    return len(done.stdout) / 32000


def _call(out: Path, seed: int, fmt: str = "wav", channels: int = 2) -> Path:
    turns = [
        Turn(
            i % 2 if channels == 2 else 0,
            (AGENT_LINES if i % 2 == 0 else CUSTOMER_LINES)[(seed + i) % 5],
        )
        for i in range(3)
    ]
    return make_call(out, turns, fmt=fmt, channels=channels, sample_rate=16000, gap=0.8).path


def make_hostile_corpus(folder: Path) -> list[HostileItem]:
    """Write the hostile corpus of issue "Hostile inputs" into ``folder``: calls under
    names with a backslash, a newline, rich markup, 236 characters, and pairs whose names
    collide once made safe; headers lying both ways; truncated files; broken files."""
    folder.mkdir(parents=True, exist_ok=True)
    scratch = folder.parent / f".{folder.name}-scratch"
    scratch.mkdir(exist_ok=True)
    items: list[HostileItem] = []

    def good(key: str, what: str, path: Path) -> None:
        items.append(HostileItem(key, what, True, decoded_seconds(path)))

    def bad(key: str, what: str) -> None:
        items.append(HostileItem(key, what, False))

    named = {
        "plain.wav": "a plain call",
        "back\\slash.wav": "a backslash in the name",
        "new\nline.wav": "a newline in the name",
        "markup[/b]call.wav": "rich markup in the name",
        "n" * 232 + ".wav": "a 236-character name",
        "x_y.wav": "collides with x<newline>y.wav once made safe",
        "x\ny.wav": "a newline that collides with x_y.wav once made safe",
        "sub/a.wav": "collides with sub\\a.wav once made safe",
        "sub\\a.wav": "a backslash that is not a folder",
    }
    for seed, (key, what) in enumerate(named.items()):
        (folder / key).parent.mkdir(parents=True, exist_ok=True)
        good(key, what, _call(folder / key, seed))
    flac = _call(scratch / "honest.flac", 9, fmt="flac")
    rate, _channels, _bits, total = flac_streaminfo(flac)
    lies = {
        "huge_header.flac": ({"total_samples": MAX_FLAC_SAMPLES}, "claims 2^36-1 samples"),
        "rate1_header.flac": (
            {"total_samples": MAX_FLAC_SAMPLES, "sample_rate": 1},
            "claims 2^36-1 samples at 1 Hz",
        ),
        "tiny_header.flac": ({"total_samples": rate // 2}, "claims 0.5 s"),
        "quadruple_header.flac": (
            {"total_samples": 4 * total},
            "claims four times its length (plausible for its size)",
        ),
    }
    for key, (claim, what) in lies.items():
        good(key, what, lying_flac(flac, folder / key, **claim))
    wav = _call(scratch / "whole.wav", 10)
    data = wav.read_bytes()
    (folder / "cut_short.wav").write_bytes(data[: len(data) * 3 // 5])
    good(
        "cut_short.wav", "a WAV cut at 60 % (its header claims all of it)", folder / "cut_short.wav"
    )
    cut_flac = flac.read_bytes()
    (folder / "cut_half.flac").write_bytes(cut_flac[: len(cut_flac) // 2])
    good("cut_half.flac", "a FLAC cut in half", folder / "cut_half.flac")
    corrupt_truncated_mp3(speak(AGENT_LINES[0], scratch / "src.wav"), folder / "cut.mp3")
    bad("cut.mp3", "an mp3 cut inside its first frame")
    corrupt_empty(folder / "empty.wav")
    bad("empty.wav", "0 bytes")
    corrupt_text_as_wav(folder / "text.wav")
    bad("text.wav", "text named .wav")
    corrupt_no_audio_stream(folder / "video.mp4")
    bad("video.mp4", "a video without audio")
    return items
