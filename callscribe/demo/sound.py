"""Sound for the demo and the tests: speech from espeak-ng, PCM helpers, encoding to the
formats a call center produces (:data:`FORMATS`), and a truncated mp3 (the demo's broken
file). ``callscribe.demo.calls`` builds real-voice calls on these; ``tests/support/audio``
builds synthetic calls and broken files on them."""

from __future__ import annotations

import functools
import json
import shlex
import shutil
import subprocess
import tempfile
import wave
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

Float32Array = NDArray[np.float32]

#: Output formats understood by :func:`encode`, :func:`make_call` and :func:`place`:
#: name -> (ffmpeg codec arguments, ffmpeg muxer, forced sample rate or None).
FORMATS: dict[str, tuple[tuple[str, ...], str, int | None]] = {
    "wav": (("-c:a", "pcm_s16le"), "wav", None),
    "wav_mulaw": (("-c:a", "pcm_mulaw"), "wav", 8000),
    "wav_alaw": (("-c:a", "pcm_alaw"), "wav", 8000),
    "mp3": (("-c:a", "libmp3lame", "-b:a", "64k"), "mp3", None),
    "flac": (("-c:a", "flac"), "flac", None),
    "ogg_opus": (("-c:a", "libopus", "-b:a", "32k"), "ogg", None),
    "m4a": (("-c:a", "aac", "-b:a", "48k"), "mp4", None),
}

#: File-name extension that goes with each format.
EXTENSIONS: dict[str, str] = {
    "wav": ".wav",
    "wav_mulaw": ".wav",
    "wav_alaw": ".wav",
    "mp3": ".mp3",
    "flac": ".flac",
    "ogg_opus": ".ogg",
    "m4a": ".m4a",
}

_SPEECH_PEAK = 0.6  # speech clips are peak-normalised to this fraction of full scale

_TRIM_THRESHOLD = 0.01  # |sample| below this (fraction of full scale) counts as silence


class AudioToolError(RuntimeError):
    """An external audio tool (espeak-ng, sox, ffmpeg) is missing or failed."""


def _run(args: Sequence[str], *, stdin: bytes | None = None) -> bytes:
    """Run an external tool (argument list, no shell); return stdout or raise AudioToolError."""
    if shutil.which(args[0]) is None:
        raise AudioToolError(f"{args[0]} is not installed or not on PATH")
    proc = subprocess.run(list(args), input=stdin, capture_output=True, check=False)
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip()[-2000:]
        raise AudioToolError(f"{shlex.join(args)} failed (exit {proc.returncode}): {err}")
    return proc.stdout


def _to_int16(data: Float32Array) -> NDArray[np.int16]:
    return (np.clip(data, -1.0, 1.0) * 32767.0).round().astype("<i2")


def _write_wav(path: Path, data: Float32Array, sample_rate: int) -> Path:
    """Write float samples shaped (n,) or (n, channels) as a PCM16 WAV."""
    frames = data.reshape(len(data), -1)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(frames.shape[1])
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(_to_int16(frames).tobytes())
    return path


def _probe_audio(path: Path) -> tuple[int, int]:
    """Return (sample_rate, channels) of the first audio stream according to ffprobe."""
    out = _run(
        [
            "ffprobe", "-v", "error", "-select_streams", "a:0",
            "-show_entries", "stream=sample_rate,channels", "-of", "json", str(path),
        ]
    )  # fmt: skip
    streams = json.loads(out).get("streams") or []
    if not streams:
        raise AudioToolError(f"ffprobe found no audio stream in {path}")
    return int(streams[0]["sample_rate"]), int(streams[0]["channels"])


def read_pcm(
    path: Path, *, sample_rate: int | None = None, channels: int | None = None
) -> tuple[NDArray[np.int16], int]:
    """Decode any audio file with ffmpeg to int16 samples shaped (n, channels).

    ``sample_rate``/``channels`` convert on the way; by default the file's own are kept.
    Returns ``(samples, sample_rate)``.
    """
    if sample_rate is None or channels is None:
        native_rate, native_channels = _probe_audio(path)
        sample_rate = sample_rate or native_rate
        channels = channels or native_channels
    raw = _run(
        [
            "ffmpeg", "-nostdin", "-v", "error", "-i", str(path),
            "-ac", str(channels), "-ar", str(sample_rate), "-f", "s16le", "-",
        ]
    )  # fmt: skip
    return np.frombuffer(raw, dtype="<i2").reshape(-1, channels), sample_rate


def _load_mono(path: Path, sample_rate: int) -> Float32Array:
    """Load a clip as mono float32 at ``sample_rate`` (fast path for matching PCM16 WAV)."""
    try:
        with wave.open(str(path), "rb") as w:
            if (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (sample_rate, 1, 2):
                pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
                return pcm.astype(np.float32) / 32768.0
    except (wave.Error, EOFError):
        pass
    pcm, _ = read_pcm(path, sample_rate=sample_rate, channels=1)
    return pcm[:, 0].astype(np.float32) / 32768.0


@functools.lru_cache(maxsize=64)
def _espeak_wav(text: str, voice: str, speed: int) -> bytes:
    return _run(["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", "--", text])


@functools.lru_cache(maxsize=256)
def _speech_pcm(text: str, voice: str, speed: int, sample_rate: int) -> bytes:
    """Synthesize ``text`` as trimmed, peak-normalised mono int16 bytes (cached)."""
    raw = _run(
        [
            "sox", "-D", "-t", "wav", "-", "-t", "raw", "-e", "signed", "-b", "16",
            "-c", "1", "-r", str(sample_rate), "-",
        ],
        stdin=_espeak_wav(text, voice, speed),
    )  # fmt: skip
    pcm = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    loud = np.flatnonzero(np.abs(pcm) > _TRIM_THRESHOLD * max(float(np.abs(pcm).max()), 1e-9))
    if loud.size == 0:
        raise AudioToolError(f"espeak-ng produced no audible speech for {text!r}")
    pcm = pcm[loud[0] : loud[-1] + 1]
    pcm *= _SPEECH_PEAK / float(np.abs(pcm).max())
    return _to_int16(pcm).tobytes()


def _speech(text: str, voice: str, speed: int, sample_rate: int) -> Float32Array:
    if not text.strip():
        raise ValueError("text must not be empty")
    pcm = np.frombuffer(_speech_pcm(text, voice, speed, sample_rate), dtype="<i2")
    return pcm.astype(np.float32) / 32768.0


def _check_fmt(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def encode(
    src: Path,
    out: Path,
    fmt: str,
    *,
    channels: int | None = None,
    sample_rate: int | None = None,
) -> Path:
    """Encode ``src`` into ``out`` as ``fmt`` (a key of :data:`FORMATS`) with ffmpeg.

    The channel count and sample rate are kept unless given; ``wav_mulaw``/``wav_alaw``
    are always 8 kHz G.711. Output is bit-exact (no random Ogg serials, no encoder tags).
    """
    _check_fmt(fmt)
    src, out = Path(src), Path(out)
    if src.resolve() == out.resolve():
        raise ValueError("encode needs distinct src and out paths")
    codec_args, muxer, forced_rate = FORMATS[fmt]
    args = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), "-vn", *codec_args]
    rate = forced_rate or sample_rate
    if rate:
        args += ["-ar", str(rate)]
    if channels:
        args += ["-ac", str(channels)]
    args += ["-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact"]
    out.parent.mkdir(parents=True, exist_ok=True)
    _run([*args, "-f", muxer, str(out)])
    return out


def _write_track(out: Path, track: Float32Array, sample_rate: int, fmt: str) -> None:
    """Write a float track as PCM16 WAV, then encode it to ``fmt`` when that is not ``wav``."""
    if fmt == "wav":
        _write_wav(out, track, sample_rate)
        return
    with tempfile.TemporaryDirectory(prefix="callscribe-audio-") as tmp:
        encode(_write_wav(Path(tmp) / "track.wav", track, sample_rate), out, fmt)


def _new_file(out: Path) -> Path:
    """``out`` as a Path, with its parent folder created."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    return out


_TRUNC_MP3_RATE = 8000

_TRUNC_MP3_KBPS = 32


def _id3_end(data: bytes) -> int:
    """Byte offset just after a leading ID3v2 tag (0 if there is none)."""
    if data[:3] != b"ID3" or len(data) < 10:
        return 0
    size = 0
    for byte in data[6:10]:  # syncsafe integer: 7 bits per byte
        size = (size << 7) | (byte & 0x7F)
    return 10 + size


def corrupt_truncated_mp3(src_wav: Path, out: Path, *, keep_bytes: int | None = None) -> Path:
    """Encode ``src_wav`` to a real MP3 and cut it in the middle of its first audio frame.

    The MP3 is 8 kHz mono 32 kbit/s (288-byte frames) with the usual ID3 tag and Xing/Info
    frame, so by default a few hundred bytes remain: ID3 + Info frame + half an audio frame.
    ffmpeg then fails (ffmpeg 5.1: "Invalid frame size (288): Could not seek to 621 ...
    Invalid argument"). ``keep_bytes`` overrides the cut.
    """
    out = _new_file(out)
    with tempfile.TemporaryDirectory(prefix="callscribe-audio-") as tmp:
        full = Path(tmp) / "full.mp3"
        _run(
            [
                "ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src_wav), "-vn",
                "-ac", "1", "-ar", str(_TRUNC_MP3_RATE),
                "-c:a", "libmp3lame", "-b:a", f"{_TRUNC_MP3_KBPS}k", "-f", "mp3", str(full),
            ]
        )  # fmt: skip
        data = full.read_bytes()
    frame = 72000 * _TRUNC_MP3_KBPS // _TRUNC_MP3_RATE
    cut = keep_bytes if keep_bytes is not None else _id3_end(data) + frame + frame // 2
    out.write_bytes(data[:cut])
    return out
