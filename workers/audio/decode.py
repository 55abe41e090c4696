"""Fetch and decode audio: any ffmpeg-readable input → 16 kHz float32, one array per
channel; and the silence-seeking cut between two jobs of one recording."""

from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydub.utils import get_encoder_name

from callscribe.errors import BadAudioError
from callscribe.media.probe import ffmpeg_reason, stream_output

SAMPLE_RATE = 16_000
FRAME_S = 0.02
#: How far on either side of a nominal job boundary the cut may move.
CUT_SEARCH_S = 10.0
_MIN_SILENT_FRAMES = 10  # 200 ms
#: RMS below which a channel counts as silent (−80 dBFS).
SILENCE_FLOOR = 1e-4
DECODE_TIMEOUT_S = 1800


@dataclass(frozen=True)
class DecodedAudio:
    """Samples of a span of a recording: ``channels[c][i]`` is at ``offset_s + i / 16000``."""

    channels: tuple[np.ndarray, ...]
    offset_s: float

    @property
    def duration_s(self) -> float:
        return len(self.channels[0]) / SAMPLE_RATE if self.channels else 0.0

    def slice(self, channel: int, start_s: float, end_s: float) -> np.ndarray:
        """Samples of one channel between two absolute times (clamped to what we have)."""
        first = max(0, round((start_s - self.offset_s) * SAMPLE_RATE))
        last = max(first, round((end_s - self.offset_s) * SAMPLE_RATE))
        return self.channels[channel][first:last]


def decode(
    path: Path,
    channels: int,
    start_s: float = 0.0,
    duration_s: float | None = None,
    codec: str | None = None,
    *,
    allow_empty: bool = False,
) -> DecodedAudio:
    """Decode a span of ``path`` to 16 kHz float32 per channel. With ``allow_empty``, a
    span that starts past the end of the audio (its header claimed more) gives no samples
    instead of an error.

    PCM input is seeked in the container (exact). Compressed input is decoded from the
    start and the span is cut by counting output samples, never by timestamps: so two
    jobs that decode the same region of an mp3 see the very same samples, and a header
    that lies about the sample rate or length (which skews timestamps) cannot move them.
    """
    start_s = max(0.0, start_s)
    if codec is not None and codec.startswith("pcm_"):
        command = _command(path, channels, start_s, duration_s)
        skip, keep = 0, None
    else:
        command = _command(path, channels, 0.0, None)
        skip = round(start_s * SAMPLE_RATE) * channels * 4
        keep = None if duration_s is None else round(duration_s * SAMPLE_RATE) * channels * 4
    data = _read_span(command, skip, keep)
    samples = np.frombuffer(data.stdout, dtype=np.float32)
    if samples.size == 0 and not allow_empty:
        raise BadAudioError(f"no audio decoded{_stderr_hint(data.stderr)}")
    usable = samples.size - samples.size % channels
    frames = samples[:usable].reshape(-1, channels)
    return DecodedAudio(tuple(np.ascontiguousarray(frames[:, c]) for c in range(channels)), start_s)


def _command(path: Path, channels: int, start_s: float, duration_s: float | None) -> list[str]:
    command = [get_encoder_name(), "-nostdin", "-v", "error", "-hide_banner"]
    if start_s:
        command += ["-ss", f"{start_s:.6f}"]
    command += ["-i", str(path)]
    if duration_s is not None:
        command += ["-t", f"{duration_s:.6f}"]
    return [
        *command,
        "-map",
        "0:a:0",
        "-ac",
        str(channels),
        "-ar",
        str(SAMPLE_RATE),
        "-f",
        "f32le",
        "-acodec",
        "pcm_f32le",
        "pipe:1",
    ]


@dataclass(frozen=True)
class _Output:
    stdout: bytes
    stderr: bytes


def _read_span(command: list[str], skip: int, keep: int | None) -> _Output:
    """Run ffmpeg, drop the first ``skip`` bytes of its output and keep the next ``keep``
    (all, when None), stopping it once they are read; raise if it failed before that."""
    parts: list[bytes] = []
    drop, want = skip, keep  # bytes still to drop, bytes still wanted (None: all)

    def take(chunk: bytes) -> bool:
        nonlocal drop, want
        chunk, drop = chunk[drop:], max(0, drop - len(chunk))
        if want is not None:
            chunk, want = chunk[:want], want - min(want, len(chunk))
        parts.append(chunk)
        return want == 0

    done = stream_output(command, take, DECODE_TIMEOUT_S)
    if not done.stopped and done.returncode == -signal.SIGKILL:
        raise BadAudioError(f"decoding took longer than {DECODE_TIMEOUT_S} s")
    if not done.stopped and done.returncode != 0:
        raise BadAudioError(f"cannot decode audio{_stderr_hint(done.stderr)}")
    return _Output(b"".join(parts), done.stderr)


def _stderr_hint(stderr: bytes) -> str:
    reason = ffmpeg_reason(stderr, "")
    return f": {reason}" if reason else ""


#: Channels this correlated (Pearson), at levels this close, carry one signal.
DUAL_MONO_CORRELATION = 0.98
DUAL_MONO_LEVEL_DB = 3.0


def is_dual_mono(left: np.ndarray, right: np.ndarray) -> bool:
    """True when both channels carry the same signal: a mono call stored as stereo, also
    through a lossy codec (joint-stereo mp3 leaves the channels correlated at 0.999, not
    equal). A stereo call's two parties, or one party and a quiet echo of it on the other
    leg, are far below the correlation or far apart in level."""
    if left.size == 0 or left.size != right.size:
        return False
    l64, r64 = left.astype(np.float64), right.astype(np.float64)
    l64 -= l64.mean()
    r64 -= r64.mean()
    energy_l, energy_r = float(np.dot(l64, l64)), float(np.dot(r64, r64))
    floor = left.size * SILENCE_FLOOR**2
    if energy_l <= floor or energy_r <= floor:  # a silent leg: dual-mono only if both are
        return energy_l <= floor and energy_r <= floor
    level_db = 10 * np.log10(energy_l / energy_r)
    correlation = float(np.dot(l64, r64)) / np.sqrt(energy_l * energy_r)
    return correlation >= DUAL_MONO_CORRELATION and abs(level_db) <= DUAL_MONO_LEVEL_DB


def cut_point(audio: np.ndarray, offset_s: float, boundary_s: float) -> float:
    """Where to split a recording near ``boundary_s``: the middle of the silence (≥ 200 ms)
    nearest to it, else the quietest 20-ms frame nearest to it.

    ``audio`` must cover exactly ``[boundary_s - CUT_SEARCH_S, boundary_s + CUT_SEARCH_S]``
    (clamped to the recording) as absolute times; both neighbouring jobs call this with the
    same samples and so agree on the cut to the sample.
    """
    first_frame = int(np.ceil(offset_s / FRAME_S - 1e-9))
    skip = max(0, round(first_frame * FRAME_S * SAMPLE_RATE - offset_s * SAMPLE_RATE))
    frame_len = int(FRAME_S * SAMPLE_RATE)
    usable = (audio.size - skip) // frame_len
    if usable <= 0:
        return boundary_s
    frames = audio[skip : skip + usable * frame_len].astype(np.float64).reshape(usable, frame_len)
    energy = np.mean(frames * frames, axis=1)
    times = (first_frame + np.arange(usable)) * FRAME_S  # frame start times
    threshold = max(1e-6, float(np.percentile(energy, 95)) * 10 ** (-3.5))
    silent = energy < threshold
    best = _nearest_silence(silent, times, boundary_s)
    if best is not None:
        return best
    quietest = np.flatnonzero(energy <= energy.min() * 1.0001)
    index = quietest[np.argmin(np.abs(times[quietest] + FRAME_S / 2 - boundary_s))]
    return round(float(times[index] + FRAME_S / 2), 3)


def _nearest_silence(silent: np.ndarray, times: np.ndarray, boundary_s: float) -> float | None:
    padded = np.concatenate(([False], silent, [False]))
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    starts, ends = edges[0::2], edges[1::2]
    long_runs = [(s, e) for s, e in zip(starts, ends, strict=True) if e - s >= _MIN_SILENT_FRAMES]
    if not long_runs:
        return None
    middles = [round(float(times[s] + (e - s) * FRAME_S / 2), 3) for s, e in long_runs]
    return min(middles, key=lambda m: (abs(m - boundary_s), m))
