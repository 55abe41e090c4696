"""Per-job metering and the hourly rollups: totals equal the sum of job costs, across hour
boundaries, re-runs, price changes and concurrent writers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from callscribe.models import (
    CostHourly,
    Job,
    JobStatus,
    Recording,
    RecordingStatus,
    Source,
    SourceKind,
)
from callscribe.models.db import open_database
from callscribe.models.metering import Device, Usage, hour_shares, meter_job
from callscribe.run import transcribe_source
from callscribe.settings import Settings
from callscribe.workers.transcription.engine import batch_size_for
from tests.support.audio import Turn, make_call

GPU = Device("cuda", "NVIDIA H100 80GB HBM3", "gpu-host")
CPU = Device("cpu", "AMD EPYC", "cpu-host")
T0 = datetime(2026, 11, 20, 9, 45, tzinfo=UTC)


def test_hour_shares_split_pro_rata() -> None:
    shares = hour_shares(T0, T0 + timedelta(minutes=30))
    assert shares == [(T0.replace(minute=0), 0.5), (T0.replace(hour=10, minute=0), 0.5)]
    assert hour_shares(T0, T0) == [(T0.replace(minute=0), 1.0)]
    three = hour_shares(T0, T0 + timedelta(hours=2))
    assert [round(s, 4) for _, s in three] == [0.125, 0.5, 0.375]


def _jobs(url: str, count: int) -> tuple[object, int, list[int]]:
    factory = open_database(Settings(database_url=url))
    with factory.begin() as s:
        src = Source(uri="s3://b/p", kind=SourceKind.S3)
        s.add(src)
        s.flush()
        rec = Recording(
            source_id=src.id,
            key="k",
            uri="s3://b/p/k",
            status=RecordingStatus.RUNNING,
            duration_s=600.0 * count,
        )
        s.add(rec)
        s.flush()
        ids = [
            s.execute(
                insert(Job)
                .values(
                    recording_id=rec.id,
                    seq=i,
                    start_s=600.0 * i,
                    end_s=600.0 * (i + 1),
                    status=JobStatus.DONE,
                )
                .returning(Job.id)
            ).scalar_one()
            for i in range(count)
        ]
        return factory, src.id, ids


def _totals(factory: object) -> tuple[float, float, float, float]:
    with factory.begin() as s:  # type: ignore[attr-defined]
        row = s.execute(
            select(
                func.sum(CostHourly.cost_usd),
                func.sum(CostHourly.audio_hours),
                func.sum(CostHourly.device_hours),
                func.sum(CostHourly.jobs_done),
            )
        ).one()
    return tuple(float(v or 0.0) for v in row)  # type: ignore[return-value]


def _usage(
    job_id: int,
    source_id: int,
    device_s: float,
    price: float,
    end: datetime,
    device: Device = GPU,
    audio_s: float = 600.0,
) -> Usage:
    return Usage(
        job_id=job_id,
        source_id=source_id,
        model="large-v3",
        device=device,
        worker="w1",
        audio_s=audio_s,
        speech_s=audio_s * 0.6,
        device_s=device_s,
        finished_at=end,
        price=price,
    )


def test_rollups_equal_job_costs_across_boundary_rerun_and_price_change(db_url: str) -> None:
    factory, source_id, ids = _jobs(db_url, 3)
    usages = {
        ids[0]: _usage(ids[0], source_id, 1800.0, 2.0, T0 + timedelta(minutes=30)),
        ids[1]: _usage(ids[1], source_id, 60.0, 2.0, T0),
    }
    for usage in usages.values():
        with factory.begin() as s:
            meter_job(s, usage)
    with factory.begin() as s:
        rows = {
            r.hour.replace(tzinfo=UTC) if r.hour.tzinfo is None else r.hour: r
            for r in s.scalars(select(CostHourly))
        }
    nine, ten = T0.replace(minute=0), T0.replace(hour=10, minute=0)
    assert rows[nine].device_hours == pytest.approx(0.25 + 60 / 3600)
    assert rows[ten].device_hours == pytest.approx(0.25)
    assert rows[ten].cost_usd == pytest.approx(0.5)
    assert rows[nine].cost_per_audio_hour == pytest.approx(
        rows[nine].cost_usd / rows[nine].audio_hours
    )
    # re-run of job 0 replaces its contribution; job 2 runs after a price change
    usages[ids[0]] = _usage(ids[0], source_id, 900.0, 2.0, T0 + timedelta(hours=1))
    usages[ids[2]] = _usage(ids[2], source_id, 600.0, 3.5, T0 + timedelta(hours=2), CPU)
    for job_id in (ids[0], ids[2]):
        with factory.begin() as s:
            meter_job(s, usages[job_id])
    cost, audio, device, jobs = _totals(factory)
    assert cost == pytest.approx(sum(u.cost for u in usages.values()))
    assert audio == pytest.approx(sum(u.audio_s for u in usages.values()) / 3600)
    assert device == pytest.approx(sum(u.device_s for u in usages.values()) / 3600)
    assert jobs == pytest.approx(3)
    assert usages[ids[0]].cost == pytest.approx(0.5)  # the price at the time it ran
    factory.kw["bind"].dispose()  # type: ignore[attr-defined]


def test_concurrent_writers_lose_nothing(pg_url: str) -> None:
    factory, source_id, ids = _jobs(pg_url, 120)
    barrier = threading.Barrier(4)

    def meter(part: list[int]) -> None:
        barrier.wait()
        for job_id in part:
            with factory.begin() as s:  # type: ignore[attr-defined]
                meter_job(s, _usage(job_id, source_id, 30.0, 1.0, T0))

    threads = [threading.Thread(target=meter, args=(ids[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cost, _audio, device, jobs = _totals(factory)
    assert jobs == pytest.approx(120)
    assert device == pytest.approx(120 * 30 / 3600)
    assert cost == pytest.approx(120 * 30 / 3600 * 1.0)


def test_pipeline_meters_every_job(
    db_url: str, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    folder = tmp_path / "calls"
    folder.mkdir()
    for i in range(3):
        make_call(folder / f"c{i}.wav", [Turn(0, "Thank you for calling."), Turn(1, "Hi.")])
    long_call = make_call(
        folder / "long.wav", [Turn(0, "Hello.", at=5.0), Turn(1, "Bye.", at=70.0)], duration=80.0
    )
    settings = make_settings(
        db_url, planning={"job_max_s": 40.0}, cost={"device_kind_prices": {"cpu": 0.5, "cuda": 2.0}}
    )
    began = time.perf_counter()
    transcribe_source(settings, str(folder))
    wall = time.perf_counter() - began
    factory = open_database(settings)
    with factory.begin() as s:
        jobs = list(s.scalars(select(Job)))
        assert len(jobs) == 5
        # batches are shared: each job pays its share, never more than the device had
        assert 0 < sum(j.device_seconds for j in jobs) <= wall
        for job in jobs:
            assert job.device_kind == "cpu" and job.device_name
            assert job.model == settings.model.name and job.compute_type == "int8"
            assert job.batch_size == batch_size_for(settings.execution, "cpu") == 8
            assert job.worker_host
            assert job.price_per_device_hour == 0.5
            assert job.cost_usd == pytest.approx(job.device_seconds / 3600 * 0.5)
            assert job.audio_seconds == pytest.approx(job.end_s - job.start_s)
        total_cost = sum(j.cost_usd for j in jobs)
        total_audio = sum(j.audio_seconds for j in jobs)
        done = s.scalar(select(func.sum(CostHourly.recordings_done)))
    cost, audio, _device, _jobs_done = _totals(factory)
    assert cost == pytest.approx(total_cost)
    assert audio == pytest.approx(total_audio / 3600)
    assert done == 4
    # the long call changes: its jobs are replaced, and so is their share of the rollups
    make_call(long_call.path, [Turn(1, "Different now.", at=3.0)], duration=90.0)
    transcribe_source(settings, str(folder))
    with factory.begin() as s:
        total_cost = s.scalar(select(func.sum(Job.cost_usd)))
        total_audio = s.scalar(select(func.sum(Job.audio_seconds)))
    cost, audio, _device, _jobs_done = _totals(factory)
    assert cost == pytest.approx(total_cost)
    assert audio == pytest.approx(total_audio / 3600)
    factory.kw["bind"].dispose()
