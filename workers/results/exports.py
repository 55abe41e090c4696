"""Per-recording exports (json, words, srt, vtt, txt, dialogue) to a local directory or an S3
prefix. Export paths come from object keys but can never leave the output location."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from callscribe.errors import StorageUnavailableError
from callscribe.storage.modes import make_readable
from callscribe.storage.sources import parse_s3_uri, safe_relative_path

from ..records import RedactionSpan, Segment


@dataclass(frozen=True, kw_only=True)
class TranscriptCall:
    """The call's metadata (docs/metadata.md): the standard fields and every other column
    (``extra``); ``started_at`` in ISO 8601, UTC."""

    call_id: str | None = None
    agent: str | None = None
    queue: str | None = None
    direction: str | None = None
    started_at: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Transcript:
    """A recording's whole transcript, in time order."""

    recording_id: int
    source: str
    key: str
    duration_s: float | None
    channels: int | None
    language: str | None
    segments: tuple[Segment, ...]
    options: dict[str, Any]
    export_name: str = ""
    """Where its exports go under the output (unique per recording); the key if empty."""
    redactions: tuple[RedactionSpan, ...] = ()
    call: TranscriptCall | None = None
    """The call's metadata, when the source gave any."""
    metrics: dict[str, Any] | None = None
    """How the call went (``workers.analytics.call_metrics``): talk, silence, hold, overtalk …"""

    @property
    def export_base(self) -> str:
        return self.export_name or self.key


def _clock(seconds: float, sep: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{sep}{millis:03d}"


def _cue_text(seg: Segment) -> str:
    return f"[{seg.speaker}] {seg.text}"


def to_json(t: Transcript) -> str:
    return json.dumps(asdict(t), ensure_ascii=False, indent=2) + "\n"


def to_words(t: Transcript) -> str:
    """Every word in time order with its speaker, channel, times and probability."""
    words = sorted(
        (
            {
                "start": w.start,
                "end": w.end,
                "word": w.word.strip(),
                "probability": w.probability,
                "speaker": s.speaker,
                "channel": s.channel,
            }
            for s in t.segments
            for w in s.words
        ),
        key=lambda w: (w["start"], w["channel"]),
    )
    body = {"recording_id": t.recording_id, "source": t.source, "key": t.key, "words": words}
    return json.dumps(body, ensure_ascii=False, indent=1) + "\n"


def to_srt(t: Transcript) -> str:
    cues = [
        f"{i}\n{_clock(s.start, ',')} --> {_clock(s.end, ',')}\n{_cue_text(s)}\n"
        for i, s in enumerate(t.segments, 1)
    ]
    return "\n".join(cues)


def to_vtt(t: Transcript) -> str:
    cues = [
        f"{_clock(s.start, '.')} --> {_clock(s.end, '.')}\n<v {s.speaker}>{s.text}\n"
        for s in t.segments
    ]
    return "WEBVTT\n\n" + "\n".join(cues)


def to_txt(t: Transcript) -> str:
    return "".join(f"{s.text}\n" for s in t.segments)


def to_dialogue(t: Transcript) -> str:
    """Speaker turns in time order: consecutive segments of one speaker form one turn;
    first, in brackets, the call's agent and queue when its metadata has them."""
    turns: list[tuple[str, list[str]]] = []
    for seg in t.segments:
        if turns and turns[-1][0] == seg.speaker:
            turns[-1][1].append(seg.text)
        else:
            turns.append((seg.speaker, [seg.text]))
    return _call_header(t.call) + "".join(
        f"{speaker.capitalize()}: {' '.join(texts)}\n" for speaker, texts in turns
    )


def _call_header(call: TranscriptCall | None) -> str:
    """``[agent Dana · queue billing]`` and a blank line, or nothing (the values are one
    line of printable text: the metadata reader made them so)."""
    if call is None:
        return ""
    parts = [
        f"{name} {value}" for name, value in (("agent", call.agent), ("queue", call.queue)) if value
    ]
    return f"[{' · '.join(parts)}]\n\n" if parts else ""


RENDERERS: dict[str, Callable[[Transcript], str]] = {
    "json": to_json,
    "words": to_words,
    "srt": to_srt,
    "vtt": to_vtt,
    "txt": to_txt,
    "dialogue": to_dialogue,
}
SUFFIX = {
    "json": ".json",
    "words": ".words.json",
    "srt": ".srt",
    "vtt": ".vtt",
    "txt": ".txt",
    "dialogue": ".dialogue.txt",
}


#: A path component of an export name is cut to this many bytes (file systems allow 255,
#: and the suffixes and the hash need room).
MAX_NAME_BYTES = 180


def export_names(key: str, source_uri: str) -> list[str]:
    """Candidate export names (relative paths without the format suffix) for a recording,
    best first: the key made safe and short enough, when that changed nothing; then always
    the same with a short hash of (source, key), which no other recording has."""
    parts = [_shorten(part) for part in safe_relative_path(key).parts]
    plain = "/".join(parts)
    digest = hashlib.sha256(f"{source_uri}\0{key}".encode()).hexdigest()[:10]
    hashed = f"{plain}~{digest}"
    return [plain, hashed] if plain == key else [hashed]


def _shorten(part: str) -> str:
    data = part.encode("utf-8")
    if len(data) <= MAX_NAME_BYTES:
        return part
    return data[:MAX_NAME_BYTES].decode("utf-8", errors="ignore")


def export_path(name: str, fmt: str) -> str:
    """Relative path of one export: the recording's export name plus the format's suffix."""
    return _relative(name, SUFFIX[fmt])


def _relative(name: str, suffix: str) -> str:
    return f"{safe_relative_path(name).as_posix()}{suffix}"


def local_target(root: Path, name: str, fmt: str) -> Path:
    """Where a local export goes; guaranteed to be inside ``root``."""
    return _inside(root, export_path(name, fmt))


def _inside(root: Path, relative: str) -> Path:
    base = root.resolve()
    path = (base / relative).resolve()
    if not path.is_relative_to(base):  # cannot happen after safe_relative_path; belt and braces
        raise ValueError(f"export path {relative!r} escapes {base}")
    return path


def write_exports(
    t: Transcript, output: str, formats: Sequence[str], s3_client: Callable[[], Any]
) -> list[str]:
    """Write every requested format; returns where each went."""
    if output.startswith("s3://"):
        return _write_s3(t, output, formats, s3_client())
    written = []
    for fmt in formats:
        body = RENDERERS[fmt](t).encode("utf-8")
        path = local_target(Path(output), t.export_base, fmt)
        _replace_atomically(path, _bytes_writer(body))
        written.append(str(path))
    return written


def write_file_export(
    t: Transcript, output: str, suffix: str, src: Path, s3_client: Callable[[], Any]
) -> str:
    """Put the file ``src`` at the recording's export name plus ``suffix`` (a redacted
    recording, say); returns where it went."""
    relative = _relative(t.export_base, suffix)
    if output.startswith("s3://"):
        bucket, key = _s3_location(output, relative)
        try:
            s3_client().upload_file(str(src), bucket, key)
        except Exception as exc:
            raise StorageUnavailableError(f"cannot upload s3://{bucket}/{key}: {exc}") from exc
        return f"s3://{bucket}/{key}"
    path = _inside(Path(output), relative)
    with open(src, "rb") as source:
        _replace_atomically(path, lambda out: shutil.copyfileobj(source, out))
    return str(path)


def _replace_atomically(path: Path, fill: Callable[[BinaryIO], object]) -> None:
    """Let ``fill`` write a temporary file of this writer's own beside ``path``, then rename
    it over ``path``: two finalizers of one recording (a worker and the reconciler) never
    share a temporary file, and a reader sees the old export or the new one, never half of
    one. A failure is a :class:`StorageUnavailableError`."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".part")
        try:
            make_readable(handle)
            with os.fdopen(handle, "wb") as out:
                fill(out)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as exc:
        raise StorageUnavailableError(f"cannot write {path}: {exc.strerror}") from exc


def _bytes_writer(data: bytes) -> Callable[[BinaryIO], object]:
    return lambda out: out.write(data)


def _s3_location(output: str, relative: str) -> tuple[str, str]:
    """(bucket, key) of an export under an ``s3://bucket/prefix`` output."""
    bucket, prefix = parse_s3_uri(output)
    prefix = prefix.rstrip("/")
    return bucket, f"{prefix}/{relative}" if prefix else relative


def _write_s3(t: Transcript, output: str, formats: Sequence[str], client: Any) -> list[str]:
    written = []
    for fmt in formats:
        bucket, key = _s3_location(output, export_path(t.export_base, fmt))
        body = RENDERERS[fmt](t).encode("utf-8")
        try:
            client.put_object(
                Bucket=bucket,
                Key=key,
                Body=body,
                ContentType="application/json" if fmt in ("json", "words") else "text/plain",
            )
        except Exception as exc:
            raise StorageUnavailableError(f"cannot upload s3://{bucket}/{key}: {exc}") from exc
        written.append(f"s3://{bucket}/{key}")
    return written
