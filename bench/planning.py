"""Planning at archive scale: register and plan a manifest of N recordings (metadata only,
no audio) into PostgreSQL, and report the time per phase.

    .venv/bin/python bench/planning.py --recordings 100000 \\
        --admin-url postgresql://postgres@127.0.0.1:5432/test

Creates (and drops) a scratch database on that server. Target: 100,000 recordings in at
most 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import scratch_database
from sqlalchemy import func, select

from callscribe.models import Job, Recording
from callscribe.models.db import open_database
from callscribe.scheduler.ingest import discover
from callscribe.settings import Settings
from callscribe.storage.sources import open_source


def write_manifest(path: Path, count: int, seed: int = 0) -> float:
    """A JSON-lines manifest of ``count`` stereo telephony recordings; returns audio hours."""
    rng = random.Random(seed)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    total = 0.0
    with path.open("w") as out:
        for i in range(count):
            duration = round(
                rng.uniform(60, 900) if rng.random() < 0.97 else rng.uniform(900, 5400), 3
            )
            total += duration
            key = f"{2024 + i // 50000}/{(i // 1000) % 12 + 1:02d}/call-{i:07d}.wav"
            out.write(
                json.dumps(
                    {
                        "key": key,
                        "uri": f"s3://archive/{key}",
                        "size": int(duration * 16000),
                        "etag": uuid.UUID(int=rng.getrandbits(128)).hex,
                        "mtime": (start + timedelta(minutes=i)).isoformat(),
                        "duration_s": duration,
                        "channels": 2,
                        "sample_rate": 8000,
                        "codec": "pcm_mulaw",
                    }
                )
                + "\n"
            )
    return total / 3600


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recordings", type=int, default=100_000)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args(argv)
    with scratch_database(args.admin_url) as url, tempfile.TemporaryDirectory() as tmp:
        manifest = Path(tmp) / "archive.jsonl"
        hours = write_manifest(manifest, args.recordings)
        settings = Settings(database_url=url)
        factory = open_database(settings)
        began = time.perf_counter()
        found = discover(settings, factory, open_source(str(manifest), settings.storage), "ingest")
        first = time.perf_counter() - began
        began = time.perf_counter()
        again = discover(settings, factory, open_source(str(manifest), settings.storage), "ingest")
        second = time.perf_counter() - began
        with factory.begin() as session:
            recordings = session.scalar(select(func.count()).select_from(Recording))
            jobs = session.scalar(select(func.count()).select_from(Job))
        factory.kw["bind"].dispose()
    result = {
        "recordings": recordings,
        "jobs": jobs,
        "audio_hours": round(hours, 1),
        "register_and_plan_s": round(first, 2),
        "recordings_per_s": round(args.recordings / first),
        "rerun_unchanged_s": round(second, 2),
        "rerun_new": again.registration.new,
        "target_s": 60,
    }
    for key, value in result.items():
        print(f"{key:22s} {value}")
    assert found.registration.new == args.recordings
    return 0


if __name__ == "__main__":
    sys.exit(main())
