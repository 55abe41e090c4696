"""Cross-job batching: one model, fed windows from every job in flight in this process.

Jobs are prepared (fetch, decode, VAD, features) on their own threads and hand their windows
to the :class:`Batcher`. Its single device thread runs a batch as soon as one is full; a
partial batch runs when no job is being prepared any more (nothing else is coming) or when
its oldest window has waited ``max_wait_s``. So a short call's few windows travel with other
calls' windows, both channels together, and the device never waits for a file to decode.

A batch holds windows of one language and one set of decode options (jobs may bring their
own: ``WindowInput.options``), one queue for each. Each window's result is what
``Engine.transcribe`` gives for it alone (batch composition does not change the output;
tested). Device time is shared out: every batch's wall time, plus any
idle gap right before it while its jobs were being prepared, is split over the jobs in it by
their number of windows.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, InvalidStateError
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

from callscribe.settings import DecodeSection

from .decoding import Decoded
from .engine import Engine, ReadyWindow, WindowInput, WindowResult

#: What windows must share to share a model batch: language and decode options.
BatchKey = tuple[str, DecodeSection]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchedResult:
    """A job's window results (in submission order) and its share of device seconds."""

    windows: tuple[WindowResult, ...]
    device_s: float
    batches: int


@dataclass(kw_only=True)
class _Request:
    ready: list[ReadyWindow]
    started: float
    future: Future[BatchedResult] = field(default_factory=Future)
    results: list[WindowResult | None] = field(init=False)
    left: int = field(init=False)
    device_s: float = 0.0
    batches: int = 0

    def __post_init__(self) -> None:
        self.results = [None] * len(self.ready)
        self.left = len(self.ready)


@dataclass(frozen=True)
class _Item:
    request: _Request
    index: int
    queued: float


class Batcher:
    """Fills model batches from many jobs. Thread-safe; the device thread starts lazily."""

    def __init__(self, engine: Engine, batch_size: int, max_wait_s: float) -> None:
        self.engine = engine
        self.batch_size = batch_size
        self.max_wait_s = max_wait_s
        self._cond = threading.Condition()
        self._queues: dict[BatchKey, deque[_Item]] = {}  # one per language and options
        self._preparing = 0
        self._device_free_at = 0.0
        self._thread: threading.Thread | None = None
        self.batches_run = 0
        self.windows_run = 0

    @contextmanager
    def preparing(self) -> Iterator[None]:
        """Wrap a job's preparation: while any job is being prepared, a partial batch waits
        (up to ``max_wait_s``) for its windows."""
        with self._cond:
            self._preparing += 1
        try:
            yield
        finally:
            with self._cond:
                self._preparing -= 1
                self._cond.notify_all()

    def submit(
        self, windows: Sequence[WindowInput], started: float | None = None
    ) -> Future[BatchedResult]:
        """Queue a job's windows; features and language are computed here, on the caller's
        thread. ``started``: when the job's preparation began (for device-time sharing)."""
        with self.preparing():  # features and language detection are preparation too
            ready = self.engine.prepare(windows)
        request = _Request(ready=ready, started=started or time.perf_counter())
        if not request.ready:
            request.future.set_result(BatchedResult((), 0.0, 0))
            return request.future
        now = time.perf_counter()
        with self._cond:
            for index, window in enumerate(request.ready):
                self._queues.setdefault(window.batch_key, deque()).append(
                    _Item(request, index, now)
                )
            self._start()
            self._cond.notify_all()
        return request.future

    def transcribe(
        self,
        windows: Sequence[WindowInput],
        started: float | None = None,
        timeout: float | None = None,
    ) -> BatchedResult:
        """Submit and wait (``TimeoutError`` after ``timeout`` seconds)."""
        return self.submit(windows, started).result(timeout)

    # -- the device thread ----------------------------------------------------------------

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="batcher", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while True:
            batch = self._next_batch()
            self._run(batch)

    def _next_batch(self) -> list[_Item]:
        with self._cond:
            while True:
                key, wait = self._choose()
                if key is not None and wait <= 0:
                    queue = self._queues[key]
                    batch: list[_Item] = []
                    while queue and len(batch) < self.batch_size:
                        item = queue.popleft()
                        if not item.request.future.done():  # skip cancelled jobs
                            batch.append(item)
                    if not queue:
                        del self._queues[key]
                    if batch:
                        return batch
                    continue
                self._cond.wait(timeout=wait if key is not None else None)

    def _choose(self) -> tuple[BatchKey | None, float]:
        """The queue to run next, and how long to wait before running it (≤ 0: now). A
        queue may run when it fills a batch, when no job is being prepared, or when its
        oldest window has waited ``max_wait_s``; of those, the ones that waited that long
        go first, oldest first (no language or set of options starves behind full batches
        of another), then the fullest. None may run yet: the one whose wait ends first."""
        if not self._queues:
            return None, 0.0
        now = time.perf_counter()

        def wait(queue: deque[_Item]) -> float:
            return queue[0].queued + self.max_wait_s - now

        runnable = [
            ((0, q[0].queued) if wait(q) <= 0 else (1, -len(q)), k)
            for k, q in self._queues.items()
            if len(q) >= self.batch_size or self._preparing == 0 or wait(q) <= 0
        ]
        if runnable:
            return min(runnable, key=lambda r: r[0])[1], 0.0
        key = min(self._queues, key=lambda k: wait(self._queues[k]))
        return key, wait(self._queues[key])

    def _run(self, batch: list[_Item]) -> None:
        try:
            self._decode_and_deliver(batch)
        except BaseException as exc:  # fail the jobs in this batch, keep serving the rest
            log.warning("model batch of %d windows failed: %s", len(batch), exc)
            for request in {id(i.request): i.request for i in batch}.values():
                with suppress(InvalidStateError):  # done or cancelled already
                    request.future.set_exception(exc)

    def _decode_and_deliver(self, batch: list[_Item]) -> None:
        began = time.perf_counter()
        outputs = self.engine.decode([item.request.ready[item.index] for item in batch])
        ended = time.perf_counter()
        earliest = min(item.request.started for item in batch)
        charge_from = min(began, max(self._device_free_at, earliest))  # idle gap included
        busy = ended - charge_from
        self._device_free_at = ended
        self.batches_run += 1
        self.windows_run += len(batch)
        self._deliver(batch, outputs, busy)

    def _deliver(self, batch: list[_Item], outputs: list[Decoded], busy: float) -> None:
        share = busy / len(batch)
        touched: dict[int, _Request] = {}
        for item, decoded in zip(batch, outputs, strict=True):
            request = item.request
            ready = request.ready[item.index]
            request.results[item.index] = ready.result(decoded)
            request.left -= 1
            request.device_s += share
            touched[id(request)] = request
        for request in touched.values():
            request.batches += 1
            if request.left == 0:
                results = tuple(r for r in request.results if r is not None)
                with suppress(InvalidStateError):  # cancelled meanwhile (timed out)
                    request.future.set_result(
                        BatchedResult(results, request.device_s, request.batches)
                    )
