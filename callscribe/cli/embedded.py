"""One machine: ``transcribe`` (the embedded run) and ``status``."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgress
from rich.table import Table

from callscribe.errors import CallscribeError
from callscribe.settings import Settings

if TYPE_CHECKING:
    from callscribe.run import RunSummary
    from callscribe.status import LiveProgress

from .common import (
    ConfigOpt,
    DbOpt,
    _fail,
    _logging,
    _settings,
    app,
    err,
    out,
)


@app.command()
def transcribe(
    source: Annotated[str, typer.Argument(help="A directory or s3://bucket/prefix.")],
    model: Annotated[str | None, typer.Option(help="Model name or local CTranslate2 dir.")] = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda or auto.")] = None,
    compute_type: Annotated[str | None, typer.Option(help="int8, float16, float32…")] = None,
    language: Annotated[str | None, typer.Option(help="Language code; default: detect.")] = None,
    initial_prompt: Annotated[str | None, typer.Option(help="Context text for the model.")] = None,
    hotwords: Annotated[str | None, typer.Option(help="Words to bias decoding toward.")] = None,
    output: Annotated[str | None, typer.Option(help="Export directory or s3:// prefix.")] = None,
    beam_size: Annotated[int | None, typer.Option(help="Beam width.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Windows per model batch.")] = None,
    redaction: Annotated[
        str | None,
        typer.Option(
            help="mask (default): card numbers, phone numbers, e-mail addresses → [CARD] …; "
            "off: keep them."
        ),
    ] = None,
    database_url: DbOpt = None,
    config: ConfigOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Transcribe every recording of SOURCE in-process and store the results."""
    from callscribe.run import transcribe_source

    _logging(verbose)
    settings = _settings(
        config,
        database_url=database_url,
        model={"name": model, "device": device, "compute_type": compute_type},
        decode={
            "language": language,
            "initial_prompt": initial_prompt,
            "hotwords": hotwords,
            "beam_size": beam_size,
        },
        storage={"output": output},
        execution={"batch_size": batch_size},
        redaction={"mode": redaction},
    )
    bar = _Bar(disabled=quiet)
    try:
        summary = transcribe_source(settings, source, bar.callbacks())
    except CallscribeError as exc:
        _fail(exc)
    finally:
        bar.live.stop()
    _print_summary(summary)
    raise typer.Exit(1 if summary.failed else 0)


class _Bar:
    """A rich progress bar fed by the runner's callbacks."""

    def __init__(self, disabled: bool) -> None:
        self.live = RichProgress(
            TextColumn("[bold]{task.fields[recordings]}"),
            BarColumn(),
            TextColumn("{task.fields[hours]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=err,
            disable=disabled,
            transient=False,
        )
        self.task = self.live.add_task("audio", total=None, hours="", recordings="")
        self.audio_total = 0.0
        self.audio_done = 0.0
        self.recordings_total = 0
        self.recordings_done = 0

    def callbacks(self) -> Any:
        from callscribe.run import Progress

        return Progress(start=self._start, advance=self._advance)

    def _start(self, jobs: int, recordings: int, audio_s: float) -> None:
        self.audio_total = audio_s
        self.recordings_total = recordings
        self.live.start()
        self.live.update(
            self.task, total=max(audio_s, 1e-9), hours=self._hours(), recordings=self._recordings()
        )

    def _advance(self, audio_s: float, recording_finished: bool) -> None:
        self.audio_done += audio_s
        self.recordings_done += int(recording_finished)
        self.live.update(
            self.task, advance=audio_s, hours=self._hours(), recordings=self._recordings()
        )

    def _hours(self) -> str:
        return f"{self.audio_done / 3600:.2f}/{self.audio_total / 3600:.2f} audio h"

    def _recordings(self) -> str:
        return f"{self.recordings_done}/{self.recordings_total} recordings"


def _print_summary(summary: RunSummary) -> None:
    reg = summary.registration
    out.print(f"source      {escape(summary.source)}", highlight=False)
    out.print(
        f"discovered  {reg.discovered} ({reg.new} new, {reg.changed} changed, "
        f"{reg.unchanged} unchanged)"
    )
    if reg.metadata_updated or reg.metadata_unknown:
        out.print(
            f"metadata    {reg.metadata_updated} updated, {reg.metadata_unknown} rows "
            "naming no recording"
        )
    out.print(
        f"done        {summary.done} recordings, {summary.audio_seconds / 3600:.3f} audio hours"
    )
    out.print(
        f"this run    {summary.processed_audio_seconds / 3600:.3f} audio hours in "
        f"{summary.wall_seconds:.1f} s wall, realtime factor "
        f"{summary.realtime_factor:.1f}x"
    )
    out.print(f"failed      {len(summary.failed)}")
    for failure in summary.failed:
        out.print(
            f"  [red]✗[/red] {escape(failure.key)}: {escape(failure.reason)}", highlight=False
        )


@app.command()
def status(
    database_url: DbOpt = None,
    config: ConfigOpt = None,
    watch: Annotated[
        bool, typer.Option("--watch", help="Live progress until interrupted.")
    ] = False,
    interval: Annotated[float, typer.Option(help="Seconds between refreshes.")] = 2.0,
    until_done: Annotated[
        bool, typer.Option(help="With --watch: stop when no job is queued or running.")
    ] = False,
) -> None:
    """Counts of recordings and jobs by status, from the database."""
    from callscribe.status import read_status

    settings = _settings(config, database_url=database_url)
    if watch:
        _watch(settings, interval, until_done)
        return
    try:
        snapshot = read_status(settings)
    except CallscribeError as exc:
        _fail(exc)
    table = Table("table", "status", "count", "audio hours")
    for row in snapshot.rows:
        table.add_row(row.table, row.status, str(row.count), f"{row.audio_hours:.3f}")
    out.print(table)
    for key, reason in snapshot.recent_failures:
        out.print(f"  [red]✗[/red] {escape(key)}: {escape(reason)}", highlight=False)


def _progress_table(p: LiveProgress) -> Table:
    table = Table(
        "queued",
        "running",
        "done",
        "failed",
        "audio h done",
        "audio h left",
        "throughput (audio h/h)",
        "ETA",
        title="callscribe",
    )
    eta = "—" if p.eta_s is None else f"{p.eta_s / 60:.1f} min"
    table.add_row(
        *(str(p.jobs.get(k, 0)) for k in ("queued", "running", "done", "failed")),
        f"{p.audio_done_h:.3f}",
        f"{p.audio_left_h:.3f}",
        f"{p.throughput_h_per_h:.1f}",
        eta,
    )
    return table


def _watch(settings: Settings, interval: float, until_done: bool) -> None:
    from rich.live import Live

    from callscribe.models.db import make_engine, session_factory
    from callscribe.status import read_progress

    factory = session_factory(make_engine(settings.database_url))
    with Live(console=out, auto_refresh=False) as live:
        while True:
            progress = read_progress(factory)
            live.update(_progress_table(progress), refresh=True)
            if until_done and progress.finished:
                return
            time.sleep(interval)
