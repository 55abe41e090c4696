"""The distributed mode's commands: ``ingest``, ``worker``, ``schedule``, ``reconcile``,
``retry``."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from callscribe.errors import CallscribeError

from .common import (
    ConfigOpt,
    DbOpt,
    _broker,
    _celery,
    _fail,
    _logging,
    _settings,
    app,
    err,
    out,
)


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
    enqueuer = CeleryEnqueuer(_broker(settings), settings.queue.name)
    try:
        result = run_ingest(settings, source, enqueuer)
    except CallscribeError as exc:
        _fail(exc)
    reg = result.registration
    err.print(
        f"discovered {reg.discovered} ({reg.new} new, {reg.changed} changed), "
        f"{result.jobs_enqueued} jobs enqueued",
        highlight=False,
    )
    out.print(result.run_id)


@app.command()
def worker(
    device: Annotated[str | None, typer.Option(help="cpu, cuda or auto.")] = None,
    device_index: Annotated[int | None, typer.Option(help="GPU index for this worker.")] = None,
    concurrency: Annotated[int | None, typer.Option(help="Worker processes (prefork).")] = None,
    pool: Annotated[
        str | None,
        typer.Option(
            help="auto, prefork (one job per process) or threads (jobs share model batches)."
        ),
    ] = None,
    model: Annotated[str | None, typer.Option(help="Model name or local directory.")] = None,
    compute_type: Annotated[str | None, typer.Option(help="int8, float16, …")] = None,
    beat: Annotated[
        bool,
        typer.Option("--beat", help="Also run Celery beat (scheduled scans and the reconciler)."),
    ] = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Only check the database and the "
            "broker (exit 0 ready, 2 not), e.g. "
            "as a readiness probe.",
        ),
    ] = False,
    alive: Annotated[
        bool,
        typer.Option(
            "--alive",
            help="Only say whether the worker on this machine is alive: its consumer "
            "wrote --alive-file within 2 minutes (exit 0, else 2; asks neither the "
            "database nor the broker), e.g. as a liveness probe.",
        ),
    ] = False,
    alive_file: Annotated[
        Path | None,
        typer.Option(help="Where the worker writes that it is alive (default: in $TMPDIR)."),
    ] = None,
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
    database_url: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Start a Celery worker that transcribes jobs (one per GPU: --device cuda
    --device-index N)."""
    from callscribe.liveness import CONF_KEY, AliveStep, alive_line, default_alive_file

    alive_path = alive_file or default_alive_file()
    if alive:  # no settings, no database, no broker: only the worker's own word
        ok, line = alive_line(alive_path)
        (out if ok else err).print(line, highlight=False)
        raise typer.Exit(0 if ok else 2)

    from callscribe.checks import check_worker
    from callscribe.tasks import concurrency_for, pool_for, register_tasks

    settings = _settings(
        config,
        database_url=database_url,
        model={
            "device": device,
            "device_index": device_index,
            "name": model,
            "compute_type": compute_type,
        },
        queue={"worker_concurrency": concurrency, "worker_pool": pool},
    )
    app_ = _celery(settings)
    try:
        ready = check_worker(settings, app_)
    except CallscribeError as exc:
        _fail(exc)
    if check:
        out.print(ready.one_line(), highlight=False)
        return
    if settings.diarization.enabled:  # built once, here, not inside the first job
        from callscribe.workers.speakers.model import prepare_speaker_model

        speakers = settings.diarization
        problem = prepare_speaker_model(speakers.model_dir)
        if problem:
            err.print(
                f"warning: {problem}; one-channel calls are labelled unknown", highlight=False
            )
        elif speakers.precision == "int8" and (problem := prepare_speaker_model(
            speakers.model_dir, "int8"
        )):  # fmt: skip
            err.print(f"warning: {problem}; the float speaker model is used", highlight=False)
    if settings.insights.enabled:  # fetched once, here, not inside the first finalize
        from callscribe.workers.insights.encoder import prepare_sentence_model

        problem = prepare_sentence_model(settings.insights.model_dir)
        if problem:
            err.print(f"warning: {problem}; insights from the lexicons alone", highlight=False)
    chosen = pool_for(settings)
    register_tasks(app_, settings, chosen)
    name = f"callscribe-{settings.model.device}{settings.model.device_index}-{os.getpid()}@%h"
    argv = [
        "worker",
        f"--pool={chosen}",
        f"--concurrency={concurrency_for(settings, chosen)}",
        "-Q",
        settings.queue.name,
        f"--loglevel={loglevel}",
        "-n",
        name,
        "--without-mingle",
        "--without-gossip",
    ]
    if beat:
        schedule = os.path.join(tempfile.gettempdir(), f"callscribe-beat-{os.getpid()}")
        argv += ["--beat", "-s", schedule]
    app_.conf[CONF_KEY] = str(alive_path)
    app_.steps["consumer"].add(AliveStep)
    app_.worker_main(argv)


@app.command()
def schedule(
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
    database_url: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Run Celery beat: the periodic reconciler (run exactly one of these per deployment)."""

    settings = _settings(config, database_url=database_url)
    app_ = _celery(settings)
    state = os.path.join(tempfile.gettempdir(), "callscribe-beat-schedule")
    app_.start(argv=["beat", "-s", state, f"--loglevel={loglevel}"])


@app.command()
def reconcile(database_url: DbOpt = None, config: ConfigOpt = None) -> None:
    """One reconciliation pass (what every worker's healing pass does on its own): re-queue
    expired leases, re-send jobs the broker lost, finalize finished recordings and retry
    failed exports. Exits 1 when recordings are left waiting for their exports."""
    from callscribe.healing import reconcile_pass
    from callscribe.models.db import open_database

    settings = _settings(config, database_url=database_url)
    app_ = _broker(settings)
    report = reconcile_pass(settings, open_database(settings), app_)
    assert report is not None
    out.print(
        f"lease expired {report.lease_expired}, re-sent {report.resent}, "
        f"finalized {report.finalized}, exports failed {report.exports_failed}",
        highlight=False,
    )
    if not report.finished:
        err.print(
            f"{report.exports_failed} recordings could not be finished: their exports "
            f"failed (`callscribe status` lists why); they are retried",
            highlight=False,
        )
        raise typer.Exit(1)


@app.command()
def retry(
    failed: Annotated[bool, typer.Option("--failed", help="Re-queue dead-letter jobs.")] = False,
    database_url: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Give failed jobs (dead letters) a fresh set of attempts and enqueue them."""
    from callscribe.models.db import open_database
    from callscribe.scheduler.enqueue import CeleryEnqueuer
    from callscribe.scheduler.retry import requeue_failed

    if not failed:
        err.print("nothing to do: pass --failed")
        raise typer.Exit(2)
    settings = _settings(config, database_url=database_url)
    app_ = _broker(settings)
    job_ids = requeue_failed(open_database(settings))
    sent = CeleryEnqueuer(app_, settings.queue.name).send(job_ids)
    out.print(f"re-queued {sent} jobs", highlight=False)
