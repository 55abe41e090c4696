"""Cross-job batching: windows from several jobs share model batches, each result goes back
to its own job and window unchanged, and the device thread neither stalls nor spins."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from callscribe.settings import Settings
from callscribe.workers.transcription.batching import Batcher
from callscribe.workers.transcription.engine import Engine, WindowInput, get_engine


@pytest.fixture(scope="module")
def engine(model_dir: Path) -> Engine:
    return get_engine(
        Settings(
            model={"name": str(model_dir), "device": "cpu", "compute_type": "int8"},
            decode={"beam_size": 1, "language": "en"},
            execution={"batch_size": 4},
        )
    )


def _windows(job: str, durations: list[float], seed: int) -> list[WindowInput]:
    """Windows of noise, each of its own length: a result's word times (which depend on the
    window's audio and are bounded by its length) tell which window it came from."""
    rng = np.random.default_rng(seed)
    return [
        WindowInput((job, i), rng.normal(0, 0.05, int(d * 16000)).astype(np.float32), group=job)
        for i, d in enumerate(durations)
    ]


JOBS = {"a": [0.31, 0.42, 0.53], "b": [0.64, 0.75], "c": [0.36, 0.47, 0.58, 0.69, 0.81]}


def _wait(predicate: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_batches_mix_jobs_and_results_go_back_to_their_window(engine: Engine) -> None:
    batcher = Batcher(engine, batch_size=4, max_wait_s=60)
    inputs = {job: _windows(job, d, seed=i) for i, (job, d) in enumerate(JOBS.items())}
    began = time.perf_counter()
    with batcher.preparing():  # another job is "being prepared": only full batches run
        futures = {job: batcher.submit(windows, began) for job, windows in inputs.items()}
        _wait(lambda: batcher.batches_run == 2)
        time.sleep(0.3)
        assert batcher.batches_run == 2 and not futures["c"].done()  # 2 windows wait
    results = {job: f.result(timeout=60) for job, f in futures.items()}
    elapsed = time.perf_counter() - began
    assert (batcher.batches_run, batcher.windows_run) == (3, 10)
    # a a a b | b c c c | c c : each job's share of batches
    assert {job: r.batches for job, r in results.items()} == {"a": 1, "b": 2, "c": 2}
    for job, result in results.items():
        assert [w.key for w in result.windows] == [w.key for w in inputs[job]]
        for window, duration in zip(result.windows, JOBS[job], strict=True):
            assert window.decoded.words and window.decoded.words[-1].end <= duration
        alone = [engine.transcribe([w])[0] for w in inputs[job]]
        assert [w.decoded for w in result.windows] == [w.decoded for w in alone]
    shares = [r.device_s for r in results.values()]
    assert all(s > 0 for s in shares) and sum(shares) <= elapsed + 1e-6


def test_partial_batch_runs_at_once_when_nothing_is_being_prepared(engine: Engine) -> None:
    batcher = Batcher(engine, batch_size=4, max_wait_s=600)
    result = batcher.transcribe(_windows("x", [0.5], seed=3), timeout=30)
    assert len(result.windows) == 1 and batcher.batches_run == 1


def test_partial_batch_waits_at_most_max_wait_while_a_job_is_prepared(engine: Engine) -> None:
    batcher = Batcher(engine, batch_size=4, max_wait_s=0.3)
    with batcher.preparing():
        began = time.perf_counter()
        result = batcher.transcribe(_windows("x", [0.5, 0.6], seed=4), timeout=30)
        waited = time.perf_counter() - began
    assert len(result.windows) == 2 and waited >= 0.3


def test_cancelled_job_is_skipped(engine: Engine) -> None:
    batcher = Batcher(engine, batch_size=4, max_wait_s=600)
    with batcher.preparing():
        dropped = batcher.submit(_windows("x", [0.5, 0.6], seed=5))
        assert dropped.cancel()
        kept = batcher.submit(_windows("y", [0.7], seed=6))
    assert len(kept.result(timeout=30).windows) == 1
    assert batcher.windows_run == 1


def test_a_failing_batch_fails_its_jobs_and_the_batcher_goes_on(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    batcher = Batcher(engine, batch_size=4, max_wait_s=600)
    real = engine.decode
    calls = iter([RuntimeError("CUDA error: out of memory")])

    def flaky(batch: list) -> list:  # type: ignore[type-arg]
        failure = next(calls, None)
        if failure is not None:
            raise failure
        return real(batch)

    monkeypatch.setattr(batcher.engine, "decode", flaky)
    with pytest.raises(RuntimeError, match="out of memory"):
        batcher.transcribe(_windows("x", [0.5], seed=7), timeout=30)
    assert len(batcher.transcribe(_windows("y", [0.5], seed=8), timeout=30).windows) == 1


def test_many_threads_submitting_at_once(engine: Engine) -> None:
    batcher = Batcher(engine, batch_size=4, max_wait_s=0.05)
    out: dict[int, list[Any]] = {}
    errors: list[str] = []
    jobs = {
        n: _windows(f"j{n}", [0.3 + 0.01 * ((n * 7 + i) % 60) for i in range(1 + n % 4)], seed=n)
        for n in range(12)
    }
    expected = {n: [r.decoded for r in engine.transcribe(w)] for n, w in jobs.items()}

    def job(n: int) -> None:
        with batcher.preparing():
            windows = jobs[n]
        result = batcher.transcribe(windows, timeout=120)
        out[n] = [w.decoded for w in result.windows]
        if out[n] != expected[n]:
            errors.append(f"job {n}: {out[n]} != {expected[n]}")

    threads = [threading.Thread(target=job, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert not errors and sorted(out) == list(range(12))
    assert batcher.windows_run == sum(1 + n % 4 for n in range(12))


def test_one_language_per_batch(engine: Engine) -> None:
    ready = engine.prepare(_windows("x", [0.5, 0.5], seed=9))
    mixed = [ready[0], replace(ready[1], language="de")]
    with pytest.raises(ValueError, match="one language per batch"):
        engine.decode(mixed)


def _one_job_with_a_1s_soft_limit(model_dir: Path, tmp_path: Path) -> tuple[Any, int]:
    """A worker context on SQLite (soft limit 1 s, hard 2 s) and the id of the one job of a
    short mono call."""
    from sqlalchemy import select

    from callscribe.models import Job
    from callscribe.models.db import open_database
    from callscribe.scheduler.ingest import discover
    from callscribe.storage.sources import open_source
    from callscribe.workers.runtime.context import WorkerContext
    from tests.support.audio import Turn, make_call

    folder = tmp_path / "calls"
    folder.mkdir()
    make_call(folder / "slow.wav", [Turn(0, "Hello, is anyone there?")], channels=1)
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
        model={"name": str(model_dir), "device": "cpu", "compute_type": "int8"},
        decode={"beam_size": 1},
        storage={"output": str(tmp_path / "out")},
        jobs={"soft_time_limit_s": 1},
        queue={"time_limit_s": 2},
        execution={"batch_size": 4},
    )
    factory = open_database(settings)
    discover(settings, factory, open_source(str(folder), settings.storage))
    with factory.begin() as session:
        job = session.scalars(select(Job.id)).one()
    return WorkerContext(settings=settings, factory=factory), job


def test_job_waiting_past_its_soft_limit_fails_cleanly_and_is_retried(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a threads pool Celery has no time limits: a job whose windows wait for the model
    past ``jobs.soft_time_limit_s`` is failed with a one-line reason and re-queued (an
    attempt counted), and its windows never reach a batch."""
    from callscribe.models import Job, JobStatus
    from callscribe.workers.job import run_job

    ctx, job_id = _one_job_with_a_1s_soft_limit(model_dir, tmp_path)
    factory = ctx.factory
    batcher = ctx.batcher()
    release = threading.Event()
    real = batcher.engine.decode

    def stuck(batch: list) -> list:  # type: ignore[type-arg]
        release.wait(30)
        return real(batch)

    monkeypatch.setattr(batcher.engine, "decode", stuck)
    blocker = batcher.submit(_windows("other", [0.5], seed=10))  # the device is busy
    began = time.perf_counter()
    assert run_job(ctx, job_id) == JobStatus.QUEUED
    assert time.perf_counter() - began < 10
    release.set()
    blocker.result(timeout=30)
    _wait(lambda: not batcher._queues)
    assert batcher.windows_run == 1  # only the blocker's window ran
    with factory.begin() as session:
        job = session.get_one(Job, job_id)
        assert job.status == JobStatus.QUEUED and job.attempts == 1
        assert job.error == "job ran past its soft time limit of 1 s"


def test_job_past_its_soft_limit_while_being_prepared_stops_before_the_model(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The soft limit is also checked between the preparation steps: a job whose audio took
    too long to fetch and decode is re-queued without running VAD or the model."""
    from callscribe.models import Job, JobStatus
    from callscribe.workers import job
    from callscribe.workers.job import run_job

    ctx, job_id = _one_job_with_a_1s_soft_limit(model_dir, tmp_path)
    factory = ctx.factory
    real_load = job.load_audio
    vad_runs: list[int] = []

    def slow_share(*args: Any) -> Any:
        time.sleep(1.2)  # a slow network share
        return real_load(*args)

    monkeypatch.setattr(job, "load_audio", slow_share)
    monkeypatch.setattr(job, "detect_speech", lambda *args: vad_runs.append(1))  # type: ignore[func-returns-value]
    assert run_job(ctx, job_id) == JobStatus.QUEUED  # failed while being prepared: re-queued
    assert vad_runs == [] and ctx.batcher().windows_run == 0
    with factory.begin() as session:
        row = session.get_one(Job, job_id)
        assert row.status == JobStatus.QUEUED and row.attempts == 1
        assert row.error == "job ran past its soft time limit of 1 s"


def test_pool_follows_the_device_without_touching_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    import sys

    from callscribe.tasks import concurrency_for, pool_for

    assert pool_for(Settings(model={"device": "cuda"})) == "threads"
    assert pool_for(Settings(model={"device": "cpu"})) == "prefork"
    assert (
        pool_for(Settings(model={"device": "cpu"}, queue={"worker_pool": "threads"})) == "threads"
    )
    assert (
        pool_for(Settings(model={"device": "cuda"}, queue={"worker_pool": "prefork"})) == "prefork"
    )
    assert (
        concurrency_for(
            Settings(model={"device": "cuda"}, queue={"worker_concurrency": 3}), "prefork"
        )
        == 3
    )
    assert concurrency_for(Settings(model={"device": "cuda"}), "threads") == 8
    assert concurrency_for(Settings(model={"device": "cpu"}), "threads") == 2
    assert (
        concurrency_for(
            Settings(model={"device": "cpu"}, execution={"jobs_in_flight": 5}), "threads"
        )
        == 5
    )
    monkeypatch.setattr("callscribe.tasks._dev_entries", lambda: ["null", "nvidia0", "nvidiactl"])
    assert pool_for(Settings(model={"device": "auto"})) == "threads"
    assert concurrency_for(Settings(model={"device": "auto"}), "threads") == 8
    monkeypatch.setattr("callscribe.tasks._dev_entries", lambda: ["null", "nvidiactl"])
    assert pool_for(Settings(model={"device": "auto"})) == "prefork"
    assert concurrency_for(Settings(model={"device": "auto"}), "threads") == 2
    probe = (
        "import sys; from callscribe.settings import Settings; "
        "from callscribe.tasks import concurrency_for, pool_for; "
        "s = Settings(model={'device': 'auto'}); concurrency_for(s, pool_for(s)); "
        "assert 'ctranslate2' not in sys.modules and 'faster_whisper' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", probe], check=True)


def test_job_past_its_hard_limit_stops_renewing_its_lease(model_dir: Path, tmp_path: Path) -> None:
    """The threads pool's hard limit: a stuck job's heartbeat gives up, so its lease lapses
    and the reconciler can hand the job to another worker."""
    from sqlalchemy import select

    from callscribe.models import Job
    from callscribe.models.base import as_utc, utcnow
    from callscribe.models.db import open_database
    from callscribe.scheduler.ingest import discover
    from callscribe.storage.sources import open_source
    from callscribe.workers.results import store
    from callscribe.workers.runtime.context import Heartbeat, WorkerContext
    from tests.support.audio import Turn, make_call

    folder = tmp_path / "calls"
    folder.mkdir()
    make_call(folder / "stuck.wav", [Turn(0, "Hello.")], channels=1)
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
        model={"name": str(model_dir), "device": "cpu"},
        jobs={"soft_time_limit_s": 1, "lease_s": 1.0, "heartbeat_s": 0.2},
        queue={"time_limit_s": 2},
    )
    factory = open_database(settings)
    discover(settings, factory, open_source(str(folder), settings.storage))
    ctx = WorkerContext(settings=settings, factory=factory)
    with factory.begin() as session:
        job_id = session.scalars(select(Job.id)).one()
    spec = store.claim_job(factory, job_id, ctx.worker_id, 1.0, 3)
    assert spec is not None
    beat = Heartbeat(ctx, job_id, spec.attempts).start()

    def lease() -> float:
        with factory.begin() as session:
            expires = session.get_one(Job, job_id).lease_expires_at
        assert expires is not None
        return (as_utc(expires) - utcnow()).total_seconds()

    time.sleep(1.5)
    assert lease() > 0  # renewed past the first second
    time.sleep(2.5)
    assert not beat._thread.is_alive() and lease() < 0  # gave up at 2 s; expired since
    beat.stop()
