"""The hostile corpus (issue 10, "Done when"): lying headers both ways, truncated files,
names with a backslash, a newline, markup and 236 characters, names that collide once made
safe, broken files, and an S3 prefix without a slash. Through ``callscribe transcribe``
(the CLI, as a user runs it) and through ``ingest`` + 2 real Celery workers: every good
file ends ``done`` with its own exports, every bad one ``failed`` with a one-line reason,
audio hours in the database within 1 % of the audio that exists, no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from callscribe.models import CostHourly, Recording, RecordingStatus
from callscribe.models.db import make_engine, session_factory
from callscribe.settings import Settings, environment_for
from tests.support.cluster import Cluster, worker_env
from tests.support.hostile import HostileItem, make_hostile_corpus

SettingsFactory = Callable[..., Settings]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[HostileItem]]:
    folder = tmp_path_factory.mktemp("hostile") / "calls"
    return folder, make_hostile_corpus(folder)


def _outcome(url: str) -> tuple[dict[tuple[str, str], Any], float, float]:
    """Per (``s3`` or ``folder``, key): (status, error, export paths); audio seconds of done
    recordings; audio hours in the cost rollups (as seconds)."""
    engine = make_engine(url)
    factory = session_factory(engine)
    with factory.begin() as s:
        recs = {
            ("s3" if r.uri.startswith("s3://") else "folder", r.key): (
                r.status,
                r.error,
                (r.meta or {}).get("exports", []),
            )
            for r in s.scalars(select(Recording))
        }
        done_s = (
            s.scalar(
                select(func.sum(Recording.duration_s)).where(
                    Recording.status == RecordingStatus.DONE
                )
            )
            or 0.0
        )
        rolled = s.scalar(select(func.sum(CostHourly.audio_hours))) or 0.0
    engine.dispose()
    return recs, float(done_s), float(rolled) * 3600


def _check(
    items: list[tuple[str, HostileItem]], url: str, exported: Callable[[str], bytes]
) -> None:
    recs, done_s, rolled_s = _outcome(url)
    assert sorted(recs) == sorted((where, i.key) for where, i in items)
    paths: list[str] = []
    for where, item in items:
        status, error, exports = recs[where, item.key]
        if item.good:
            assert status == RecordingStatus.DONE, (item.key, item.what, error)
            assert len(exports) == 6, (item.key, exports)
            paths += exports
            json_export = next(
                p for p in exports if p.endswith(".json") and not p.endswith(".words.json")
            )
            assert json.loads(exported(json_export))["key"] == item.key
        else:
            assert status == RecordingStatus.FAILED, (item.key, item.what)
            assert error and "\n" not in error and "Traceback" not in error, error
    assert len(paths) == len(set(paths))  # no two recordings share an export
    truth = sum(i.audio_s for _where, i in items if i.good)
    assert done_s == pytest.approx(truth, rel=0.01)
    assert rolled_s == pytest.approx(truth, rel=0.01)


def _exports(url: str) -> list[str]:
    return [path for _status, _error, paths in _outcome(url)[0].values() for path in paths]


def _env(settings: Settings) -> dict[str, str]:
    values = {
        "database_url": settings.database_url,
        "model": {"name": settings.model.name, "device": "cpu", "compute_type": "int8"},
        "decode": {"beam_size": "1", "tail_s": "0"},
        "storage": {"output": settings.storage.output},
        "planning": {"job_max_s": "31"},
    }
    return worker_env(environment_for(values))


def test_hostile_corpus_through_transcribe(
    hostile: tuple[Path, list[HostileItem]], db_url: str, make_settings: SettingsFactory
) -> None:
    folder, items = hostile
    settings = make_settings(db_url)
    done = subprocess.run(
        [sys.executable, "-m", "callscribe", "transcribe", str(folder)],
        env=_env(settings),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output  # some recordings failed, and it says so
    assert "Traceback" not in output, output
    out = Path(settings.storage.output).resolve()
    assert all(Path(p).resolve().is_relative_to(out) for p in _exports(db_url))
    _check([("folder", i) for i in items], db_url, lambda path: Path(path).read_bytes())
    for item in items:  # every failure is listed by its key, markup and all
        if not item.good:
            assert item.key in output, (item.key, output)


@pytest.fixture
def s3_cluster(
    pg_url: str, redis_url: str, model_dir: Path, tmp_path: Path, s3_settings: dict[str, Any]
) -> Iterator[Cluster]:
    c = Cluster(pg_url, redis_url, model_dir, tmp_path)
    c.set(**s3_settings, planning={"job_max_s": 31})
    yield c
    c.close()


def test_hostile_corpus_through_ingest_and_two_workers(
    hostile: tuple[Path, list[HostileItem]], s3: Any, s3_cluster: Cluster, tmp_path: Path
) -> None:
    """The corpus from a folder (moto's S3 server refuses keys with a newline, which real
    S3 accepts), and an S3 prefix without a slash beside folders that share its start."""
    folder, items = hostile
    bucket = s3.bucket_name
    under = {
        "calls/plain.wav": "plain.wav",
        "calls/huge_header.flac": "huge_header.flac",
        "calls/text.wav": "text.wav",
    }
    for key, name in under.items():
        s3.upload_file(str(folder / name), bucket, key)
    for key in ("calls-old/a.wav", "calls2/plain.wav"):  # beside the prefix, not under it
        s3.upload_file(str(folder / "plain.wav"), bucket, key)
    s3_cluster.set(storage={"output": str(tmp_path / "out")})
    assert s3_cluster.ingest(folder) > 0
    assert s3_cluster.ingest(f"s3://{bucket}/calls") > 0
    workers = [s3_cluster.worker("a"), s3_cluster.worker("b")]
    s3_cluster.wait_settled(timeout=600)
    from_s3 = [
        HostileItem(k.split("/", 1)[1], i.what, i.good, i.audio_s)
        for i in items
        for k, name in under.items()
        if i.key == name
    ]
    _check(
        [*(("folder", i) for i in items), *(("s3", i) for i in from_s3)],
        s3_cluster.settings.database_url,
        lambda path: Path(path).read_bytes(),
    )
    for worker in workers:
        assert worker.proc.poll() is None, worker.log()[-3000:]  # no worker crashed
        assert "Traceback" not in worker.log(), worker.log()[-3000:]
