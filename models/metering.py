"""Cost metering's ledger: what a job used (audio, speech, device time on which device,
model, precision, batch size) and what it cost at the price in force when it ran; hourly
rollups maintained incrementally in ``cost_hourly``.

Every job's contribution is kept per hour bucket in ``job_cost_hours`` (split pro rata when
the job's device time crosses an hour boundary). When a job's results are replaced (it ran
again) or removed (its recording changed), its old contribution is subtracted and the new
one added, with atomic ``INSERT … ON CONFLICT DO UPDATE SET x = x + delta`` statements, so
concurrent workers never lose an update and the rollup always equals the sum of the jobs.
Which device a worker has and what it costs an hour are the workers' business
(``callscribe.workers.runtime.device``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from .base import as_utc
from .tables import CostHourly, JobCostHour


@dataclass(frozen=True)
class Device:
    """The hardware a worker process transcribes on."""

    kind: str  # "cpu" | "cuda"
    name: str  # e.g. "NVIDIA H100 80GB HBM3", "AMD EPYC 7B13"
    host: str


@dataclass(frozen=True, kw_only=True)
class Usage:
    """What one job used; times in seconds."""

    job_id: int
    source_id: int
    model: str
    device: Device
    worker: str
    audio_s: float
    speech_s: float
    device_s: float
    finished_at: datetime
    price: float

    @property
    def cost(self) -> float:
        return self.device_s / 3600 * self.price


def hour_shares(start: datetime, end: datetime) -> list[tuple[datetime, float]]:
    """(hour bucket, fraction of [start, end] inside it); one bucket for an instant."""
    if end <= start:
        return [(start.replace(minute=0, second=0, microsecond=0), 1.0)]
    total = (end - start).total_seconds()
    shares = []
    bucket = start.replace(minute=0, second=0, microsecond=0)
    while bucket < end:
        nxt = bucket + timedelta(hours=1)
        overlap = (min(end, nxt) - max(start, bucket)).total_seconds()
        if overlap > 0:
            shares.append((bucket, overlap / total))
        bucket = nxt
    return shares


def _upsert(session: Session) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def _add_to_rollup(session: Session, rows: Iterable[dict[str, Any]], sign: int) -> None:
    insert = _upsert(session)
    for row in rows:
        values = {
            "hour": row["hour"],
            "source_id": row["source_id"],
            "model": row["model"],
            "device_kind": row["device_kind"],
            "device_name": row["device_name"],
            "audio_hours": sign * row["audio_seconds"] / 3600,
            "speech_hours": sign * row["speech_seconds"] / 3600,
            "device_hours": sign * row["device_seconds"] / 3600,
            "cost_usd": sign * row["cost_usd"],
            "jobs_done": sign * row["jobs"],
            "recordings_done": 0,
            "recordings_failed": 0,
        }
        _apply(session, insert, values)


def _apply(session: Session, insert: Any, values: dict[str, Any]) -> None:
    table = CostHourly.__table__
    stmt = insert(table).values(**values, cost_per_audio_hour=None, realtime_factor=None)
    sums = (
        "audio_hours",
        "speech_hours",
        "device_hours",
        "cost_usd",
        "jobs_done",
        "recordings_done",
        "recordings_failed",
    )
    new = {name: table.c[name] + stmt.excluded[name] for name in sums}
    audio, device, cost = new["audio_hours"], new["device_hours"], new["cost_usd"]
    new["cost_per_audio_hour"] = case((audio > 1e-12, cost / audio), else_=None)
    new["realtime_factor"] = case((device > 1e-12, audio / device), else_=None)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["hour", "source_id", "model", "device_kind", "device_name"], set_=new
        )
    )


def unmeter_jobs(session: Session, job_ids: Sequence[int]) -> None:
    """Take jobs' contributions out of the rollups (before their results are replaced or
    the jobs deleted)."""
    if not job_ids:
        return
    old = [
        {
            "hour": r.hour,
            "source_id": r.source_id,
            "model": r.model,
            "device_kind": r.device_kind,
            "device_name": r.device_name,
            "audio_seconds": r.audio_seconds,
            "speech_seconds": r.speech_seconds,
            "device_seconds": r.device_seconds,
            "cost_usd": r.cost_usd,
            "jobs": r.job_share,
        }
        for r in session.scalars(
            select(JobCostHour).where(JobCostHour.job_id.in_(job_ids)).order_by(JobCostHour.hour)
        )
    ]  # one lock order: no deadlocks
    _add_to_rollup(session, old, -1)
    session.execute(delete(JobCostHour).where(JobCostHour.job_id.in_(job_ids)))


def meter_job(session: Session, usage: Usage) -> None:
    """Record one finished job's usage (replacing any earlier record of the same job)."""
    unmeter_jobs(session, [usage.job_id])
    finished = as_utc(usage.finished_at)
    started = finished - timedelta(seconds=usage.device_s)
    rows = []
    shares = hour_shares(started, finished)
    for index, (hour, share) in enumerate(shares):
        row = {
            "hour": hour,
            "source_id": usage.source_id,
            "model": usage.model,
            "device_kind": usage.device.kind,
            "device_name": usage.device.name,
            "audio_seconds": usage.audio_s * share,
            "speech_seconds": usage.speech_s * share,
            "device_seconds": usage.device_s * share,
            "cost_usd": usage.cost * share,
            "jobs": 1 if index == len(shares) - 1 else 0,
        }
        rows.append(row)
        session.add(
            JobCostHour(
                job_id=usage.job_id,
                worker=usage.worker,
                job_share=row["jobs"],
                **{k: v for k, v in row.items() if k != "jobs"},
            )
        )
    _add_to_rollup(session, rows, +1)


def count_recording(
    session: Session,
    *,
    finished_at: datetime,
    source_id: int,
    model: str,
    device: Device | None,
    failed: bool,
) -> None:
    """Count a recording that became done or failed in its hour."""
    hour = finished_at.replace(minute=0, second=0, microsecond=0)
    values = {
        "hour": hour,
        "source_id": source_id,
        "model": model,
        "device_kind": device.kind if device else "none",
        "device_name": device.name if device else "",
        "audio_hours": 0.0,
        "speech_hours": 0.0,
        "device_hours": 0.0,
        "cost_usd": 0.0,
        "jobs_done": 0,
        "recordings_done": 0 if failed else 1,
        "recordings_failed": 1 if failed else 0,
    }
    _apply(session, _upsert(session), values)
