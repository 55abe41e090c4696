"""``callscribe report --by queue`` at archive scale: a scratch PostgreSQL database with N
recordings across ~50 queues and ~500 agents, their jobs, the cost ledger
(``job_cost_hours``) and the hourly rollups, all inserted with COPY; then the report
function the CLI uses, timed a few times by queue, by agent, filtered to one queue, and
``--by source`` (the rollups) as the baseline of the same run.

    .venv/bin/python bench/report_by_queue.py --recordings 100000 \\
        --admin-url postgresql://postgres@127.0.0.1:5432/test

Creates (and drops) a scratch database on that server. Target: ``--by queue`` over
100,000 recordings in under 2 s.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg2
from common import scratch_database, write_results

from callscribe.models.db import make_engine, open_database, session_factory
from callscribe.report import Report, build_report
from callscribe.settings import Settings

QUEUES, AGENTS = 50, 500
PRICE = 2.5  # USD per device hour
START = datetime(2026, 10, 1, tzinfo=UTC)


def _copy(cur: Any, table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join("\\N" if v is None else str(v) for v in row) + "\n")
    buffer.seek(0)
    cur.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", buffer)


def fill(url: str, count: int, seed: int = 0) -> dict[str, int]:
    """``count`` done recordings (3 % without metadata), one job per 600 s of audio, one
    ledger row per job (one in ten split over two hours), and the rollups summed from the
    ledger; returns the row counts."""
    rng = random.Random(seed)
    weights = [1 / (q + 1) for q in range(QUEUES)]  # a few big queues, many small ones
    recordings, jobs, ledger = [], [], []
    job_id = 0
    for rid in range(1, count + 1):
        queue = rng.choices(range(QUEUES), weights)[0]
        agent = queue * (AGENTS // QUEUES) + rng.randrange(AGENTS // QUEUES)
        bare = rng.random() < 0.03
        duration = round(rng.uniform(60, 900) if rng.random() < 0.97 else rng.uniform(900, 3600), 3)
        finished = START + timedelta(seconds=rng.uniform(0, 30 * 86400))
        key = f"2026/{rid // 10000:02d}/call-{rid:07d}.wav"
        recordings.append(
            (
                rid,
                1,
                key,
                f"s3://archive/{key}",
                1,
                "done",
                "{}",
                finished,
                finished,
                finished,
                duration,
                2,
                8000,
                "pcm_mulaw",
                1,
                None if bare else f"CX-{rid}",
                None if bare else f"agent-{agent:03d}",
                None if bare else f"queue-{queue:02d}",
                None if bare else rng.choice(("inbound", "outbound")),
                None if bare else finished - timedelta(seconds=duration + 600),
                None if bare else json.dumps({"tier": rng.choice(("gold", "silver", "bronze"))}),
            )
        )
        spans = max(1, -(-int(duration) // 600))
        for seq in range(spans):
            job_id += 1
            start, end = seq * 600.0, min(duration, (seq + 1) * 600.0)
            audio = end - start
            device = audio / 40
            jobs.append(
                (
                    job_id,
                    rid,
                    seq,
                    1,
                    start,
                    end,
                    seq == spans - 1,
                    "done",
                    1,
                    finished,
                    finished,
                    audio,
                    "cpu",
                    "bench",
                    "small",
                    device * PRICE / 3600,
                )
            )
            hour = finished.replace(minute=0, second=0, microsecond=0)
            shares = (
                [(hour, 1.0)]
                if rng.random() < 0.9
                else [(hour - timedelta(hours=1), 0.4), (hour, 0.6)]
            )
            for index, (bucket, share) in enumerate(shares):
                ledger.append(
                    (
                        job_id,
                        bucket,
                        1,
                        "small",
                        "cpu",
                        "bench",
                        "bench:1:1",
                        audio * share,
                        audio * share * 0.6,
                        device * share,
                        device * share * PRICE / 3600,
                        1 if index == len(shares) - 1 else 0,
                    )
                )
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO sources (id, uri, kind, created_at) "
            "VALUES (1, 's3://archive/', 's3', now())"
        )
        _copy(
            cur,
            "recordings",
            [
                "id",
                "source_id",
                "key",
                "uri",
                "version",
                "status",
                "metadata",
                "discovered_at",
                "updated_at",
                "finished_at",
                "duration_s",
                "channels",
                "sample_rate",
                "codec",
                "transcript_version",
                "call_id",
                "agent",
                "queue",
                "direction",
                "started_at",
                "call_meta",
            ],
            recordings,
        )
        _copy(
            cur,
            "jobs",
            [
                "id",
                "recording_id",
                "seq",
                "version",
                "start_s",
                "end_s",
                "is_last",
                "status",
                "attempts",
                "queued_at",
                "finished_at",
                "audio_seconds",
                "device_kind",
                "device_name",
                "model",
                "cost_usd",
            ],
            jobs,
        )
        _copy(
            cur,
            "job_cost_hours",
            [
                "job_id",
                "hour",
                "source_id",
                "model",
                "device_kind",
                "device_name",
                "worker",
                "audio_seconds",
                "speech_seconds",
                "device_seconds",
                "cost_usd",
                "job_share",
            ],
            ledger,
        )
        cur.execute(
            "INSERT INTO cost_hourly (hour, source_id, model, device_kind, device_name, "
            "audio_hours, speech_hours, device_hours, cost_usd, cost_per_audio_hour, "
            "realtime_factor, jobs_done, recordings_done, recordings_failed) "
            "SELECT hour, source_id, model, device_kind, device_name, "
            "sum(audio_seconds) / 3600, sum(speech_seconds) / 3600, "
            "sum(device_seconds) / 3600, sum(cost_usd), sum(cost_usd) / "
            "nullif(sum(audio_seconds) / 3600, 0), sum(audio_seconds) / "
            "nullif(sum(device_seconds), 0), sum(job_share), 0, 0 FROM job_cost_hours "
            "GROUP BY hour, source_id, model, device_kind, device_name"
        )
        cur.execute(
            "UPDATE cost_hourly c SET recordings_done = d.n FROM (SELECT date_trunc('hour', "
            "finished_at) AS hour, count(*) AS n FROM recordings GROUP BY 1) d "
            "WHERE c.hour = d.hour"
        )
        for table in ("sources", "recordings", "jobs", "cost_hourly"):
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    conn.close()
    return {"recordings": len(recordings), "jobs": len(jobs), "ledger_rows": len(ledger)}


def timed(run: Callable[[], Report], repeats: int) -> tuple[list[float], Report]:
    times, report = [], None
    for _ in range(repeats):
        began = time.perf_counter()
        report = run()
        times.append(time.perf_counter() - began)
    assert report is not None
    return times, report


def _cli(url: str) -> float:
    """Seconds for the whole command, from process start (imports included) to exit."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLSCRIBE_")}
    env.update(COLUMNS="200")
    began = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "callscribe", "report", "--by", "queue", "--database-url", url],
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - began


def by_queue_rows(results: dict[str, dict[str, Any]]) -> int:
    return int(results["--by queue"]["rows"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recordings", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    with scratch_database(args.admin_url) as url:
        settings = Settings(database_url=url)
        open_database(settings).kw["bind"].dispose()  # migrate
        began = time.perf_counter()
        counts = fill(url, args.recordings)
        fill_s = time.perf_counter() - began
        engine = make_engine(url)
        factory = session_factory(engine)
        ref = settings.cost.reference_usd_per_audio_hour
        cases: dict[str, Callable[[], Report]] = {
            "--by source (rollups, baseline)": lambda: build_report(factory, "source", None, ref),
            "--by queue": lambda: build_report(factory, "queue", None, ref),
            "--by agent": lambda: build_report(factory, "agent", None, ref),
            "--by day --queue queue-00": lambda: build_report(
                factory, "day", None, ref, queue="queue-00"
            ),
            "--by queue --since (last 7 days)": lambda: build_report(
                factory, "queue", START + timedelta(days=23), ref
            ),
        }
        build_report(factory, "queue", None, ref)  # warm the connection pool and caches
        results: dict[str, dict[str, Any]] = {}
        for name, run in cases.items():
            times, report = timed(run, args.repeats)
            results[name] = {
                "p50_s": round(statistics.median(times), 3),
                "max_s": round(max(times), 3),
                "rows": len(report.rows),
                "audio_hours": round(report.total.audio_hours, 1),
                "recordings_done": report.total.recordings_done,
            }
        engine.dispose()
        cli = [_cli(url) for _ in range(3)]
        results["callscribe report --by queue (CLI process)"] = {
            "p50_s": round(statistics.median(cli), 3),
            "max_s": round(max(cli), 3),
            "rows": by_queue_rows(results),
        }
    by_queue, baseline = results["--by queue"], results["--by source (rollups, baseline)"]
    assert abs(by_queue["audio_hours"] - baseline["audio_hours"]) < 1
    assert by_queue["recordings_done"] == counts["recordings"]
    lines = [
        f"{counts['recordings']:,} recordings, {counts['jobs']:,} jobs, "
        f"{counts['ledger_rows']:,} ledger rows, {QUEUES} queues, {AGENTS} agents; "
        f"filled in {fill_s:.1f} s; {args.repeats} runs each "
        f"({platform.machine()}, {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.1f}, Python {platform.python_version()})",
        "",
        "| report | p50 s | max s | rows |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| `{name}` | {r['p50_s']:.3f} | {r['max_s']:.3f} | {r['rows']} |"
        for name, r in results.items()
    ]
    record = {
        "counts": counts,
        "fill_s": round(fill_s, 1),
        "repeats": args.repeats,
        "results": results,
        "target_s": 2.0,
    }
    write_results(args.out, "report_by_queue", record, "\n".join(lines) + "\n")
    return 0 if by_queue["max_s"] < 2.0 else 1


if __name__ == "__main__":
    sys.exit(main())
