"""Call metadata: which call a recording is (``call_id``), who took it (``agent``), from which
``queue``, its ``direction`` and when it started (``started_at``), plus any other column.

It comes from a metadata file at the root of a folder or S3 source (``.csv`` with a header
row, or ``.jsonl`` with one object a line; both with ``key``, the recording's key as the
source lists it) or from the ``metadata`` object of a manifest entry (docs/metadata.md).
Every value is untrusted text: control characters become spaces, lengths are capped, and
nothing here is ever used to build a path. A bad value never fails a run: a warning with a
one-line reason, and the field is left empty (a row without a usable key is skipped).
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

log = logging.getLogger(__name__)

#: The typed fields (columns of ``recordings``); every other column goes to ``extra``.
STANDARD = ("call_id", "agent", "queue", "direction", "started_at")
DIRECTIONS = ("inbound", "outbound")
#: Caps on untrusted text: a standard field's value, an extra column's name and value, how
#: many extra columns a row keeps, a key, and the bytes of one metadata file read.
MAX_VALUE = 256
MAX_EXTRA_NAME = 64
MAX_EXTRA_VALUE = 1024
MAX_EXTRA_FIELDS = 50
MAX_KEY = 4096
MAX_FILE_BYTES = 512 * 1024 * 1024
#: Warnings about rows naming no recording, one line each; the rest are counted.
MAX_UNKNOWN_WARNINGS = 20


@dataclass(frozen=True, kw_only=True)
class CallMetadata:
    """One recording's call metadata (None: not given, or given and invalid)."""

    call_id: str | None = None
    agent: str | None = None
    queue: str | None = None
    direction: str | None = None
    started_at: datetime | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    def columns(self) -> dict[str, Any]:
        """As the ``recordings`` columns store it."""
        return {
            "call_id": self.call_id,
            "agent": self.agent,
            "queue": self.queue,
            "direction": self.direction,
            "started_at": self.started_at,
            "call_meta": dict(self.extra) or None,
        }


def clean_text(value: Any, limit: int) -> str | None:
    """``value`` as one line of printable text of at most ``limit`` characters (JSON
    objects and lists as compact JSON, ``true``/``false`` for booleans); None if empty."""
    if value is None:
        return None
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    else:
        text = str(value)
    text = "".join(ch if ch.isprintable() else " " for ch in text[: limit * 4]).strip()
    return text[:limit].rstrip() or None


def shown(value: Any, limit: int = 80) -> str:
    """An untrusted value quoted for a one-line warning."""
    text = clean_text(value, limit + 1) or ""
    return repr(text if len(text) <= limit else text[:limit] + "…")


def parse_call(row: Mapping[Any, Any], where: str) -> CallMetadata:
    """The metadata in ``row`` (a CSV row or a JSON object, ``key`` already taken out or
    ignored); ``where`` names it in warnings (``file:line``). An invalid direction or
    start time is left empty with a warning."""
    values: dict[str, Any] = {}
    extra: dict[str, str] = {}
    dropped = 0
    for raw_name, raw in row.items():
        if not isinstance(raw_name, str):  # a CSV row longer than its header
            continue
        name = clean_text(raw_name, MAX_EXTRA_NAME)
        if name is None or name.lower() == "key":
            continue
        if name.lower() in STANDARD:
            values[name.lower()] = raw
        elif (value := clean_text(raw, MAX_EXTRA_VALUE)) is not None:
            if len(extra) < MAX_EXTRA_FIELDS or name in extra:
                extra[name] = value
            else:
                dropped += 1
    if dropped:
        log.warning("%s: more than %d other columns; %d left out", where, MAX_EXTRA_FIELDS, dropped)
    return CallMetadata(
        call_id=clean_text(values.get("call_id"), MAX_VALUE),
        agent=clean_text(values.get("agent"), MAX_VALUE),
        queue=clean_text(values.get("queue"), MAX_VALUE),
        direction=_direction(values.get("direction"), where),
        started_at=_started_at(values.get("started_at"), where),
        extra=extra,
    )


def _direction(raw: Any, where: str) -> str | None:
    text = clean_text(raw, MAX_VALUE)
    if text is None:
        return None
    if text.lower() in DIRECTIONS:
        return text.lower()
    log.warning("%s: direction %s is not inbound or outbound; left empty", where, shown(text))
    return None


def _started_at(raw: Any, where: str) -> datetime | None:
    """ISO 8601; without a zone it is taken as UTC."""
    text = clean_text(raw, MAX_VALUE)
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (ValueError, OverflowError):
        log.warning(
            "%s: started_at %s is not an ISO 8601 date and time; left empty", where, shown(text)
        )
        return None


def _key(raw: Any, where: str) -> str | None:
    if not isinstance(raw, str | int) or isinstance(raw, bool) or str(raw) == "":
        log.warning("%s: no key; row skipped", where)
        return None
    key = str(raw)
    if len(key) > MAX_KEY:
        log.warning("%s: key longer than %d characters; row skipped", where, MAX_KEY)
        return None
    return key


def read_metadata(stream: IO[bytes], name: str) -> dict[str, CallMetadata]:
    """Key → metadata from one file (``.csv`` or ``.jsonl`` by ``name``), at most
    MAX_FILE_BYTES of it; ``name`` is how warnings name the file. A key given twice counts
    as its last row says."""
    limited = _Limited(stream, MAX_FILE_BYTES, name)
    text = io.TextIOWrapper(
        io.BufferedReader(limited), encoding="utf-8-sig", errors="replace", newline=""
    )
    rows = _csv_rows(text, name) if name.lower().endswith(".csv") else _jsonl_rows(text, name)
    found: dict[str, CallMetadata] = {}
    for where, row in rows:
        key = _key(row.get("key"), where)
        if key is None:
            continue
        if key in found:
            log.warning("%s: key %s listed again; this row counts", where, shown(key))
        found[key] = parse_call(row, where)
    return found


def _csv_rows(text: IO[str], name: str) -> Iterator[tuple[str, Mapping[Any, Any]]]:
    reader = csv.DictReader(text)
    try:
        header = reader.fieldnames or []
        if "key" not in [(h or "").strip().lower() for h in header]:
            log.warning("%s: no key column in the header; file ignored", name)
            return
        reader.fieldnames = [(h or "").strip() for h in header]
        start = reader.line_num + 1
        for row in reader:  # a row's first line names it (a quoted value may span lines)
            keyed = {("key" if k and k.lower() == "key" else k): v for k, v in row.items()}
            yield f"{name}:{start}", keyed
            start = reader.line_num + 1
    except csv.Error as exc:
        log.warning(
            "%s:%d: unreadable CSV (%s); rest of file ignored",
            name,
            reader.line_num,
            clean_text(exc, 200),
        )


def _jsonl_rows(text: IO[str], name: str) -> Iterator[tuple[str, Mapping[Any, Any]]]:
    for number, line in enumerate(text, 1):
        if not line.strip():
            continue
        where = f"{name}:{number}"
        try:
            row = json.loads(line)
        except ValueError as exc:
            log.warning("%s: not JSON (%s); row skipped", where, clean_text(exc, 200))
            continue
        if not isinstance(row, dict):
            log.warning("%s: not a JSON object; row skipped", where)
            continue
        yield where, row


def manifest_call(value: Any, where: str) -> CallMetadata | None:
    """The ``metadata`` object of a manifest entry (None when absent; ignored with a
    warning when not an object)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        log.warning("%s: metadata is not a JSON object; ignored", where)
        return None
    return parse_call(value, where)


def warn_unknown(keys: Iterable[str], where: str) -> int:
    """Warn about metadata rows whose key names no recording of the source; returns how
    many there were."""
    unknown = sorted(keys)
    for key in unknown[:MAX_UNKNOWN_WARNINGS]:
        log.warning("%s: key %s is not a recording of the source; row skipped", where, shown(key))
    if len(unknown) > MAX_UNKNOWN_WARNINGS:
        log.warning(
            "%s: %d more rows name no recording; skipped",
            where,
            len(unknown) - MAX_UNKNOWN_WARNINGS,
        )
    return len(unknown)


class _Limited(io.RawIOBase):
    """At most ``limit`` bytes of ``stream``; what is beyond is left unread, with a
    warning."""

    def __init__(self, stream: IO[bytes], limit: int, name: str) -> None:
        self.stream, self.left, self.name = stream, limit, name

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.left <= 0:
            return 0
        data = self.stream.read(min(len(buffer), self.left))
        if not data:
            return 0
        self.left -= len(data)
        if self.left <= 0 and self.stream.read(1):
            log.warning("%s: longer than %d bytes; the rest is ignored", self.name, MAX_FILE_BYTES)
        buffer[: len(data)] = data
        return len(data)
