"""Which audio of a call may be heard, and HTTP range requests over it.

With redaction on for the recording's source (or any span redacted in its transcript),
only the redacted copy (``<name>.redacted.wav``, ``exports.redacted_audio``) is ever
served; without one there is no audio, never the original. The route takes a recording
id: the location comes from the database row, never from the request."""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from callscribe.errors import CallscribeError
from callscribe.models import Recording, RedactedSpan
from callscribe.settings import Settings
from callscribe.storage.objects import StoredObject, local_object, s3_object
from callscribe.storage.sources import (
    make_s3_client,
    open_source,
    parse_s3_uri,
    safe_relative_path,
)

REDACTED_SUFFIX = ".redacted.wav"
MEDIA_TYPES = {
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".flac": "audio/flac",
    ".ogg": "audio/ogg",
    ".opus": "audio/ogg",
    ".m4a": "audio/mp4",
    ".mp4": "audio/mp4",
}
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
NO_COPY = (
    "redaction is on and this call has no redacted copy of its audio "
    "(exports.redacted_audio = true makes one); the original is never served"
)
log = logging.getLogger(__name__)


class AudioUnavailable(CallscribeError):
    """This call has no audio that may be served (the reason says why)."""


class OnceEach:
    """Which (recording, reason) pairs this process has already logged: a call page is
    read again and again, and a missing file is one warning, not one per page view (later
    ones go to debug). Remembers the last ``size`` pairs."""

    def __init__(self, size: int = 4096) -> None:
        self._seen: OrderedDict[tuple[int, str], None] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def first(self, recording_id: int, reason: str) -> bool:
        key = (recording_id, reason)
        with self._lock:
            if key in self._seen:
                self._seen.move_to_end(key)
                return False
            self._seen[key] = None
            if len(self._seen) > self._size:
                self._seen.popitem(last=False)
            return True


_LOGGED = OnceEach()


@dataclass(frozen=True)
class CallAudio:
    """What the audio route streams."""

    object: StoredObject
    media_type: str
    redacted: bool


def redacted_only(settings: Settings, session: Session, rec: Recording) -> bool:
    """Whether only the redacted copy of ``rec`` may be served: redaction on for its
    source as configured now, or spans redacted in its stored transcript (a later change
    of settings never unlocks the original of a redacted call)."""
    mode = settings.for_source(rec.source.options).redaction.mode_for(rec.source.uri)
    if mode != "off":
        return True
    return bool(session.scalar(select(exists().where(RedactedSpan.recording_id == rec.id))))


def call_audio(settings: Settings, session: Session, rec: Recording) -> CallAudio:
    """The audio of ``rec`` that may be served, or :class:`AudioUnavailable`."""
    if redacted_only(settings, session, rec):
        return CallAudio(
            object=_redacted_copy(settings, rec), media_type="audio/wav", redacted=True
        )
    try:
        found = open_source(rec.source.uri, settings.storage).open_object(rec.key, rec.uri)
    except CallscribeError as exc:
        reason = exc.one_line()
        level = logging.WARNING if _LOGGED.first(rec.id, reason) else logging.DEBUG
        log.log(level, "audio of recording %d cannot be read: %s", rec.id, reason)
        raise AudioUnavailable("the recording cannot be read now (the app's log says why)") from exc
    media = MEDIA_TYPES.get(Path(rec.key).suffix.lower(), "application/octet-stream")
    return CallAudio(object=found, media_type=media, redacted=False)


def _redacted_copy(settings: Settings, rec: Recording) -> StoredObject:
    if not rec.export_name:  # not finalized: its copy, if any, is not known to be its own
        raise AudioUnavailable(NO_COPY)
    relative = f"{safe_relative_path(rec.export_name).as_posix()}{REDACTED_SUFFIX}"
    output = settings.storage.output
    try:
        if output.startswith("s3://"):
            bucket, prefix = parse_s3_uri(output)
            key = f"{prefix.rstrip('/')}/{relative}" if prefix.strip("/") else relative
            return s3_object(make_s3_client(settings.storage), bucket, key)
        root = Path(output).resolve()
        path = (root / relative).resolve()
        if not path.is_relative_to(root):
            raise AudioUnavailable("the redacted copy's name leaves the output folder")
        return local_object(path)
    except AudioUnavailable:
        raise
    except CallscribeError as exc:
        reason = exc.one_line()
        level = logging.INFO if _LOGGED.first(rec.id, reason) else logging.DEBUG
        log.log(level, "no redacted copy for recording %d: %s", rec.id, reason)
        raise AudioUnavailable(NO_COPY) from exc


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(start, end)`` inclusive of a ``Range: bytes=…`` header, None to send it all
    (no header, several ranges, or one that is not valid); ``ValueError`` when it cannot be
    satisfied (416)."""
    if not header:
        return None
    header = header.strip()
    if "," in header:
        return None
    match = _RANGE.fullmatch(header)
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            raise ValueError("empty suffix range")
        return max(0, size - length), size - 1
    start = int(first)
    if last and int(last) < start:
        return None  # not a valid range: ignored (RFC 9110 14.2), the whole file
    if start >= size:
        raise ValueError("range outside the file")
    return start, min(int(last), size - 1) if last else size - 1
