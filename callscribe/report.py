"""``callscribe report``: throughput and cost from the hourly rollups, as a table and a
chart (audio hours per bucket, and cost per audio hour against the reference API price).

By queue or agent (the call metadata, docs/metadata.md), or filtered to one queue or agent,
the report sums the cost ledger (``job_cost_hours``, one row per job and hour) over the
jobs' recordings instead of the rollups, in one aggregate query; its done and failed counts
are then the recordings (in their current state) that finished in the range."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, get_args

from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import Session, sessionmaker

from callscribe.models import CostHourly, Job, JobCostHour, Recording, RecordingStatus, Source
from callscribe.models.base import as_utc

GroupBy = Literal["hour", "day", "source", "model", "device", "queue", "agent"]
GROUPS: tuple[str, ...] = get_args(GroupBy)
#: The bucket of recordings (or jobs) without the dimension (no queue in their metadata).
NONE = "(none)"


@dataclass(frozen=True, kw_only=True)
class ReportRow:
    """One bucket of the report."""

    bucket: str
    audio_hours: float
    speech_hours: float
    device_hours: float
    cost_usd: float
    recordings_done: int
    recordings_failed: int

    @property
    def cost_per_audio_hour(self) -> float | None:
        return self.cost_usd / self.audio_hours if self.audio_hours > 1e-12 else None

    @property
    def realtime_factor(self) -> float | None:
        return self.audio_hours / self.device_hours if self.device_hours > 1e-12 else None


@dataclass(frozen=True)
class Report:
    """Rows plus totals and the reference price they are compared with."""

    by: GroupBy
    since: datetime | None
    rows: tuple[ReportRow, ...]
    reference_usd_per_audio_hour: float
    filters: Mapping[str, str] = field(default_factory=dict)
    """``queue`` and ``agent`` the report is limited to, if any."""

    @property
    def total(self) -> ReportRow:
        return _sum("total", self.rows)


def _bucket(row: CostHourly, source_uri: str, by: GroupBy) -> str:
    hour = as_utc(row.hour)
    if by == "hour":
        return hour.strftime("%Y-%m-%d %H:00")
    if by == "day":
        return hour.strftime("%Y-%m-%d")
    if by == "source":
        return source_uri
    if by == "model":
        return row.model or "(none)"
    return f"{row.device_kind} {row.device_name}".strip()


def _sum(bucket: str, rows: Iterable[ReportRow]) -> ReportRow:
    items = list(rows)
    return ReportRow(
        bucket=bucket,
        audio_hours=sum(r.audio_hours for r in items),
        speech_hours=sum(r.speech_hours for r in items),
        device_hours=sum(r.device_hours for r in items),
        cost_usd=sum(r.cost_usd for r in items),
        recordings_done=sum(r.recordings_done for r in items),
        recordings_failed=sum(r.recordings_failed for r in items),
    )


def build_report(
    factory: sessionmaker[Session],
    by: GroupBy,
    since: datetime | None,
    reference_usd_per_audio_hour: float,
    *,
    queue: str | None = None,
    agent: str | None = None,
) -> Report:
    """Aggregate ``cost_hourly`` by the requested dimension; by queue or agent, or limited
    to one ``queue`` or ``agent``, the cost ledger over the jobs' recordings."""
    filters = {
        name: value for name, value in (("queue", queue), ("agent", agent)) if value is not None
    }
    if by in ("queue", "agent") or filters:
        rows = _ledger_rows(factory, by, since, filters)
        return Report(by, since, rows, reference_usd_per_audio_hour, filters)
    query = select(CostHourly, Source.uri).join(Source, Source.id == CostHourly.source_id)
    if since is not None:
        query = query.where(CostHourly.hour >= since)
    groups: dict[str, list[ReportRow]] = defaultdict(list)
    with factory.begin() as session:
        for row, uri in session.execute(query):
            groups[_bucket(row, uri, by)].append(
                ReportRow(
                    bucket="",
                    audio_hours=row.audio_hours,
                    speech_hours=row.speech_hours,
                    device_hours=row.device_hours,
                    cost_usd=row.cost_usd,
                    recordings_done=row.recordings_done,
                    recordings_failed=row.recordings_failed,
                )
            )
    rows = tuple(_sum(bucket, items) for bucket, items in sorted(groups.items()))
    return Report(by, since, rows, reference_usd_per_audio_hour)


def _ledger_rows(
    factory: sessionmaker[Session], by: GroupBy, since: datetime | None, filters: Mapping[str, str]
) -> tuple[ReportRow, ...]:
    """The report from ``job_cost_hours`` and ``recordings``, summed in the database by
    the dimension (by hour or day, by the ledger's hours, then bucketed here)."""
    ledger = JobCostHour
    where = [getattr(Recording, name) == value for name, value in filters.items()]
    dims = _dimension(by, ledger)
    cost: Select[Any] = (
        select(
            *dims,
            func.sum(ledger.audio_seconds),
            func.sum(ledger.speech_seconds),
            func.sum(ledger.device_seconds),
            func.sum(ledger.cost_usd),
        )
        .select_from(ledger)
        .join(Job, Job.id == ledger.job_id)
        .join(Recording, Recording.id == Job.recording_id)
        .where(*where, *([ledger.hour >= since] if since is not None else []))
        .group_by(*dims)
    )
    if by == "source":
        cost = cost.join(Source, Source.id == ledger.source_id)
    with factory.begin() as session:
        sqlite = session.get_bind().dialect.name == "sqlite"
        rdims = _recording_dimension(by, sqlite)
        finished = _finished(rdims, by, since, where)
        sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0, 0, 0])
        for *dim, audio, speech, device, usd in session.execute(cost):
            item = sums[_label(by, dim)]
            for i, value in enumerate((audio, speech, device, usd)):
                item[i] += float(value or 0.0)
        for *dim, done, failed in session.execute(finished):
            item = sums[_label(by, dim)]
            item[4] += int(done or 0)
            item[5] += int(failed or 0)
    return tuple(
        ReportRow(
            bucket=bucket,
            audio_hours=v[0] / 3600,
            speech_hours=v[1] / 3600,
            device_hours=v[2] / 3600,
            cost_usd=v[3],
            recordings_done=int(v[4]),
            recordings_failed=int(v[5]),
        )
        for bucket, v in sorted(sums.items())
    )


def _finished(
    rdims: list[Any], by: GroupBy, since: datetime | None, where: list[Any]
) -> Select[Any]:
    """Recordings done and failed (in the range) by the dimension."""
    last = Job
    finished = (
        select(
            *rdims,
            func.count().filter(Recording.status == RecordingStatus.DONE),
            func.count().filter(Recording.status == RecordingStatus.FAILED),
        )
        .select_from(Recording)
        .where(
            Recording.status.in_([RecordingStatus.DONE, RecordingStatus.FAILED]),
            *where,
            *([Recording.finished_at >= since] if since is not None else []),
        )
        .group_by(*rdims)
    )
    if by == "source":
        finished = finished.join(Source, Source.id == Recording.source_id)
    if by in ("model", "device"):  # as the rollups count it: by the recording's last job
        finished = finished.outerjoin(
            last,
            and_(
                last.recording_id == Recording.id, last.is_last, last.version == Recording.version
            ),
        )
    return finished


def _dimension(by: GroupBy, ledger: type[JobCostHour]) -> list[Any]:
    """What the ledger's rows are grouped by for ``by``."""
    dims: dict[str, list[Any]] = {
        "hour": [ledger.hour],
        "day": [ledger.hour],
        "source": [Source.uri],
        "model": [ledger.model],
        "device": [ledger.device_kind, ledger.device_name],
        "queue": [Recording.queue],
        "agent": [Recording.agent],
    }
    return dims[by]


def _recording_dimension(by: GroupBy, sqlite: bool) -> list[Any]:
    """What finished recordings are grouped by for ``by`` (hours and days: the UTC hour
    each finished in)."""
    if by in ("hour", "day"):
        hour = (
            func.strftime("%Y-%m-%d %H:00:00", Recording.finished_at)
            if sqlite
            else func.date_trunc("hour", func.timezone("UTC", Recording.finished_at))
        )
        return [hour]
    dims: dict[str, list[Any]] = {
        "source": [Source.uri],
        "model": [Job.model],
        "device": [Job.device_kind, Job.device_name],
        "queue": [Recording.queue],
        "agent": [Recording.agent],
    }
    return dims[by]


def _label(by: GroupBy, dim: list[Any]) -> str:
    if by in ("hour", "day"):
        value = dim[0]
        hour = as_utc(datetime.fromisoformat(value) if isinstance(value, str) else value)
        return hour.strftime("%Y-%m-%d %H:00" if by == "hour" else "%Y-%m-%d")
    if by == "device":
        kind, name = dim
        return f"{kind or 'none'} {name or ''}".strip()
    return str(dim[0]) if dim[0] is not None else NONE


def figures(report: Report) -> dict[str, object]:
    """Exactly the numbers the chart draws (also stored in the PNG's metadata)."""
    return {
        "by": report.by,
        "buckets": [r.bucket for r in report.rows],
        "audio_hours": [round(r.audio_hours, 6) for r in report.rows],
        "cost_per_audio_hour": [
            None if r.cost_per_audio_hour is None else round(r.cost_per_audio_hour, 6)
            for r in report.rows
        ],
        "reference_usd_per_audio_hour": report.reference_usd_per_audio_hour,
    }


def plot(report: Report, path: Path) -> Path:
    """Draw throughput (bars) and cost per audio hour (line, right axis) with the reference
    API price as a dashed line; write a PNG whose metadata holds :func:`figures`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = figures(report)
    buckets = [r.bucket for r in report.rows]
    audio = [r.audio_hours for r in report.rows]
    fig, left = plt.subplots(figsize=(10, 5), dpi=100)
    positions = range(len(buckets))
    left.bar(positions, audio, width=0.6, color="#4c72b0", label="audio hours")
    left.set_ylabel("audio hours transcribed")
    left.set_xticks(list(positions), buckets, rotation=45, ha="right", fontsize=8)
    right = left.twinx()
    costs = [
        float("nan") if r.cost_per_audio_hour is None else r.cost_per_audio_hour
        for r in report.rows
    ]
    right.plot(list(positions), costs, color="#dd8452", marker="o", label="$ per audio hour")
    right.axhline(
        report.reference_usd_per_audio_hour,
        color="#c44e52",
        linestyle="--",
        label=f"reference API ${report.reference_usd_per_audio_hour:.2f}/audio h",
    )
    right.set_ylabel("USD per audio hour")
    right.set_ylim(bottom=0)
    handles = left.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    left.legend(
        handles,
        [str(h.get_label()) for h in handles],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.22),
        ncol=3,
        fontsize=8,
        frameon=False,
    )
    left.set_title(f"callscribe throughput and cost by {report.by}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", metadata={"Description": json.dumps(data)})
    plt.close(fig)
    return path


def as_dict(report: Report) -> dict[str, object]:
    return {
        "by": report.by,
        "filters": dict(report.filters),
        "rows": [asdict(r) for r in report.rows],
        "total": asdict(report.total),
    }
