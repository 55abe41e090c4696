"""Worker memory over a long run: one ``callscribe worker`` (threads pool, cross-job batches,
the GPU layout, here on CPU) on PostgreSQL and Redis transcribes ``--jobs`` recordings; its
resident set size is read from ``/proc`` when 100 jobs are done and when all are. Target:
RSS after 1,000 jobs within 10 % of RSS after 100.

The recordings are hard links to a few distinct synthetic stereo calls (each link is its own
recording: registered, probed, planned and transcribed)::

    .venv/bin/python bench/memory.py --jobs 1000 --distinct 20 --seconds 20

Uses a scratch PostgreSQL database and Redis database 15 (flushed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import cluster_values, make_corpus, scratch_database, spawn_worker
from sqlalchemy import func, select

from callscribe.broker import make_celery
from callscribe.models import Job, JobStatus
from callscribe.models.db import open_database
from callscribe.scheduler.enqueue import CeleryEnqueuer
from callscribe.scheduler.ingest import ingest
from callscribe.settings import Settings
from tests.support.model import build_whisper_model


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def link_corpus(distinct: Path, folder: Path, jobs: int) -> None:
    files = sorted(distinct.iterdir())
    folder.mkdir()
    for i in range(jobs):
        os.link(files[i % len(files)], folder / f"rec_{i:05d}.wav")


def done_jobs(factory: Any) -> int:
    with factory.begin() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Job)
                .where(Job.status.in_([JobStatus.DONE, JobStatus.FAILED]))
            )
            or 0
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--distinct", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--shape", default="test")
    parser.add_argument("--in-flight", type=int, default=4)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--json", type=Path, default=Path("bench/results/memory.json"))
    args = parser.parse_args(argv)
    with (
        scratch_database(args.admin_url) as url,
        tempfile.TemporaryDirectory(prefix="cs-mem-") as tmp,
    ):
        work = Path(tmp)
        make_corpus(work / "distinct", args.distinct, args.seconds / 60)
        link_corpus(work / "distinct", work / "calls", args.jobs)
        model = build_whisper_model(work / "model", shape=args.shape, tokens_per_window=20)
        values = cluster_values(
            model,
            work,
            url,
            queue={"worker_pool": "threads"},
            execution={"jobs_in_flight": args.in_flight, "batch_size": 8},
        )
        settings = Settings(**values)
        proc = spawn_worker(values, work / "worker.log")
        try:
            factory = open_database(settings)
            ingest(
                settings,
                str(work / "calls"),
                CeleryEnqueuer(make_celery(settings), settings.queue.name),
            )
            marks: dict[int, float] = {}
            began = time.perf_counter()
            while len(marks) < 2:
                done = done_jobs(factory)
                for mark in (100, args.jobs):
                    if done >= mark and mark not in marks:
                        marks[mark] = rss_mb(proc.pid)
                        print(f"{done:6d} jobs done: worker RSS {marks[mark]:.1f} MB", flush=True)
                if proc.poll() is not None:
                    raise RuntimeError((work / "worker.log").read_text()[-3000:])
                time.sleep(0.2)
            wall = time.perf_counter() - began
        finally:
            proc.terminate()
            proc.wait(60)
    growth = marks[args.jobs] / marks[100] - 1
    result = {
        "jobs": args.jobs,
        "distinct_calls": args.distinct,
        "seconds": args.seconds,
        "shape": args.shape,
        "in_flight": args.in_flight,
        "wall_s": round(wall, 1),
        "rss_mb_after_100": round(marks[100], 1),
        f"rss_mb_after_{args.jobs}": round(marks[args.jobs], 1),
        "growth": round(growth, 4),
        "target": "< 0.10",
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    for key, value in result.items():
        print(f"{key:24s} {value}")
    return 0 if growth < 0.10 else 1


if __name__ == "__main__":
    sys.exit(main())
