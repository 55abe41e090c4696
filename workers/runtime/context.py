"""What a worker process holds: its settings, database, sources, device, model batcher and
gate, built once per process (``WorkerContext``); and the heartbeat that keeps a claimed
job's lease while the job runs."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from callscribe.errors import one_line
from callscribe.models.db import make_engine, open_database, session_factory
from callscribe.models.metering import Device
from callscribe.settings import Settings
from callscribe.storage.sources import RecordingSource, open_source

from ..results import store
from ..speakers.model import SpeakerEncoder, SpeakerModelError, speaker_model_file
from ..transcription.batching import Batcher
from ..transcription.engine import Engine, batch_wait_s, get_engine, resolve_device
from .device import detect_device
from .isolation import SoloGate
from .outage import Backoff

log = logging.getLogger(__name__)
#: After the speaker model failed to build or load, a process tries again this much later.
SPEAKER_RETRY_S = 600.0


#: How a runner sends a job again after ``delay_s`` (``reschedule(job_id, delay_s)``).
Reschedule = Callable[[int, float], None]


def leave_queued(job_id: int, delay_s: float) -> None:
    """Send nothing: the job stays queued in the database, where the next round of the
    embedded run or the healing pass finds it."""


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


@dataclass(kw_only=True)
class WorkerContext:
    """What a worker needs, built once per process from the settings."""

    settings: Settings
    factory: sessionmaker[Session]
    worker_id: str = field(default_factory=default_worker_id)
    _sources: dict[str, RecordingSource] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _device: Device | None = None
    _batchers: dict[str, Batcher] = field(default_factory=dict)
    gate: SoloGate = field(default_factory=SoloGate)
    """Jobs in flight here run side by side; a suspect one alone (``workers.runtime.isolation``)."""
    soft_limit_errors: tuple[type[BaseException], ...] = ()
    """The pool's own soft-time-limit exceptions, set by the entry point (Celery's)."""
    backoff: Backoff = field(default_factory=Backoff)
    """This process's view of a database outage, shared by its job threads."""
    _speakers: SpeakerEncoder | None = None
    _speakers_lock: threading.Lock = field(default_factory=threading.Lock)
    _speakers_retry_at: float = 0.0
    reschedule: Reschedule = leave_queued
    """How this runner sends a job again: the Celery task re-sends it with a countdown, the
    embedded run waits before its next round. Called once per failure, with the delay
    ``callscribe.failures.classify`` chose."""

    @property
    def device(self) -> Device:
        if self._device is None:
            kind = resolve_device(self.settings.model.device)
            self._device = detect_device(kind, self.settings.model.device_index)
        return self._device

    def engine(self, model: str | None = None) -> Engine:
        """The process's engine for ``model`` (a source's own model), else the settings'."""
        settings = self.settings
        if model is not None and model != settings.model.name:
            settings = settings.updated(model={"name": model})
        return get_engine(settings, processes=settings.queue.worker_concurrency)

    def batcher(self, model: str | None = None) -> Batcher:
        """This process's batcher for ``model`` (else the settings' model): every job in
        flight here with that model shares its model batches."""
        name = model or self.settings.model.name
        with self._lock:
            if name not in self._batchers:
                engine = self.engine(name)
                device = resolve_device(self.settings.model.device)
                self._batchers[name] = Batcher(
                    engine, engine.batch_size, batch_wait_s(self.settings.execution, device)
                )
            return self._batchers[name]

    def speaker_encoder(self) -> SpeakerEncoder | None:
        """This process's speaker model, built and loaded on first use; None (one warning,
        tried again after ``SPEAKER_RETRY_S``) when it cannot be: one-channel calls are then
        labelled ``unknown``, never failed. The first build takes tens of seconds: it holds
        its own lock, not the one the sources and batchers share."""
        with self._speakers_lock:
            if self._speakers is not None:
                return self._speakers
            if time.monotonic() < self._speakers_retry_at:
                return None
            try:
                path = self._speaker_model_path()
                self._speakers = SpeakerEncoder(
                    path,
                    device=resolve_device(self.settings.model.device),
                    device_index=self.settings.model.device_index,
                )
            except SpeakerModelError as exc:
                self._speakers_retry_at = time.monotonic() + SPEAKER_RETRY_S
                log.warning(
                    "speaker model unavailable, one-channel calls are labelled unknown: %s",
                    one_line(exc, 300),
                )
                return None
            return self._speakers

    def _speaker_model_path(self) -> Path:
        """The model file of ``diarization.precision``; the float one, with a warning, when
        the int8 one cannot be built."""
        config = self.settings.diarization
        folder = Path(config.model_dir) if config.model_dir else None
        if config.precision == "int8":
            try:
                return speaker_model_file(folder, "int8")
            except SpeakerModelError as exc:
                log.warning(
                    "int8 speaker model unavailable, using the float one: %s", one_line(exc, 300)
                )
        return speaker_model_file(folder)

    def source(self, uri: str) -> RecordingSource:
        with self._lock:
            if uri not in self._sources:
                self._sources[uri] = open_source(uri, self.settings.storage)
            return self._sources[uri]


def open_context(
    settings: Settings,
    *,
    migrate: bool,
    reschedule: Reschedule = leave_queued,
    soft_limit_errors: tuple[type[BaseException], ...] = (),
) -> WorkerContext:
    """The one way a runner builds its worker context. ``migrate``: the embedded run owns
    its database and brings it to the current schema first (``open_database``); a Celery
    worker does not (the scheduler migrates) and only connects. ``reschedule`` and
    ``soft_limit_errors`` are what the runner's pool brings (module ``callscribe.tasks``,
    ``callscribe.run``)."""
    factory = (
        open_database(settings) if migrate else session_factory(make_engine(settings.database_url))
    )
    return WorkerContext(
        settings=settings,
        factory=factory,
        reschedule=reschedule,
        soft_limit_errors=soft_limit_errors,
    )


class Heartbeat:
    """Renews a claimed job's lease on a thread until stopped, so a long job keeps it and a
    dead worker loses it within ``jobs.lease_s``."""

    def __init__(self, ctx: WorkerContext, job_id: int, attempt: int) -> None:
        self.ctx = ctx
        self.job_id = job_id
        self.attempt = attempt
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{job_id}", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        jobs, hard_limit_s = self.ctx.settings.jobs, self.ctx.settings.queue.time_limit_s
        began = time.monotonic()
        failing = False
        while not self._stop.wait(jobs.heartbeat_s):
            if time.monotonic() - began > hard_limit_s:  # stuck: let the lease lapse
                log.error(
                    "job %s: past the hard time limit of %s s; lease left to expire",
                    self.job_id,
                    hard_limit_s,
                )
                return
            try:
                if not store.heartbeat(
                    self.ctx.factory, self.job_id, self.ctx.worker_id, self.attempt, jobs.lease_s
                ):
                    if self._stop.is_set():  # the job was stored (done) meanwhile
                        return
                    log.warning("job %s: lease lost to another worker", self.job_id)
                    return
                failing = False
            except Exception as exc:  # the database may be briefly away; keep trying
                if not failing:  # once per run of failures, not every beat
                    log.warning("job %s: heartbeat failed: %s", self.job_id, one_line(exc, 300))
                failing = True
