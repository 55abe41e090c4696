"""Cheap probing: ffprobe reads container headers (and, over a presigned URL, only the bytes
it needs) to get duration, channels, sample rate and codec without decoding the audio.

A header can lie (a FLAC whose STREAMINFO claims 2^36 samples, a WAV whose data size is
wrong). Where the header's figures are implausible for the file's size, the audio is
decoded once, cheaply (mono, 8 kHz), and the samples that exist decide the duration; the
header's figure is kept beside it. The workers check again (``workers.audio.decode``): the last
job decodes to the end of the stream, whatever the header said."""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from pydub.utils import get_encoder_name, get_prober_name

from callscribe.errors import BadAudioError, StorageUnavailableError

PROBE_TIMEOUT_S = 120
SCAN_TIMEOUT_S = 1800
#: Fewer bytes per second of audio than any codec callscribe reads produces (FLAC of
#: digital silence is the smallest, ~50 B/s): a header claiming more audio than this
#: allows for the file's size is checked by decoding.
MIN_BYTES_PER_S = 100
#: Room for metadata (tags, cover art) in a file beyond its audio samples.
METADATA_ALLOWANCE = 256 * 1024
SCAN_RATE = 8000
#: Sample rates outside this range are a header error, not a recording.
PLAUSIBLE_RATES = (1000, 768_000)


@dataclass(frozen=True, kw_only=True)
class ProbeResult:
    """What the headers say about a recording's first audio stream; ``duration_s`` is what
    decoding found where the header's figure was implausible (``header_duration_s``)."""

    duration_s: float
    channels: int
    sample_rate: int
    codec: str
    container: str
    header_duration_s: float | None = None

    @property
    def warning(self) -> str | None:
        """A one-line note when the header's duration was not the audio's."""
        return duration_warning(self.header_duration_s, self.duration_s)


#: Header and decoded durations closer than this (or 1 %) agree.
DURATION_TOLERANCE_S = 0.5


def duration_warning(claimed: float | None, decoded: float | None) -> str | None:
    """A one-line note when a header's duration and the decoded audio disagree by more
    than half a second and 1 % (the probe's check and the workers' both use it)."""
    if claimed is None or decoded is None:
        return None
    if abs(claimed - decoded) <= max(DURATION_TOLERANCE_S, 0.01 * decoded):
        return None
    return f"header claimed {claimed:.1f} s of audio; decoding found {decoded:.1f} s"


def probe(path_or_url: str, size_bytes: int | None = None) -> ProbeResult:
    """Probe one recording; raise :class:`BadAudioError` with a one-line reason if it has
    no decodable audio. With the object's size, an implausible header is checked by
    decoding (:func:`scan_duration`)."""
    command = [
        get_prober_name(),
        "-v",
        "error",
        "-hide_banner",
        "-select_streams",
        "a:0",
        "-show_entries",
        "stream=codec_name,channels,sample_rate,duration:format=duration,format_name",
        "-of",
        "json",
        path_or_url,
    ]
    try:
        done = subprocess.run(command, capture_output=True, timeout=PROBE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise StorageUnavailableError("ffprobe timed out") from exc
    if done.returncode != 0:
        raise BadAudioError("unreadable audio: " + ffmpeg_reason(done.stderr, "ffprobe failed"))
    found = _parse(json.loads(done.stdout or b"{}"))
    if not implausible(found, size_bytes):
        return found
    scanned = scan_duration(path_or_url)
    if duration_warning(found.duration_s, scanned) is None:
        return found
    return replace(found, duration_s=scanned, header_duration_s=found.duration_s)


def implausible(found: ProbeResult, size_bytes: int | None) -> bool:
    """Whether the header's figures cannot describe a file of this size: more audio than
    its bytes could hold at the lowest bitrate, or more bytes than its audio could fill
    at 64-bit samples, or an impossible sample rate."""
    low, high = PLAUSIBLE_RATES
    if not low <= found.sample_rate <= high:
        return True
    if size_bytes is None:
        return False
    if found.duration_s * MIN_BYTES_PER_S > size_bytes + METADATA_ALLOWANCE:
        return True
    ceiling = found.duration_s * found.channels * found.sample_rate * 8
    return size_bytes > ceiling + METADATA_ALLOWANCE


def scan_duration(path_or_url: str) -> float:
    """Seconds of audio the first stream really decodes to (mono at 8 kHz, counted as it
    streams; no header consulted). Raises :class:`BadAudioError` when none decodes."""
    command = [
        get_encoder_name(),
        "-nostdin",
        "-v",
        "error",
        "-hide_banner",
        "-i",
        path_or_url,
        "-map",
        "0:a:0",
        "-ac",
        "1",
        "-ar",
        str(SCAN_RATE),
        "-f",
        "u8",
        "-acodec",
        "pcm_u8",
        "pipe:1",
    ]
    samples = [0]

    def count(chunk: bytes) -> bool:
        samples[0] += len(chunk)
        return False

    done = stream_output(command, count, SCAN_TIMEOUT_S)
    if samples[0] == 0:
        raise BadAudioError(
            "no audio samples decode "
            + (
                f"({ffmpeg_reason(done.stderr, 'empty stream')})"
                if done.returncode or done.stderr
                else "(empty stream)"
            )
        )
    return samples[0] / SCAN_RATE


@dataclass(frozen=True)
class Streamed:
    """How a streamed command ended: its exit status, its stderr, and whether the reader
    stopped it before its output ended."""

    returncode: int
    stderr: bytes
    stopped: bool


def stream_output(command: list[str], sink: Callable[[bytes], bool], timeout_s: float) -> Streamed:
    """Run ``command`` (ffmpeg) and hand its stdout to ``sink`` a chunk at a time, until the
    output ends or ``sink`` returns True (the process is then stopped). stderr goes to a
    temporary file, so a chatty decoder never blocks; past ``timeout_s`` it is killed."""
    with (
        tempfile.TemporaryFile() as errors,
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors) as proc,
    ):
        timer = threading.Timer(timeout_s, proc.kill)
        timer.start()
        stopped = finished = False
        try:
            assert proc.stdout is not None
            while chunk := proc.stdout.read(1 << 20):
                if sink(chunk):
                    stopped = True
                    break
            finished = True
        finally:
            timer.cancel()
            if (stopped or not finished) and proc.poll() is None:
                proc.kill()
            code = proc.wait()
        errors.seek(0)
        return Streamed(code, errors.read(), stopped)


def ffmpeg_reason(stderr: bytes, fallback: str, limit: int = 300) -> str:
    """ffmpeg/ffprobe's complaints as one line: component tags (``[mp3 @ 0x…]``) and the
    input name (which may be a presigned URL) removed, repeats dropped."""
    messages: list[str] = []
    for raw in stderr.decode("utf-8", "replace").splitlines():
        line = re.sub(r"^\[[^\]]*@ 0x[0-9a-f]+\]\s*", "", raw.strip())
        if ": " in line and ("/" in line.split(": ", 1)[0] or "://" in line):
            line = line.rsplit(": ", 1)[-1]
        if line and line not in messages:
            messages.append(line)
    text = "; ".join(messages) or fallback
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _parse(data: dict[str, Any]) -> ProbeResult:
    streams = data.get("streams") or []
    fmt = data.get("format") or {}
    if not streams:
        raise BadAudioError("no audio stream in file")
    stream = streams[0]
    codec = str(stream.get("codec_name") or "unknown")
    if codec in {"unknown", "none"}:
        raise BadAudioError("unsupported audio codec")
    duration = _float(stream.get("duration")) or _float(fmt.get("duration"))
    if duration is None:
        raise BadAudioError("no audio samples (zero-length stream or unknown duration)")
    if duration <= 0:
        raise BadAudioError("zero-length audio stream")
    channels = int(stream.get("channels") or 0)
    sample_rate = int(_float(stream.get("sample_rate")) or 0)
    if channels < 1 or sample_rate < 1:
        raise BadAudioError("audio stream has no channels or sample rate")
    return ProbeResult(
        duration_s=duration,
        channels=channels,
        sample_rate=sample_rate,
        codec=codec,
        container=str(fmt.get("format_name", "")),
    )


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
