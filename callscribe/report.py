"""``callscribe report``: throughput and cost from the hourly rollups, as a table and a
chart (audio hours per bucket, and cost per audio hour against the reference API price)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from callscribe.models import CostHourly, Source
from callscribe.models.base import as_utc

GroupBy = Literal["hour", "day", "source", "model", "device"]


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
    return ReportRow(bucket=bucket, audio_hours=sum(r.audio_hours for r in items),
                     speech_hours=sum(r.speech_hours for r in items),
                     device_hours=sum(r.device_hours for r in items),
                     cost_usd=sum(r.cost_usd for r in items),
                     recordings_done=sum(r.recordings_done for r in items),
                     recordings_failed=sum(r.recordings_failed for r in items))


def build_report(factory: sessionmaker[Session], by: GroupBy, since: datetime | None,
                 reference_usd_per_audio_hour: float) -> Report:
    """Aggregate ``cost_hourly`` by the requested dimension."""
    query = select(CostHourly, Source.uri).join(Source, Source.id == CostHourly.source_id)
    if since is not None:
        query = query.where(CostHourly.hour >= since)
    groups: dict[str, list[ReportRow]] = defaultdict(list)
    with factory.begin() as session:
        for row, uri in session.execute(query):
            groups[_bucket(row, uri, by)].append(ReportRow(
                bucket="", audio_hours=row.audio_hours, speech_hours=row.speech_hours,
                device_hours=row.device_hours, cost_usd=row.cost_usd,
                recordings_done=row.recordings_done, recordings_failed=row.recordings_failed))
    rows = tuple(_sum(bucket, items) for bucket, items in sorted(groups.items()))
    return Report(by, since, rows, reference_usd_per_audio_hour)


def figures(report: Report) -> dict[str, object]:
    """Exactly the numbers the chart draws (also stored in the PNG's metadata)."""
    return {
        "by": report.by,
        "buckets": [r.bucket for r in report.rows],
        "audio_hours": [round(r.audio_hours, 6) for r in report.rows],
        "cost_per_audio_hour": [None if r.cost_per_audio_hour is None
                                else round(r.cost_per_audio_hour, 6) for r in report.rows],
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
    costs = [float("nan") if r.cost_per_audio_hour is None else r.cost_per_audio_hour
             for r in report.rows]
    right.plot(list(positions), costs, color="#dd8452", marker="o", label="$ per audio hour")
    right.axhline(report.reference_usd_per_audio_hour, color="#c44e52", linestyle="--",
                  label=f"reference API ${report.reference_usd_per_audio_hour:.2f}/audio h")
    right.set_ylabel("USD per audio hour")
    right.set_ylim(bottom=0)
    handles = left.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    left.legend(handles, [str(h.get_label()) for h in handles], loc="upper center",
                bbox_to_anchor=(0.5, -0.22), ncol=3, fontsize=8, frameon=False)
    left.set_title(f"callscribe throughput and cost by {report.by}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", metadata={"Description": json.dumps(data)})
    plt.close(fig)
    return path


def as_dict(report: Report) -> dict[str, object]:
    return {"by": report.by, "rows": [asdict(r) for r in report.rows],
            "total": asdict(report.total)}
