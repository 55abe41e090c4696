"""Cheap probing: ffprobe reads container headers (and, over a presigned URL, only the bytes
it needs) to get duration, channels, sample rate and codec without decoding the audio."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from typing import Any

from pydub.utils import get_prober_name

from callscribe.errors import BadAudioError, StorageUnavailableError

PROBE_TIMEOUT_S = 120


@dataclass(frozen=True)
class ProbeResult:
    """What the headers say about a recording's first audio stream."""

    duration_s: float
    channels: int
    sample_rate: int
    codec: str
    container: str


def probe(path_or_url: str) -> ProbeResult:
    """Probe one recording; raise :class:`BadAudioError` with a one-line reason if it has
    no decodable audio."""
    command = [
        get_prober_name(), "-v", "error", "-hide_banner",
        "-select_streams", "a:0",
        "-show_entries",
        "stream=codec_name,channels,sample_rate,duration:format=duration,format_name",
        "-of", "json", path_or_url,
    ]
    try:
        done = subprocess.run(command, capture_output=True, timeout=PROBE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise StorageUnavailableError("ffprobe timed out") from exc
    if done.returncode != 0:
        raise BadAudioError("unreadable audio: " + ffmpeg_reason(done.stderr, "ffprobe failed"))
    return _parse(json.loads(done.stdout or b"{}"))


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
    return ProbeResult(duration, channels, sample_rate, codec, str(fmt.get("format_name", "")))


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
