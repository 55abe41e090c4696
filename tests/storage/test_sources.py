"""Listing and fetching from a local directory and from S3 over a real S3-protocol server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from callscribe.errors import RecordingMissingError, SourceError
from callscribe.settings import Settings
from callscribe.storage.sources import LocalSource, S3Source, open_source, safe_relative_path

INCLUDE = ["*.wav", "*.mp3"]


def test_local_listing_is_recursive_filtered_and_stable(tmp_path: Path) -> None:
    (tmp_path / "2024" / "jan").mkdir(parents=True)
    for name in ["b.wav", "a.MP3", "notes.txt", "2024/jan/c.wav", "2024/x y ü.wav"]:
        (tmp_path / name).write_bytes(b"x" * 10)
    keys = [o.key for o in LocalSource(tmp_path, INCLUDE).list()]
    assert keys == ["a.MP3", "b.wav", "2024/x y ü.wav", "2024/jan/c.wav"]


def test_local_fetch_missing_file(tmp_path: Path) -> None:
    source = LocalSource(tmp_path, INCLUDE)
    with pytest.raises(RecordingMissingError):
        source.fetch("gone.wav", tmp_path)


def test_open_source_rejects_unknown_schemes(tmp_path: Path) -> None:
    with pytest.raises(SourceError):
        open_source("ftp://host/x", Settings().storage)
    with pytest.raises(SourceError):
        open_source(str(tmp_path / "missing"), Settings().storage)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("../../etc/passwd", "etc/passwd"),
        ("a/../b.wav", "a/b.wav"),
        ("/abs/x.wav", "abs/x.wav"),
        ("..", "_"),
        ("dir\\..\\..\\y.wav", "dir/y.wav"),
        ("spaces and ü/ok.wav", "spaces and ü/ok.wav"),
    ],
)
def test_safe_relative_path(key: str, expected: str) -> None:
    assert safe_relative_path(key).as_posix() == expected


def test_s3_listing_paginates_and_filters(s3: Any, s3_settings: dict[str, Any]) -> None:
    bucket = s3.bucket_name
    for i in range(1003):
        s3.put_object(Bucket=bucket, Key=f"calls/2024/{i:04d}.wav", Body=b"RIFF")
    s3.put_object(Bucket=bucket, Key="calls/readme.txt", Body=b"hi")
    s3.put_object(Bucket=bucket, Key="other/x.wav", Body=b"RIFF")
    source = open_source(f"s3://{bucket}/calls", Settings(**s3_settings).storage)
    assert isinstance(source, S3Source)
    objects = list(source.list())
    assert len(objects) == 1003
    assert objects[0].key == "2024/0000.wav"
    assert objects[0].uri == f"s3://{bucket}/calls/2024/0000.wav"
    assert objects[0].etag and objects[0].size == 4 and objects[0].mtime is not None


def test_s3_fetch_and_missing_object(s3: Any, s3_settings: dict[str, Any], tmp_path: Path) -> None:
    bucket = s3.bucket_name
    s3.put_object(Bucket=bucket, Key="in/a b/ü.wav", Body=b"payload")
    source = open_source(f"s3://{bucket}/in/", Settings(**s3_settings).storage)
    [obj] = list(source.list())
    assert obj.key == "a b/ü.wav"
    assert source.fetch(obj.key, tmp_path).read_bytes() == b"payload"
    with pytest.raises(RecordingMissingError):
        source.fetch("nope.wav", tmp_path)


def test_s3_listing_of_missing_bucket_is_a_source_error(s3_settings: dict[str, Any]) -> None:
    source = open_source("s3://no-such-bucket-here/x", Settings(**s3_settings).storage)
    with pytest.raises(SourceError):
        list(source.list())


def test_a_local_file_is_read_by_its_exact_name(tmp_path: Path) -> None:
    """Issue 10, item 2: `sub\\a.wav` (a backslash in the name) is not `sub/a.wav`, and
    `x\\ny.wav` (a newline) is not `x_y.wav`: each key reads its own file."""
    from tests.support.audio import silence

    root = tmp_path / "calls"
    (root / "sub").mkdir(parents=True)
    names = {
        "sub/a.wav": 1.0,
        "sub\\a.wav": 2.0,
        "x\ny.wav": 3.0,
        "x_y.wav": 4.0,
        "trailing .wav ": 5.0,
    }
    for name, seconds in names.items():
        silence(root / name, seconds)
    source = LocalSource(root, ["*.wav", "*.wav "])
    keys = sorted(info.key for info in source.list())
    assert keys == sorted(names)
    for key, seconds in names.items():  # each file has its own length
        path = source.fetch(key, tmp_path)
        assert path.stat().st_size == 44 + round(seconds * 16000) * 2
        assert path.name == key.rsplit("/", 1)[-1]
    for bad in ("../calls/x_y.wav", "sub/../x_y.wav", "/etc/passwd", "sub//a.wav"):
        with pytest.raises(RecordingMissingError):
            source.fetch(bad, tmp_path)
