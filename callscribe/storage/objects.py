"""One stored file read in byte ranges, wherever it lives (a local file or an S3 object):
what the review web app streams, seeking included."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from callscribe.errors import RecordingMissingError, StorageUnavailableError

CHUNK = 64 * 1024


@dataclass(frozen=True)
class StoredObject:
    """A file's size and name, and a reader of ``length`` bytes from ``start``."""

    name: str
    size: int
    read: Callable[[int, int], Iterator[bytes]]


def local_object(path: Path) -> StoredObject:
    """A local file (it must exist)."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise RecordingMissingError(f"{path} does not exist") from exc

    def read(start: int, length: int) -> Iterator[bytes]:
        with open(path, "rb") as handle:
            handle.seek(start)
            left = length
            while left > 0:
                data = handle.read(min(CHUNK, left))
                if not data:
                    return
                left -= len(data)
                yield data

    return StoredObject(name=path.name, size=size, read=read)


def s3_object(client: Any, bucket: str, key: str) -> StoredObject:
    """An S3 object, read with ranged GETs (one per range asked for)."""
    try:
        head = client.head_object(Bucket=bucket, Key=key)
    except Exception as exc:
        code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchKey", "NotFound"):
            raise RecordingMissingError(f"s3://{bucket}/{key} does not exist") from exc
        raise StorageUnavailableError(f"cannot read s3://{bucket}/{key}: {exc}") from exc

    def read(start: int, length: int) -> Iterator[bytes]:
        if length <= 0:
            return
        reply = client.get_object(
            Bucket=bucket, Key=key, Range=f"bytes={start}-{start + length - 1}"
        )
        body = reply["Body"]
        try:
            yield from body.iter_chunks(CHUNK)
        finally:
            body.close()

    return StoredObject(name=os.path.basename(key), size=int(head["ContentLength"]), read=read)
