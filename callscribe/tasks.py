"""Celery tasks. Each carries an id only; the database row is the truth, so a task delivered
twice is harmless (the second claim finds the job no longer queued).

Pools (``worker_pool``):

* ``threads`` (GPUs): one process per GPU, ``workers`` jobs at once on threads. Nothing is
  forked, so CUDA is initialised once, in the process that uses it; the model is loaded in
  ``worker_init`` and every job's windows go through one batcher, so model batches mix jobs.
  Celery has no time limits for threads: the soft limit is enforced between the steps of a
  job and while it waits for the model, and a job stuck past the hard limit stops renewing
  its lease, so the reconciler hands it to another worker. A job whose last worker was lost
  runs alone (``workers.runtime.isolation``).
* ``prefork`` (CPUs): one job per child process. The parent never touches CUDA; each child
  loads the model in ``worker_process_init`` (after the fork); Celery's soft and hard time
  limits apply.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
from dataclasses import asdict, dataclass
from typing import Any

from celery import Celery
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import (
    beat_embedded_init,
    worker_init,
    worker_process_init,
    worker_ready,
    worker_shutdown,
)

from callscribe.broker import RECONCILE_TASK, SCAN_TASK, TRANSCRIBE_TASK
from callscribe.errors import ServiceUnavailableError, one_line, outage
from callscribe.healing import Healer, reconcile_pass
from callscribe.scheduler.enqueue import CeleryEnqueuer
from callscribe.settings import Settings
from callscribe.workers.job import run_job
from callscribe.workers.runtime.context import WorkerContext, leave_queued, open_context
from callscribe.workers.transcription.engine import jobs_in_flight

log = logging.getLogger(__name__)


@dataclass
class _ProcessState:
    settings: Settings | None = None
    app: Celery | None = None
    pid: int = -1
    context: WorkerContext | None = None


_STATE = _ProcessState()


def worker_context(settings: Settings) -> WorkerContext:
    """This process's WorkerContext (database engine and model), built once per process.
    Celery's soft time limit (prefork) is handed to it as a soft-limit error, so it means
    what the threads pool's own check means (``callscribe.failures``)."""
    if _STATE.context is None or _STATE.pid != os.getpid():
        app = _STATE.app
        _STATE.context = open_context(
            settings,
            migrate=False,
            soft_limit_errors=(SoftTimeLimitExceeded,),
            reschedule=(lambda job_id, delay_s: _resend(app, settings, job_id, delay_s))
            if app is not None
            else leave_queued,
        )
        _STATE.pid = os.getpid()
    return _STATE.context


def _load_in_child(**_: Any) -> None:
    if _STATE.settings is not None:
        ctx = worker_context(_STATE.settings)
        ctx.engine()  # load the model now, in the child, not on the first task
        if _STATE.settings.diarization.enabled:
            ctx.speaker_encoder()  # and the speaker model (the worker command built it)
        log.info("worker process %s ready (%s)", os.getpid(), ctx.worker_id)


def _die_with_the_worker(**_: Any) -> None:
    """In the beat process of ``callscribe worker --beat``: exit when the worker does. Celery
    runs it as a child process, which a SIGKILLed worker would leave behind, scheduling on
    its own forever (Linux; elsewhere nothing changes)."""

    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)
    if os.getppid() != parent:  # the worker died before the request was made
        os.kill(os.getpid(), signal.SIGTERM)


beat_embedded_init.connect(_die_with_the_worker, weak=False)


def pool_for(settings: Settings) -> str:
    """The Celery pool to run: as set, or ``threads`` on a GPU and ``prefork`` on a CPU.
    Decided without initialising CUDA (a forked child could not use it afterwards)."""
    if settings.queue.worker_pool != "auto":
        return settings.queue.worker_pool
    return "threads" if _expects_gpu(settings) else "prefork"


def concurrency_for(settings: Settings, pool: str) -> int:
    """Celery's ``--concurrency``: prefork processes, or a threads pool's jobs in flight
    (whose windows share model batches): as set, or the device's default."""
    if pool == "prefork":
        return settings.queue.worker_concurrency
    return jobs_in_flight(settings.execution, "cuda" if _expects_gpu(settings) else "cpu")


def _expects_gpu(settings: Settings) -> bool:
    """Whether this worker will run on a GPU, judged without initialising CUDA."""
    return settings.model.device == "cuda" or (
        settings.model.device == "auto"
        and any(name.startswith("nvidia") and name[6:].isdigit() for name in _dev_entries())
    )


def _dev_entries() -> list[str]:
    try:
        return os.listdir("/dev")
    except OSError:
        return []


def _resend(app: Celery, settings: Settings, job_id: int, delay_s: float) -> None:
    """Deliver the job again after ``delay_s``. If the broker is away too, the job is still
    queued in the database, and the healing pass sends it once the broker is back."""
    try:
        CeleryEnqueuer(app, settings.queue.name).send([job_id], delay_s, once=True)
    except Exception as exc:
        log.warning(
            "job %s: cannot send it again now (%s); the healing pass will",
            job_id,
            outage(exc) or one_line(exc, 300),
        )


def register_tasks(app: Celery, settings: Settings, pool: str = "prefork") -> None:
    """Define callscribe's tasks on ``app``; ``settings`` are the worker's settings. The
    model is loaded in each prefork child, or once in the main process of a threads pool."""
    _STATE.settings = settings
    _STATE.app = app
    healer = Healer(settings, app)
    worker_ready.connect(lambda **_: healer.start(), weak=False)
    worker_shutdown.connect(lambda **_: healer.stop(), weak=False)
    if pool == "prefork":
        worker_process_init.connect(_load_in_child, weak=False)
    else:
        worker_init.connect(_load_in_child, weak=False)

    @app.task(name=TRANSCRIBE_TASK, bind=True)  # type: ignore[untyped-decorator]
    def transcribe_job(self: Any, job_id: int) -> str | None:
        ctx = worker_context(settings)
        try:
            status = run_job(ctx, int(job_id))
        except ServiceUnavailableError as exc:  # the job cannot be claimed: give it back
            ctx.backoff.pause(exc.one_line())  # and hold this slot, so no more are taken
            ctx.reschedule(int(job_id), 0.0)
            return "handed back"
        return status.value if status is not None else None

    @app.task(name=RECONCILE_TASK)  # type: ignore[untyped-decorator]
    def reconcile_task() -> dict[str, int] | None:

        report = reconcile_pass(settings, worker_context(settings).factory, app, wait=False)
        return None if report is None else asdict(report)

    @app.task(name=SCAN_TASK)  # type: ignore[untyped-decorator]
    def scan_task(source_uri: str) -> dict[str, Any]:
        from callscribe.scheduler.enqueue import CeleryEnqueuer
        from callscribe.scheduler.nightly import scan

        if source_uri not in settings.schedules:  # a message is no authority over paths
            log.warning("scan of an unscheduled source refused: %r", source_uri[:200])
            return {"source": source_uri, "refused": "not a configured schedule"}
        ctx = worker_context(settings)
        outcome = scan(settings, ctx.factory, source_uri, CeleryEnqueuer(app, settings.queue.name))
        if outcome.result is None:
            return {"source": source_uri, "skipped": True}
        return {
            "source": source_uri,
            "run_id": outcome.result.run_id,
            "jobs_enqueued": outcome.result.jobs_enqueued,
        }
