"""The hostile corpus (``support.hostile``) through the embedded run and through
``ingest`` + 2 ``callscribe worker`` processes, with the real tiny.en model: what became of
each file, and the audio hours stored against the audio that decodes (the baseline,
measured by ffmpeg in the same run).

    .venv/bin/python bench/hostile.py [--model PATH] [--out bench/results]

Uses a scratch SQLite file, a scratch PostgreSQL database and Redis database 15 (flushed).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import (
    cluster_values,
    scratch_database,
    spawn_worker,
    write_results,
)
from sqlalchemy import func, select

from callscribe.broker import make_celery
from callscribe.demo.realmodels import real_model_dir
from callscribe.models import CostHourly, Recording, RecordingStatus
from callscribe.models.db import make_engine, session_factory
from callscribe.run import transcribe_source
from callscribe.scheduler.enqueue import CeleryEnqueuer
from callscribe.scheduler.ingest import ingest
from callscribe.settings import Settings
from tests.support.hostile import HostileItem, make_hostile_corpus


def outcome(url: str, items: list[HostileItem]) -> dict[str, Any]:
    """What the database says: done/failed against expectations, audio seconds stored in
    recordings and in the cost rollups."""
    engine = make_engine(url)
    with session_factory(engine).begin() as s:
        recs = {r.key: (r.status, r.error or "") for r in s.scalars(select(Recording))}
        stored = (
            s.scalar(
                select(func.sum(Recording.duration_s)).where(
                    Recording.status == RecordingStatus.DONE
                )
            )
            or 0.0
        )
        rolled = (s.scalar(select(func.sum(CostHourly.audio_hours))) or 0.0) * 3600
    engine.dispose()
    wrong = [
        i.key for i in items if (recs.get(i.key, (None, ""))[0] == RecordingStatus.DONE) != i.good
    ]
    truth = sum(i.audio_s for i in items if i.good)
    return {
        "files": len(items),
        "done": sum(s == RecordingStatus.DONE for s, _ in recs.values()),
        "failed": sum(s == RecordingStatus.FAILED for s, _ in recs.values()),
        "unexpected": wrong,
        "audio_truth_s": round(truth, 2),
        "audio_stored_s": round(float(stored), 2),
        "audio_rolled_up_s": round(rolled, 2),
        "stored_error_pct": round(100 * (stored - truth) / truth, 3),
        "reasons": sorted({e for s, e in recs.values() if s == RecordingStatus.FAILED}),
    }


def embedded(model: Path, folder: Path, work: Path, items: list[HostileItem]) -> dict[str, Any]:
    url = f"sqlite:///{work / 'embedded.db'}"
    settings = Settings(
        database_url=url,
        model={"name": str(model), "device": "cpu"},
        storage={"output": str(work / "out-embedded")},
        decode={"language": "en"},
    )
    began = time.perf_counter()
    transcribe_source(settings, str(folder))
    return {**outcome(url, items), "wall_s": round(time.perf_counter() - began, 1)}


def distributed(model: Path, folder: Path, work: Path, items: list[HostileItem]) -> dict[str, Any]:
    with scratch_database("postgresql://postgres@127.0.0.1:5432/test") as url:
        values = cluster_values(
            model,
            work,
            url,
            decode={"beam_size": 5},
            storage={"output": str(work / "out-distributed")},
        )
        settings = Settings(**values)
        procs = [spawn_worker(values, work / f"worker{i}.log") for i in range(2)]
        try:
            began = time.perf_counter()
            app = make_celery(settings)
            ingest(settings, str(folder), CeleryEnqueuer(app, settings.queue.name))
            _wait(url, len(items), procs)
            wall = time.perf_counter() - began
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(30)
        logs = "".join((work / f"worker{i}.log").read_text(errors="replace") for i in range(2))
        return {
            **outcome(url, items),
            "wall_s": round(wall, 1),
            "tracebacks_in_worker_logs": logs.count("Traceback"),
            "workers_alive_at_end": sum(p.returncode in (0, -15) for p in procs),
        }


def _wait(url: str, files: int, procs: list[Any], timeout: float = 1800) -> None:
    engine = make_engine(url)
    factory = session_factory(engine)
    deadline = time.monotonic() + timeout
    settled = (RecordingStatus.DONE, RecordingStatus.FAILED)
    while time.monotonic() < deadline:
        with factory.begin() as s:
            finished = s.scalar(
                select(func.count()).select_from(Recording).where(Recording.status.in_(settled))
            )
        if finished == files:
            engine.dispose()
            return
        if any(p.poll() is not None for p in procs):
            raise SystemExit("a worker died")
        time.sleep(0.5)
    raise SystemExit("timed out")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="default: real tiny.en")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args(argv)
    model = args.model or real_model_dir("tiny.en")
    with tempfile.TemporaryDirectory(prefix="callscribe-hostile-") as tmp:
        work = Path(tmp)
        items = make_hostile_corpus(work / "calls")
        record: dict[str, Any] = {
            "model": str(model),
            "embedded": embedded(model, work / "calls", work, items),
            "distributed_2_workers": distributed(model, work / "calls", work, items),
        }
    rows = [
        "| run | files | done | failed | unexpected | audio (ffmpeg) | stored | rolled up "
        "| error | wall |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in ("embedded", "distributed_2_workers"):
        r = record[name]
        rows.append(
            f"| {name} | {r['files']} | {r['done']} | {r['failed']} | "
            f"{len(r['unexpected'])} | {r['audio_truth_s']} s | {r['audio_stored_s']} s "
            f"| {r['audio_rolled_up_s']} s | {r['stored_error_pct']} % | {r['wall_s']} s |"
        )
    write_results(args.out, "hostile", record, "\n".join(rows))
    ok = all(not record[n]["unexpected"] for n in ("embedded", "distributed_2_workers"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
