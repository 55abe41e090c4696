"""Where recordings come from: a local directory or an S3 prefix.

A source lists objects (key, size, etag, mtime) for idempotent registration and fetches one
object's bytes for a worker. Keys are always relative, ``/``-separated paths.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any, Protocol
from urllib.parse import urlparse

from callscribe.errors import (
    RecordingMissingError,
    SourceError,
    StorageUnavailableError,
    one_line,
)
from callscribe.models.enums import SourceKind
from callscribe.settings import StorageSection

from .metadata import CallMetadata, manifest_call, read_metadata
from .objects import StoredObject, local_object, s3_object

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class ObjectInfo:
    """One listed object, with the fields used to notice that it changed."""

    key: str
    uri: str
    size: int
    etag: str | None
    mtime: datetime | None


class RecordingSource(Protocol):
    """What the scheduler and the workers need of a source."""

    uri: str
    kind: SourceKind

    def list(self) -> Iterator[ObjectInfo]:
        """Every matching object, in a stable order."""
        ...

    def fetch(self, key: str, dest_dir: Path, uri: str | None = None) -> Path:
        """A local file with the object's bytes (may be the original file). ``uri`` is the
        registered location (needed by manifests, whose objects live elsewhere)."""
        ...

    def probe_url(self, key: str, uri: str | None = None) -> str:
        """A path or URL that ffprobe can read the headers from."""
        ...

    def open_object(self, key: str, uri: str | None = None) -> StoredObject:
        """The object, to be read in byte ranges (the review web app's audio)."""
        ...


def matches(name: str, patterns: Sequence[str]) -> bool:
    """True if the file name matches one of the glob patterns (case-insensitive)."""
    lowered = name.lower()
    return any(fnmatch.fnmatch(lowered, pattern.lower()) for pattern in patterns)


class LocalSource:
    """A directory, listed recursively; symlinks are followed only inside the root. The
    metadata files at the root (``metadata_files``) are never listed as recordings."""

    kind = SourceKind.LOCAL

    def __init__(
        self, root: Path, include: Sequence[str], metadata_files: Sequence[str] = ()
    ) -> None:
        self.root = root.resolve()
        self.uri = self.root.as_uri()
        self.include = tuple(include)
        self.metadata_files = tuple(metadata_files)
        if not self.root.is_dir():
            raise SourceError(f"{root} is not a directory")

    def list(self) -> Iterator[ObjectInfo]:
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames.sort()
            for name in sorted(filenames):
                if not matches(name, self.include):
                    continue
                if name in self.metadata_files and Path(dirpath) == self.root:
                    continue
                path = Path(dirpath, name)
                info = self._info(path)
                if info is not None:
                    yield info

    def _info(self, path: Path) -> ObjectInfo | None:
        try:
            stat = path.stat()
        except OSError:
            return None  # vanished while listing, or a broken link
        key = path.relative_to(self.root).as_posix()
        mtime = datetime.fromtimestamp(stat.st_mtime, UTC)
        return ObjectInfo(key=key, uri=path.as_uri(), size=stat.st_size, etag=None, mtime=mtime)

    def _path(self, key: str) -> Path:
        """The file a key names, exactly: the key is the listed path relative to the root,
        and a name with a backslash, a newline or trailing spaces is read as it is (a
        sanitised name could be another recording's file). A key that climbs out of the root
        is refused."""
        parts = key.split("/")
        if any(part in ("", ".", "..") for part in parts):
            raise RecordingMissingError(f"key {key!r} points outside the source directory")
        path = self.root.joinpath(*parts)
        if not path.resolve().is_relative_to(self.root):
            raise RecordingMissingError(f"key {key!r} points outside the source directory")
        return path

    def fetch(self, key: str, dest_dir: Path, uri: str | None = None) -> Path:
        path = self._path(key)
        if not path.is_file():
            raise RecordingMissingError(f"{path} no longer exists")
        return path

    def probe_url(self, key: str, uri: str | None = None) -> str:
        return str(self._path(key))

    def open_object(self, key: str, uri: str | None = None) -> StoredObject:
        path = self._path(key)
        if not path.is_file():
            raise RecordingMissingError(f"{path} no longer exists")
        return local_object(path)

    def open_metadata(self, name: str) -> IO[bytes] | None:
        """The metadata file ``name`` at the root, if there is one (inside the root)."""
        path = self.root / name
        if not path.is_file() or not path.resolve().is_relative_to(self.root):
            return None
        return path.open("rb")


class S3Source:
    """``s3://bucket/prefix``, listed with a paginator (1,000 keys a page). The prefix is a
    folder, with or without its trailing slash: ``s3://b/calls`` lists ``calls/…``, never
    ``calls-old/…`` or ``calls2/…``. A recording's key is the object key with exactly that
    folder taken off, so two objects never share a key (``calls//a.wav`` keeps its slash)."""

    kind = SourceKind.S3

    def __init__(
        self,
        bucket: str,
        prefix: str,
        include: Sequence[str],
        client: Any,
        metadata_files: Sequence[str] = (),
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.folder = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        self.uri = f"s3://{bucket}/{prefix}"
        self.include = tuple(include)
        self.client = client
        self.metadata_files = tuple(metadata_files)

    def list(self) -> Iterator[ObjectInfo]:
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.folder):
                for item in page.get("Contents", []):
                    info = self._info(item)
                    if info is not None:
                        yield info
        except Exception as exc:  # botocore raises many types; all mean "cannot list"
            raise SourceError(f"cannot list {self.uri}: {_s3_reason(exc)}") from exc

    def _info(self, item: dict[str, Any]) -> ObjectInfo | None:
        full_key: str = item["Key"]
        if not full_key.startswith(self.folder):  # not ours (a listing never gives these)
            return None
        key = full_key[len(self.folder) :]
        if not key or full_key.endswith("/") or not matches(PurePosixPath(key).name, self.include):
            return None
        if key in self.metadata_files:
            return None
        return ObjectInfo(
            key=key,
            uri=f"s3://{self.bucket}/{full_key}",
            size=int(item.get("Size", 0)),
            etag=str(item.get("ETag", "")).strip('"') or None,
            mtime=item.get("LastModified"),
        )

    def fetch(self, key: str, dest_dir: Path, uri: str | None = None) -> Path:
        dest = dest_dir / "object"
        try:
            self.client.download_file(self.bucket, self._object_key(key), str(dest))
        except Exception as exc:
            if _is_not_found(exc):
                raise RecordingMissingError(
                    f"s3://{self.bucket}/{self._object_key(key)} no longer exists"
                ) from exc
            raise StorageUnavailableError(f"cannot download {key!r}: {_s3_reason(exc)}") from exc
        return dest

    def _object_key(self, key: str) -> str:
        return self.folder + key

    def probe_url(self, key: str, uri: str | None = None) -> str:
        params = {"Bucket": self.bucket, "Key": self._object_key(key)}
        url: str = self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=900)
        return url

    def open_object(self, key: str, uri: str | None = None) -> StoredObject:
        return s3_object(self.client, self.bucket, self._object_key(key))

    def open_metadata(self, name: str) -> IO[bytes] | None:
        """The metadata object ``name`` under the prefix, if there is one. One that cannot
        be read is left out with a warning (it never fails a run)."""
        try:
            body: IO[bytes] = self.client.get_object(
                Bucket=self.bucket, Key=self._object_key(name)
            )["Body"]
            return body
        except Exception as exc:
            if not _is_not_found(exc):
                log.warning(
                    "cannot read %s%s: %s; no call metadata from it",
                    self.uri,
                    name,
                    _s3_reason(exc),
                )
            return None


def _is_not_found(exc: Exception) -> bool:
    response = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    return code in {"404", "NoSuchKey", "NotFound"}


def _s3_reason(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    error = response.get("Error", {})
    if error:
        return f"{error.get('Code', '')} {error.get('Message', '')}".strip()
    return one_line(exc) or type(exc).__name__


def make_s3_client(storage: StorageSection) -> Any:
    """A boto3 S3 client for the ``storage`` section (endpoint for MinIO/moto, explicit keys
    if set)."""
    import boto3
    from botocore.config import Config

    kwargs: dict[str, Any] = {
        "endpoint_url": storage.s3_endpoint_url,
        "region_name": storage.s3_region,
        "config": Config(retries={"max_attempts": 5, "mode": "standard"}),
    }
    if storage.aws_access_key_id and storage.aws_secret_access_key:
        kwargs["aws_access_key_id"] = storage.aws_access_key_id.get_secret_value()
        kwargs["aws_secret_access_key"] = storage.aws_secret_access_key.get_secret_value()
    return boto3.client("s3", **kwargs)


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` → (bucket, "some/prefix")."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise SourceError(f"not an S3 URI: {uri!r} (expected s3://bucket/prefix)")
    return parsed.netloc, parsed.path.lstrip("/")


def open_source(uri: str, storage: StorageSection) -> RecordingSource:
    """The source behind ``uri``: ``s3://…``, ``file://…`` or a directory path."""
    if uri.startswith("s3://"):
        bucket, prefix = parse_s3_uri(uri)
        return S3Source(
            bucket, prefix, storage.include, make_s3_client(storage), storage.metadata_files
        )
    if uri.startswith("file://"):
        return _local_or_manifest(Path(urlparse(uri).path), storage)
    if "://" in uri:
        raise SourceError(f"unsupported source {uri!r}: use a directory or s3://bucket/prefix")
    return _local_or_manifest(Path(uri), storage)


def _local_or_manifest(path: Path, storage: StorageSection) -> RecordingSource:
    if path.suffix == ".jsonl" and path.is_file():
        return ManifestSource(path, storage)
    return LocalSource(path, storage.include, storage.metadata_files)


def load_call_metadata(
    source: RecordingSource, storage: StorageSection
) -> tuple[dict[str, CallMetadata], str]:
    """Key → call metadata from the metadata files at the root of a folder or S3 source
    (``storage.metadata_files``, in that order: a later file's row for a key wins), and the
    names of the files read (for warnings). Nothing for a manifest, which carries its
    metadata on its entries."""
    opener = getattr(source, "open_metadata", None)
    found: dict[str, CallMetadata] = {}
    read: list[str] = []
    if opener is None:
        return found, ""
    for name in storage.metadata_files:
        stream = opener(name)
        if stream is None:
            continue
        try:
            with stream:
                found.update(read_metadata(stream, name))
        except Exception as exc:  # a read that broke off (network, disk): never fails a run
            log.warning(
                "cannot read %s at %s: %s; no call metadata from it",
                name,
                source.uri,
                _s3_reason(exc),
            )
            continue
        read.append(name)
    return found, " + ".join(read)


def safe_relative_path(key: str) -> PurePosixPath:
    """A relative path made from an object key that cannot leave its base directory:
    empty, ``.`` and ``..`` parts are dropped, backslashes count as separators, and
    control characters are replaced."""
    parts = []
    for part in key.replace("\\", "/").split("/"):
        cleaned = "".join(ch if ch.isprintable() else "_" for ch in part).strip()
        if cleaned in {"", ".", ".."}:
            continue
        parts.append(cleaned)
    if not parts:
        parts = ["_"]
    return PurePosixPath(*parts)


@dataclass(frozen=True, kw_only=True)
class ManifestEntry:
    """One line of a manifest: where the audio is and, optionally, what probing would say
    and the call's metadata."""

    info: ObjectInfo
    duration_s: float | None
    channels: int | None
    sample_rate: int | None
    codec: str | None
    call: CallMetadata | None = None


class ManifestSource:
    """A JSON-lines manifest (e.g. made from an S3 inventory) listing recordings that live
    elsewhere: one object per line with ``key``, ``uri`` (``s3://…`` or a path), ``size``
    and optionally ``etag``, ``mtime`` (ISO 8601), ``duration_s``, ``channels``,
    ``sample_rate``, ``codec``, and ``metadata``: an object with the call's ``call_id``,
    ``agent``, ``queue``, ``direction``, ``started_at`` and any other field
    (docs/metadata.md). Entries with duration, channels and sample rate skip probing, so a
    whole archive can be registered and planned from metadata alone."""

    kind = SourceKind.MANIFEST

    def __init__(self, path: Path, storage: StorageSection) -> None:
        self.path = path.resolve()
        self.uri = self.path.as_uri()
        self.storage = storage
        self._s3: Any = None
        if not self.path.is_file():
            raise SourceError(f"manifest {path} does not exist")

    def entries(self) -> Iterator[ManifestEntry]:
        with self.path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if line.strip():
                    yield _manifest_entry(line, number, self.path)

    def list(self) -> Iterator[ObjectInfo]:
        return (entry.info for entry in self.entries())

    def fetch(self, key: str, dest_dir: Path, uri: str | None = None) -> Path:
        source, leaf = self._locate(key, uri)
        return source.fetch(leaf, dest_dir)

    def probe_url(self, key: str, uri: str | None = None) -> str:
        source, leaf = self._locate(key, uri)
        return source.probe_url(leaf)

    def open_object(self, key: str, uri: str | None = None) -> StoredObject:
        source, leaf = self._locate(key, uri)
        return source.open_object(leaf)

    def _locate(self, key: str, uri: str | None) -> tuple[LocalSource | S3Source, str]:
        if uri is None:
            raise RecordingMissingError(f"no location recorded for {key!r}")
        if uri.startswith("s3://"):
            bucket, object_key = parse_s3_uri(uri)
            if self._s3 is None:
                self._s3 = make_s3_client(self.storage)
            return S3Source(bucket, "", ["*"], self._s3), object_key
        path = Path(urlparse(uri).path if uri.startswith("file://") else uri)
        if not path.parent.is_dir():
            raise RecordingMissingError(f"{path} no longer exists")
        return LocalSource(path.parent, ["*"]), path.name


def _manifest_entry(line: str, number: int, path: Path) -> ManifestEntry:
    try:
        row = json.loads(line)
        mtime = datetime.fromisoformat(row["mtime"]) if row.get("mtime") else None
        info = ObjectInfo(
            key=str(row["key"]),
            uri=str(row["uri"]),
            size=int(row.get("size", 0)),
            etag=row.get("etag"),
            mtime=mtime,
        )
        entry = ManifestEntry(
            info=info,
            duration_s=_opt(row, "duration_s", float),
            channels=_opt(row, "channels", int),
            sample_rate=_opt(row, "sample_rate", int),
            codec=row.get("codec"),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise SourceError(f"{path}:{number}: bad manifest line ({exc})") from exc
    return replace(entry, call=manifest_call(row.get("metadata"), f"{path.name}:{number}"))


def _opt(row: dict[str, Any], key: str, kind: type) -> Any:
    value = row.get(key)
    return None if value is None else kind(value)
