"""An S3 prefix end to end over moto's S3 server on loopback: listing, download, exports to
another prefix, odd keys, and an object deleted between listing and transcription."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from callscribe.models import RecordingStatus
from callscribe.run import (
    Progress,
    discover,
    execute,
    queued_jobs,
    transcribe_source,
)
from callscribe.settings import Settings
from callscribe.storage.sources import open_source
from callscribe.workers.runtime.context import open_context
from tests.support.audio import Turn, corrupt_text_as_wav, make_call
from tests.support.dbcheck import recordings_by_key


def _upload(s3: Any, folder: Path, keys: dict[str, Path]) -> None:
    for key, path in keys.items():
        s3.upload_file(str(path), s3.bucket_name, key)


def test_s3_prefix_to_s3_exports(
    s3: Any,
    s3_settings: dict[str, Any],
    db_url: str,
    make_settings: Callable[..., Settings],
    tmp_path: Path,
) -> None:
    a = make_call(tmp_path / "a.wav", [Turn(0, "Thank you for calling."), Turn(1, "Hi.")])
    b = make_call(
        tmp_path / "b.mp3",
        [Turn(0, "Please hold the line.")],
        channels=1,
        fmt="mp3",
        sample_rate=16000,
    )
    bad = corrupt_text_as_wav(tmp_path / "bad.wav")
    _upload(
        s3,
        tmp_path,
        {
            "in/2024/a.wav": a.path,
            "in/odd/../x ü y.mp3": b.path,
            "in/bad.wav": bad,
            "elsewhere/c.wav": a.path,
        },
    )
    bucket = s3.bucket_name
    settings = make_settings(
        db_url, storage={**s3_settings["storage"], "output": f"s3://{bucket}/out"}
    )
    summary = transcribe_source(settings, f"s3://{bucket}/in")
    assert summary.done == 2
    assert [(f.key, f.reason) for f in summary.failed] == [
        ("bad.wav", "unreadable audio: Invalid data found when processing input")
    ]
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="out/")["Contents"]
    keys = sorted(o["Key"] for o in listed)
    assert "out/2024/a.wav.dialogue.txt" in keys
    # ".." dropped (it stays under out/), and a hash suffix: the key had to be changed
    assert any(k.startswith("out/odd/x ü y.mp3~") and k.endswith(".json") for k in keys), keys
    assert all(k.startswith("out/") for k in keys) and len(keys) == 12  # 2 × 6 formats
    body = s3.get_object(Bucket=bucket, Key="out/2024/a.wav.dialogue.txt")["Body"].read()
    assert body.decode().startswith("Agent: ")


def test_s3_object_deleted_after_listing_fails_alone(
    s3: Any,
    s3_settings: dict[str, Any],
    pg_url: str,
    make_settings: Callable[..., Settings],
    tmp_path: Path,
) -> None:
    call = make_call(tmp_path / "a.wav", [Turn(0, "Hello.")], channels=1)
    _upload(s3, tmp_path, {"calls/keep.wav": call.path, "calls/gone.wav": call.path})
    settings = make_settings(pg_url, **s3_settings)
    ctx = open_context(settings, migrate=True)
    factory = ctx.factory
    registration = discover(
        settings, factory, open_source(f"s3://{s3.bucket_name}/calls", settings.storage)
    ).registration
    s3.delete_object(Bucket=s3.bucket_name, Key="calls/gone.wav")
    execute(
        ctx,
        queued_jobs(factory, registration.source_id),
        Progress(),
        in_flight=1,
    )
    recs = recordings_by_key(pg_url)
    assert recs["keep.wav"].status == RecordingStatus.DONE
    assert recs["gone.wav"].status == RecordingStatus.FAILED
    assert recs["gone.wav"].error == (f"s3://{s3.bucket_name}/calls/gone.wav no longer exists")


def test_a_prefix_without_slash_is_a_folder(
    s3: Any, s3_settings: dict[str, Any], make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    """Issue 10, item 4: `s3://bucket/calls` is the folder `calls/`: `calls-old/…` and
    `calls2/…` are not listed, and `calls/2/a.wav` and `calls2/a.wav`, or `calls//c.wav`
    and `calls/c.wav`, cannot collide into one key (that aborted the ingest)."""
    a = make_call(tmp_path / "a.wav", [Turn(0, "Thank you for calling.")], channels=1)
    keys = {
        "calls/2/a.wav": a.path,
        "calls2/a.wav": a.path,
        "calls-old/x.wav": a.path,
        "calls//c.wav": a.path,
        "calls/c.wav": a.path,
    }
    _upload(s3, tmp_path, keys)
    settings = make_settings(
        f"sqlite:///{tmp_path / 'cs.db'}",
        storage={**s3_settings["storage"], "output": str(tmp_path / "out")},
    )
    summary = transcribe_source(settings, f"s3://{s3.bucket_name}/calls")
    assert summary.done == 3 and not summary.failed, summary.failed
    recs = recordings_by_key(settings.database_url)
    assert sorted(recs) == ["/c.wav", "2/a.wav", "c.wav"]
    assert {r.uri for r in recs.values()} == {
        f"s3://{s3.bucket_name}/calls/2/a.wav",
        f"s3://{s3.bucket_name}/calls//c.wav",
        f"s3://{s3.bucket_name}/calls/c.wav",
    }
