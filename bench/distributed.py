"""Distributed throughput: ``ingest`` plus N CPU ``callscribe worker`` processes against the
bare engine on the same windows, measured in the same run.

    .venv/bin/python bench/distributed.py --calls 40 --minutes 3 --workers 2

* ``engine``: the windows of every call (cut exactly as workers cut them, untimed) are
  split among N processes, each running ``Engine.transcribe`` with 1 CPU thread — the same
  compute the workers get — and the slowest process's time is the baseline; also reported
  with each process's VAD time added (``engine_with_vad``: everything but the queue, the
  database and audio I/O);
* ``distributed``: N worker processes (model loaded, idle) wait on Redis; the clock runs
  from ``ingest`` (list, probe, plan, enqueue into PostgreSQL and Redis) until every job is
  done in PostgreSQL, exports written.

Prints audio hours per wall hour for both and the ratio distributed / engine. Uses a
scratch PostgreSQL database and Redis database 15 (flushed).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import (
    cluster_values,
    corpus_windows,
    make_corpus,
    scratch_database,
    spawn_worker,
    time_engine,
)
from sqlalchemy import func, select

from callscribe.broker import make_celery
from callscribe.models import Job, JobStatus
from callscribe.models.db import open_database
from callscribe.scheduler.enqueue import CeleryEnqueuer
from callscribe.scheduler.ingest import ingest
from callscribe.settings import Settings
from tests.support.model import build_whisper_model


def _engine_share(args: tuple[dict[str, Any], list[str], str]) -> tuple[float, float]:
    values, files, folder = args
    settings = Settings(**values)
    vad: list[float] = []
    windows = corpus_windows(settings, Path(folder), [Path(f) for f in files], vad)
    return time_engine(settings, windows), sum(vad)


def engine_baseline(values: dict[str, Any], folder: Path, workers: int) -> tuple[float, float]:
    """(model only, VAD + model): the slowest process's seconds for each."""
    files = sorted(str(p) for p in folder.iterdir())
    shares = [(values, files[i::workers], str(folder)) for i in range(workers)]
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        times = pool.map(_engine_share, shares)
    return max(m for m, _v in times), max(m + v for m, v in times)


def run_distributed(values: dict[str, Any], folder: Path, workers: int, log_dir: Path) -> float:
    settings = Settings(**values)
    procs = [spawn_worker(values, log_dir / f"w{i}.log") for i in range(workers)]
    try:
        _wait_ready(log_dir, workers)
        factory = open_database(settings)
        began = time.perf_counter()
        ingest(settings, str(folder), CeleryEnqueuer(make_celery(settings), settings.queue.name))
        while True:
            with factory.begin() as session:
                open_jobs = session.scalar(
                    select(func.count())
                    .select_from(Job)
                    .where(Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]))
                )
            if not open_jobs:
                return time.perf_counter() - began
            time.sleep(0.2)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(60)


def _wait_ready(log_dir: Path, workers: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready = sum(
            "ready" in (log_dir / f"w{i}.log").read_text(errors="replace") for i in range(workers)
        )
        if ready >= workers:
            return
        time.sleep(0.5)
    raise RuntimeError("workers did not start")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--shape", default="tiny")
    parser.add_argument("--tokens", type=int, default=100, help="tokens per 30-s window")
    parser.add_argument(
        "--pool",
        choices=["prefork", "threads"],
        default="prefork",
        help="the workers' Celery pool (threads: 2 jobs in flight each)",
    )
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--json", type=Path, default=Path("bench/results/distributed.json"))
    args = parser.parse_args(argv)
    with (
        scratch_database(args.admin_url) as url,
        tempfile.TemporaryDirectory(prefix="cs-dist-") as tmp,
    ):
        work = Path(tmp)
        audio_s = make_corpus(work / "calls", args.calls, args.minutes)
        model = build_whisper_model(work / "model", shape=args.shape, tokens_per_window=args.tokens)
        values = cluster_values(
            model, work, url, model={"cpu_threads": 1}, queue={"worker_pool": args.pool}
        )
        engine_s, with_vad_s = engine_baseline(values, work / "calls", args.workers)
        dist_s = run_distributed(values, work / "calls", args.workers, work)
    result = {
        "calls": args.calls,
        "audio_hours": round(audio_s / 3600, 2),
        "workers": args.workers,
        "pool": args.pool,
        "shape": args.shape,
        "tokens_per_window": args.tokens,
        "engine_s": round(engine_s, 1),
        "distributed_s": round(dist_s, 1),
        "engine_audio_h_per_h": round(audio_s / engine_s, 1),
        "distributed_audio_h_per_h": round(audio_s / dist_s, 1),
        "ratio_distributed_over_engine": round(engine_s / dist_s, 3),
        "target": 0.9,
        "engine_with_vad_s": round(with_vad_s, 1),
        "ratio_distributed_over_engine_with_vad": round(with_vad_s / dist_s, 3),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    for key, value in result.items():
        print(f"{key:30s} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
