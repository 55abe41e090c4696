"""Reading the results: ``report`` (cost and throughput), ``search`` and ``insights``."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .common import (
    ConfigOpt,
    DbOpt,
    _settings,
    app,
    err,
    out,
)


@app.command()
def report(
    since: Annotated[str | None, typer.Option(help="ISO date/time, e.g. 2026-11-01.")] = None,
    by: Annotated[
        str, typer.Option(help="hour, day, source, model, device, queue or agent.")
    ] = "day",
    queue: Annotated[str | None, typer.Option(help="Only calls of this queue.")] = None,
    agent: Annotated[str | None, typer.Option(help="Only calls of this agent.")] = None,
    plot_file: Annotated[Path | None, typer.Option("--plot", help="Also draw a PNG chart.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    wide: Annotated[bool, typer.Option("--wide", help="Every column, however wide.")] = False,
    database_url: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Throughput and cost per audio hour from the hourly rollups, against the reference
    cloud API price."""

    from callscribe.models.base import as_utc
    from callscribe.models.db import make_engine, session_factory
    from callscribe.report import GROUPS, as_dict, build_report, plot

    if by not in GROUPS:
        err.print(f"error: --by must be one of {', '.join(GROUPS)}, not {escape(repr(by))}")
        raise typer.Exit(2)
    settings = _settings(config, database_url=database_url)
    start = datetime.fromisoformat(since) if since else None
    if start is not None:
        start = as_utc(start)
    factory = session_factory(make_engine(settings.database_url))
    result = build_report(
        factory,
        by,  # type: ignore[arg-type]
        start,
        settings.cost.reference_usd_per_audio_hour,
        queue=queue,
        agent=agent,
    )
    if plot_file is not None:
        plot(result, plot_file)
        err.print(f"wrote {escape(str(plot_file))}", highlight=False)
    if as_json:
        out.print_json(json.dumps(as_dict(result)))
        return
    table, width = _report_table(result, None if wide else out.width)
    if wide:
        Console(width=max(width, out.width), soft_wrap=True).print(table)
        return
    out.print(table)


#: The report's columns, most wanted first: (header, cell of a row, cell of the reference
#: price). A table that does not fit the terminal drops columns from the end of this list
#: (``--wide`` keeps them all); the bucket column always stays.
_COLUMNS: list[tuple[str, Callable[[Any, float], str]]] = [
    ("audio h", lambda r, ref: f"{r.audio_hours:.3f}"),
    ("cost $", lambda r, ref: f"{r.cost_usd:.4f}"),
    (
        "$ / audio h",
        lambda r, ref: "—" if r.cost_per_audio_hour is None else f"{r.cost_per_audio_hour:.4f}",
    ),
    ("done", lambda r, ref: str(r.recordings_done)),
    ("failed", lambda r, ref: str(r.recordings_failed)),
    ("saved $", lambda r, ref: f"{r.audio_hours * ref - r.cost_usd:.4f}"),
    ("realtime x", lambda r, ref: "—" if r.realtime_factor is None else f"{r.realtime_factor:.1f}"),
    ("device h", lambda r, ref: f"{r.device_hours:.4f}"),
    ("speech h", lambda r, ref: f"{r.speech_hours:.3f}"),
    ("reference $", lambda r, ref: f"{r.audio_hours * ref:.4f}"),
]


def _report_table(result: Any, width: int | None) -> tuple[Table, int]:
    """The report as a table of the columns that fit in ``width`` (all when None), and the
    width it needs."""
    rows = [*result.rows, result.total]
    ref = result.reference_usd_per_audio_hour
    cells = [[escape(r.bucket) for r in rows]]
    headers = [result.by]
    needed = _width(headers[0], cells[0])
    for header, cell in _COLUMNS:
        column = [cell(r, ref) for r in rows]
        extra = _width(header, column)
        if width is not None and needed + extra > width:
            break
        headers.append(header)
        cells.append(column)
        needed += extra
    only = "".join(f", {name} {value}" for name, value in result.filters.items())
    table = Table(
        *headers, title=escape(f"callscribe report (reference ${ref:.2f} per audio hour{only})")
    )
    for i in range(len(rows)):
        table.add_row(*(column[i] for column in cells))
    return table, needed + 1


def _width(header: str, column: list[str]) -> int:
    """Characters a column takes in a rich table: its widest cell, padding and a border."""
    return max(len(header), *(len(c) for c in column)) + 3


@app.command("search")
def search_command(
    query: Annotated[str, typer.Argument(help='Words, "a phrase", or, -exclude.')],
    speaker: Annotated[str | None, typer.Option(help="agent or customer.")] = None,
    source: Annotated[str | None, typer.Option(help="Only this source URI.")] = None,
    since: Annotated[datetime | None, typer.Option(help="Calls finished from (UTC).")] = None,
    until: Annotated[datetime | None, typer.Option(help="...and before (UTC).")] = None,
    where: Annotated[list[str] | None, typer.Option(help="Metadata KEY=VALUE.")] = None,
    queue: Annotated[str | None, typer.Option(help="Only calls of this queue.")] = None,
    agent: Annotated[str | None, typer.Option(help="Only calls of this agent.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many hits (pages).")] = 0,
    context: Annotated[int, typer.Option(min=0, help="Turns around each hit.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="JSON records.")] = False,
    database_url: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Full-text search over every transcript: ranked hits with recording, speaker, time
    and the matching words marked « »."""
    from callscribe import searching
    from callscribe.models.db import open_database

    settings = _settings(config, database_url=database_url)
    try:
        filters = {
            "speaker": speaker,
            "source_uri": source,
            "since": since,
            "until": until,
            "where": searching.parse_where(where or []),
            "queue": queue,
            "agent": agent,
            "limit": limit,
            "offset": offset,
        }
    except ValueError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    hits = searching.run_search(open_database(settings), query, context_turns=context, **filters)
    if as_json:
        print(searching.as_json(hits))
        return
    for hit in hits:
        out.print(
            f"[bold]{escape(hit['key'])}[/bold] {searching.clock(hit['start_s'])} "
            f"{escape(hit['speaker'])}: {escape(hit['snippet'])}",
            highlight=False,
        )
        for turn in hit.get("context", []):
            mark = ">" if turn["hit"] else " "
            out.print(
                f"   {mark} {searching.clock(turn['start_s'])} {escape(turn['speaker'])}: "
                f"{escape(turn['text'])}",
                highlight=False,
            )
    if not hits:
        out.print("no hits")


@app.command("insights")
def insights_command(
    source: Annotated[str | None, typer.Option(help="Only this source URI.")] = None,
    queue: Annotated[str | None, typer.Option(help="Only calls of this queue.")] = None,
    agent: Annotated[str | None, typer.Option(help="Only calls of this agent.")] = None,
    since: Annotated[datetime | None, typer.Option(help="Calls from (UTC).")] = None,
    until: Annotated[datetime | None, typer.Option(help="...and before (UTC).")] = None,
    recluster: Annotated[
        bool, typer.Option("--recluster", help="Find the topics again over every call.")
    ] = False,
    plot_file: Annotated[Path | None, typer.Option("--plot", help="Also draw a PNG chart.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    database_url: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """What customers call about and how they feel: the top topics with their calls, share
    of unhappy customers, trend and example questions; sentiment by queue and agent. Topics
    are found the first time (or with --recluster) and kept; new calls join the nearest."""
    from callscribe import insights
    from callscribe.models.base import as_utc
    from callscribe.models.db import open_database

    settings = _settings(config, database_url=database_url)
    factory = open_database(settings)
    filters = insights.Filters(
        source=source,
        queue=queue,
        agent=agent,
        since=as_utc(since) if since else None,
        until=as_utc(until) if until else None,
    )
    with factory.begin() as session:
        has_topics = bool(insights.current_topics(session))
    if recluster or not has_topics:
        insights.recluster(factory, settings.insights)
    else:
        insights.assign_new_calls(factory, settings.insights)
    report = insights.build_insights(factory, settings.insights, filters)
    if plot_file is not None:
        insights.plot(report, plot_file)
    if as_json:
        print(insights.as_json(report))
        return
    _print_insights(report)


def _print_insights(report: dict[str, Any]) -> None:
    if not report["calls"]:
        out.print("no calls with insights")
        return
    table = Table(title="Topics")
    for column in ("topic", "calls", "unhappy", "sentiment", "last 7 d", "example question"):
        table.add_column(column)
    for topic in report["topics"]:
        first = topic["questions"][0] if topic["questions"] else None
        table.add_row(
            escape(topic["label"]),
            str(len(topic["calls"])),
            "-" if topic["share_negative"] is None else f"{topic['share_negative']:.0%}",
            "-" if topic["mean_sentiment"] is None else f"{topic['mean_sentiment']:+.2f}",
            str(topic["trend"]["last_7_days"]),
            escape(f"{first['text']} ({first['key']} {first['start_s']:.0f} s)") if first else "",
        )
    out.print(table)
    for title, key in (("By queue", "by_queue"), ("By agent", "by_agent")):
        group = Table(title=title)
        for column in ("name", "calls", "sentiment", "unhappy"):
            group.add_column(column)
        for row in report[key]:
            group.add_row(
                escape(row["name"]),
                str(row["calls"]),
                "-" if row["mean_sentiment"] is None else f"{row['mean_sentiment']:+.2f}",
                "-" if row["share_negative"] is None else f"{row['share_negative']:.0%}",
            )
        out.print(group)
