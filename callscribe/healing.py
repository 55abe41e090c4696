"""The healing pass: every worker runs the reconciler on a jittered interval, so jobs lost
with a Redis restart, a queue drained by a worker that could not claim, a half-finished
ingest, an expired lease or exports that failed are dealt with within one interval
(``jobs.reconcile_interval_s``) and nobody has to run ``callscribe reconcile``.

Only one pass runs at a time across the deployment: each takes a database lock
(``models.locks.try_exclusive``) and a worker that does not get it skips its turn. The pass
runs on a thread of the worker's main process with its own connections (none pooled, so a
forked child never shares one); it loads no model.
"""

from __future__ import annotations

import logging
import random
import threading
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from callscribe.errors import one_line, outage
from callscribe.models.db import make_engine, session_factory
from callscribe.models.locks import exclusive, try_exclusive
from callscribe.scheduler.enqueue import CeleryEnqueuer
from callscribe.scheduler.reconcile import ReconcileReport, reconcile
from callscribe.settings import Settings
from callscribe.workers.results.finalize import finalize_unfinished
from callscribe.workers.runtime.outage import Backoff

if TYPE_CHECKING:
    from celery import Celery

log = logging.getLogger(__name__)
#: The name of the lock one pass at a time holds.
LOCK = "reconcile"


def reconcile_pass(
    settings: Settings, factory: sessionmaker[Session], app: Celery, *, wait: bool = True
) -> ReconcileReport | None:
    """One reconciliation pass under the deployment's lock: waiting for it (``callscribe
    reconcile``), or, without ``wait``, None at once when another process holds it."""
    enqueuer = CeleryEnqueuer(app, settings.queue.name)

    def run() -> ReconcileReport:
        return reconcile(
            settings, factory, enqueuer, finalize=lambda: finalize_unfinished(settings, factory)
        )

    if wait:
        with exclusive(settings.database_url, LOCK):
            return run()
    with try_exclusive(settings.database_url, LOCK) as held:
        return run() if held else None


class Healer:
    """Runs :func:`reconcile_pass` every ``jobs.reconcile_interval_s`` × U(0.5, 1) seconds
    on a daemon thread until stopped. An outage is one warning when it starts and one line
    when it ends; any other failure is one line, and the next pass tries again."""

    def __init__(self, settings: Settings, app: Celery) -> None:
        self.settings = settings
        self.app = app
        self.passes = 0
        self._stop = threading.Event()
        self._backoff = Backoff()
        self._thread = threading.Thread(target=self._run, name="callscribe-healer", daemon=True)

    def start(self) -> Healer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _interval(self) -> float:
        return self.settings.jobs.reconcile_interval_s * random.uniform(0.5, 1.0)

    def _run(self) -> None:
        engine = make_engine(self.settings.database_url, poolclass=NullPool)
        factory = session_factory(engine)
        try:
            while not self._stop.wait(self._interval()):
                self.heal_once(factory)
        finally:
            engine.dispose()

    def heal_once(self, factory: sessionmaker[Session]) -> ReconcileReport | None:
        """One pass if this worker gets the lock; failures logged, never raised."""
        try:
            report = reconcile_pass(self.settings, factory, self.app, wait=False)
        except Exception as exc:
            reason = outage(exc)
            if reason is not None:
                self._backoff.failed(f"healing pass: {reason}")
            else:
                log.warning("healing pass failed: %s", one_line(exc, 300))
            return None
        self._backoff.succeeded()
        self.passes += 1
        if report is not None and report.exports_failed:
            log.info(
                "healing pass: %s recordings wait for their exports to be retried",
                report.exports_failed,
            )
        return report
