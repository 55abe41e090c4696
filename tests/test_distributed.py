"""Distributed mode under faults: real ``callscribe worker`` processes (Celery prefork) on
the real Redis and PostgreSQL, with the random-weight model."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from callscribe.broker import TRANSCRIBE_TASK
from callscribe.models import Job
from callscribe.models.db import open_database
from callscribe.settings import Settings
from tests.support.audio import Turn, make_call, make_demo_corpus
from tests.support.cluster import (
    Cluster,
    Db,
    Worker,
    embedded_transcript,
    poison_corpus,
    poison_ffmpeg,
    wait_for,
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("corpus30")
    make_demo_corpus(folder, n=30, corrupt=0, seed=11)
    return folder


@pytest.fixture(scope="module")
def reference(
    corpus: Path, model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, list[tuple[Any, ...]]]:
    """The embedded mode's transcript of the corpus (SQLite, same model and options)."""
    return embedded_transcript(corpus, model_dir, tmp_path_factory.mktemp("reference"))


def _running_job_of(cluster: Cluster, worker: Worker) -> int | None:
    pids = worker.pids()
    for job_id, owner in cluster.db.running_jobs():
        if owner and int(owner.split(":")[1]) in pids:
            return job_id
    return None


def _wait_for_running_job(cluster: Cluster, worker: Worker) -> int:
    """The id of the first job seen running in ``worker`` (polled every 10 ms)."""
    job: list[int] = []
    wait_for(
        lambda: bool(job.extend(filter(None, [_running_job_of(cluster, worker)])) or job),
        60,
        f"{worker.name} to start a job",
        cluster.logs,
        interval=0.01,
    )
    return job[0]


def test_two_workers_give_the_embedded_transcript(
    cluster: Cluster, corpus: Path, reference: dict[str, Any]
) -> None:
    assert cluster.ingest(corpus) == 30
    cluster.worker("a")
    cluster.worker("b")
    cluster.wait_settled()
    assert set(cluster.db.recordings().values()) == {("done", None)}
    assert cluster.db.transcript() == reference
    assert all(attempts == 1 for _, _, attempts, _ in cluster.db.jobs())


def test_threads_pool_worker_shares_batches_across_jobs(
    cluster: Cluster, corpus: Path, reference: dict[str, Any]
) -> None:
    """The GPU layout: one process, several jobs in flight whose windows share batches."""
    cluster.set(queue={"worker_pool": "threads"}, execution={"jobs_in_flight": 4, "batch_size": 8})
    assert cluster.ingest(corpus) == 30
    worker = cluster.worker("gpu-like")
    most = [0]

    def settled() -> bool:
        most[0] = max(most[0], len(cluster.db.running_jobs()))
        return cluster.db.settled()

    wait_for(settled, 240, "all jobs to finish", cluster.logs, interval=0.02)
    assert "(thread)" in worker.log()  # Celery's banner: concurrency: 4 (thread)
    assert cluster.db.transcript() == reference
    with cluster.db.factory.begin() as session:
        owners = {w.split(":")[1] for w in session.scalars(select(Job.worker))}
    assert len(owners) == 1 and {int(p) for p in owners} <= worker.pids()  # one process
    assert most[0] >= 2  # several jobs at once in that process


@pytest.mark.parametrize("pool", ["prefork", "threads"])
def test_sigkill_mid_job_another_worker_finishes(
    cluster: Cluster, corpus: Path, reference: dict[str, Any], pool: str
) -> None:
    cluster.set(queue={"worker_pool": pool}, execution={"jobs_in_flight": 3})
    cluster.ingest(corpus)
    victim = cluster.worker("victim")
    _wait_for_running_job(cluster, victim)
    victim.signal_group(signal.SIGKILL)
    victim.proc.wait(10)
    cut_off = {job for job, _owner in cluster.db.running_jobs()}  # all of its jobs in flight
    cluster.worker("rescuer", beat=True)
    cluster.wait_settled()
    assert cluster.db.transcript() == reference  # nothing missing, nothing twice
    killed = [j for j in cluster.db.jobs() if j[0] in cut_off]
    assert killed and all(j[1] == "done" and j[2] == 2 for j in killed)  # rescued: attempt 2


_TAKE_AND_DIE = """
import os, signal, sys
from callscribe.settings import Settings
from callscribe.broker import make_celery
settings = Settings()
with make_celery(settings).connection_for_read() as conn:
    taken = [conn.default_channel.basic_get(settings.queue.name, no_ack=False)
             for _ in range(int(sys.argv[1]))]
    print(sum(m is not None for m in taken), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # dies holding them, unacknowledged
"""


def _take_and_die(cluster: Cluster, count: int) -> None:
    """A consumer that receives ``count`` messages and is killed before claiming them."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _TAKE_AND_DIE, str(count)],
        env=cluster.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert done.stdout.strip() == str(count)


def test_a_job_delivered_to_a_worker_that_died_before_claiming_it_is_sent_again(
    cluster: Cluster, tmp_path: Path
) -> None:
    """Its message sits in Redis's unacknowledged set for the visibility timeout (hours);
    once the delivery is older than the grace, the reconciler no longer counts it as held.
    A delivered message whose countdown has not passed is still held."""
    folder = tmp_path / "calls"
    folder.mkdir()
    for i in range(2):
        make_call(folder / f"c{i}.wav", [Turn(0, "Hello.")], channels=1)
    assert cluster.ingest(folder) == 2
    _take_and_die(cluster, 2)
    cluster.enqueuer.send([2], delay_s=300)  # a retry's countdown, also taken by a dead worker
    _take_and_die(cluster, 1)
    assert cluster.enqueuer.queued_job_ids(60.0) == {1, 2}  # just delivered: held
    time.sleep(1.5)
    assert cluster.enqueuer.queued_job_ids(1.0) == {2}  # job 1's delivery is stale
    report = cluster.reconcile()
    assert (report.lease_expired, report.resent) == (0, 1)
    assert cluster.enqueuer.queued_job_ids(1.0) == {1, 2}  # sent again: waiting
    cluster.worker("w")
    wait_for(lambda: cluster.db.job_counts().get("done") == 1, 120, "job 1 to finish", cluster.logs)
    assert [(j[0], j[1]) for j in cluster.db.jobs()] == [(1, "done"), (2, "queued")]


@pytest.mark.parametrize("pool", ["prefork", "threads"])
def test_flushall_mid_run_heals_without_reconcile(
    cluster: Cluster, corpus: Path, reference: dict[str, Any], pool: str
) -> None:
    """Every message (queued and unacknowledged) lost mid-run: the worker's healing pass
    sends the jobs still queued in the database again; nobody runs ``reconcile``."""
    import redis

    cluster.set(queue={"worker_pool": pool}, execution={"jobs_in_flight": 3})
    cluster.ingest(corpus)
    cluster.worker("a")
    wait_for(lambda: cluster.db.job_counts().get("done", 0) >= 3, 90, "some progress", cluster.logs)
    assert cluster.db.job_counts().get("queued", 0) > 0, "too late to lose queued work"
    redis.Redis(host="127.0.0.1", port=6379).flushall()
    cluster.wait_settled()
    assert cluster.db.transcript() == reference


@pytest.mark.parametrize("pool", ["prefork", "threads"])
def test_postgres_connections_dropped_mid_run(
    cluster: Cluster, corpus: Path, reference: dict[str, Any], pg_admin: Any, pool: str
) -> None:
    """Backends terminated every 150 ms for 4 s; on the threads pool that hits job threads
    and the device thread's batches while several jobs are in flight."""
    cluster.set(queue={"worker_pool": pool}, execution={"jobs_in_flight": 3})
    cluster.ingest(corpus)
    cluster.worker("a", beat=True)
    wait_for(lambda: cluster.db.job_counts().get("done", 0) >= 2, 90, "some progress", cluster.logs)
    database = cluster.settings.database_url.rsplit("/", 1)[1]
    stop = threading.Event()

    def terminate_backends() -> None:
        while not stop.wait(0.15):
            with pg_admin.cursor() as cur:
                cur.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (database,),
                )

    killer = threading.Thread(target=terminate_backends)
    killer.start()
    time.sleep(4)
    stop.set()
    killer.join()
    cluster.db = Db(cluster.settings.database_url)  # our own connections were dropped too
    cluster.wait_settled()
    assert set(cluster.db.recordings().values()) == {("done", None)}
    assert cluster.db.transcript() == reference


@pytest.mark.parametrize("pool", ["prefork", "threads"])
def test_sigterm_is_a_warm_shutdown(
    cluster: Cluster, corpus: Path, reference: dict[str, Any], pool: str
) -> None:
    cluster.set(queue={"worker_pool": pool}, execution={"jobs_in_flight": 3})
    cluster.ingest(corpus)
    first = cluster.worker("first")
    _wait_for_running_job(cluster, first)
    running = {job for job, _owner in cluster.db.running_jobs()}
    os.kill(first.proc.pid, signal.SIGTERM)  # to the main process, as systemd/k8s do
    assert first.proc.wait(60) == 0
    finished = {j[0]: j for j in cluster.db.jobs() if j[0] in running}
    # every job running at SIGTERM (several on a threads pool) was completed, first try
    assert running and all(j[1] == "done" and j[2] == 1 for j in finished.values())
    cluster.worker("second")
    cluster.wait_settled()
    assert cluster.db.transcript() == reference


def _only_poison_failed(cluster: Cluster, good: int) -> str:
    """Check every ok recording is done and poison.wav failed; return its reason."""
    recs = cluster.db.recordings()
    assert {k: v[0] for k, v in recs.items()} == {
        **{f"ok{i}.wav": "done" for i in range(good)},
        "poison.wav": "failed",
    }
    return recs["poison.wav"][1] or ""


def test_poison_file_is_tried_max_attempts_then_failed(cluster: Cluster, tmp_path: Path) -> None:
    """Prefork: a crash inside the job's process (as a native decoder's would be) kills one
    child, which Celery replaces. (On the threads pool such a crash would take every job in
    flight with it; callscribe decodes in an ffmpeg subprocess so that a bad file cannot.)"""
    cluster.ingest(poison_corpus(tmp_path, 4))
    cluster.worker("w", beat=True, path_prefix=poison_ffmpeg(tmp_path))
    cluster.wait_settled(timeout=240)  # a wait, not a timing: slow on a loaded machine
    reason = _only_poison_failed(cluster, 4)
    assert reason.startswith(f"gave up after {cluster.settings.jobs.max_attempts} attempts")
    poison_job = [j for j in cluster.db.jobs() if j[1] == "failed"]
    assert len(poison_job) == 1 and poison_job[0][2] == cluster.settings.jobs.max_attempts


def test_crashing_decoder_on_the_threads_pool_fails_only_its_recording(
    cluster: Cluster, tmp_path: Path
) -> None:
    """The GPU layout: several jobs share one process. ffmpeg segfaulting on one file fails
    that recording with a one-line reason at once (bad audio is permanent); the jobs in
    flight beside it and the worker are unaffected."""
    cluster.set(queue={"worker_pool": "threads"}, execution={"jobs_in_flight": 3})
    cluster.ingest(poison_corpus(tmp_path, 4))
    worker = cluster.worker("w", path_prefix=poison_ffmpeg(tmp_path, "kill -SEGV $$"))
    cluster.wait_settled(timeout=120)
    reason = _only_poison_failed(cluster, 4)
    assert reason.startswith("cannot decode audio") and "\n" not in reason
    assert [j[2] for j in cluster.db.jobs() if j[1] == "failed"] == [1]  # one attempt
    assert worker.proc.poll() is None  # still serving


def test_process_crash_on_the_threads_pool_costs_its_neighbours_one_attempt_only(
    cluster: Cluster, tmp_path: Path
) -> None:
    """A file that crashes the whole worker process every time (a native fault inside it)
    while other jobs are in flight: the worker is restarted (as systemd or Docker would),
    every job of the lost worker runs alone on its next attempt, so only the poison job
    spends its attempts; every other recording completes with at most one attempt lost."""
    cluster.set(queue={"worker_pool": "threads"}, execution={"jobs_in_flight": 3})
    cluster.ingest(poison_corpus(tmp_path, 5))
    prefix = poison_ffmpeg(tmp_path)  # kills the process that runs ffmpeg: the whole worker
    started = [cluster.worker("w0", beat=True, path_prefix=prefix)]

    def settled() -> bool:  # the supervisor: restart the worker whenever it dies
        if started[-1].proc.poll() is not None:
            started.append(cluster.worker(f"w{len(started)}", beat=True, path_prefix=prefix))
        return cluster.db.settled()

    wait_for(settled, 240, "all jobs to finish", cluster.logs)
    assert _only_poison_failed(cluster, 5).startswith(
        f"gave up after {cluster.settings.jobs.max_attempts} attempts: lease expired"
    )
    jobs = {j[0]: j for j in cluster.db.jobs()}
    assert sorted(j[2] for j in jobs.values() if j[1] == "done")[-1] <= 2
    assert len(started) - 1 == cluster.settings.jobs.max_attempts  # one crash per poison attempt
    assert "running it alone" in cluster.logs()


def test_embedded_beat_exits_when_its_worker_is_killed(cluster: Cluster) -> None:
    """``worker --beat`` runs beat as a child process; SIGKILL on the worker alone (as the
    kernel's OOM killer does) must not leave it scheduling on its own."""
    worker = cluster.worker("w", beat=True)
    wait_for(
        lambda: "beat: Starting" in worker.log() and len(worker.pids()) >= 2,
        60,
        "beat to start",
        cluster.logs,
    )
    others = worker.pids() - {worker.proc.pid}
    os.kill(worker.proc.pid, signal.SIGKILL)  # the main process only
    worker.proc.wait(10)
    wait_for(
        lambda: not (worker.pids() - {worker.proc.pid}),
        60,
        f"the worker's children {sorted(others)} to exit",
        cluster.logs,
    )


def test_four_concurrent_claimers_never_share_a_job(pg_url: str, tmp_path: Path) -> None:
    """Four claimers racing through the same 200 job ids (``claim_job``: ``FOR UPDATE SKIP
    LOCKED``, then the status check): every job is claimed once."""
    from sqlalchemy import insert, select

    from callscribe.models import Job, JobStatus, Recording, RecordingStatus, Source, SourceKind
    from callscribe.workers.results.store import claim_job

    factory = open_database(Settings(database_url=pg_url))
    with factory.begin() as s:
        src = Source(uri="file:///x", kind=SourceKind.LOCAL)
        s.add(src)
        s.flush()
        recs = [
            Recording(
                source_id=src.id,
                key=f"r{i}",
                uri=f"file:///x/r{i}",
                status=RecordingStatus.QUEUED,
                duration_s=10.0,
            )
            for i in range(200)
        ]
        s.add_all(recs)
        s.flush()
        s.execute(
            insert(Job),
            [
                {
                    "recording_id": r.id,
                    "seq": 0,
                    "start_s": 0.0,
                    "end_s": 10.0,
                    "status": JobStatus.QUEUED,
                }
                for r in recs
            ],
        )
    with factory.begin() as s:
        job_ids = list(s.scalars(select(Job.id).order_by(Job.id)))
    claimed: dict[str, list[int]] = {}
    barrier = threading.Barrier(4)

    def claimer(name: str) -> None:
        mine = claimed.setdefault(name, [])
        barrier.wait()
        for job_id in job_ids:
            if (spec := claim_job(factory, job_id, name, 60.0, 3)) is not None:
                mine.append(spec.job_id)

    threads = [threading.Thread(target=claimer, args=(f"c{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [j for ids in claimed.values() for j in ids]
    assert len(every) == 200 and len(set(every)) == 200
    assert sum(1 for ids in claimed.values() if ids) >= 2, "claims really were concurrent"


def test_pickle_message_is_refused_and_nothing_runs(cluster: Cluster, tmp_path: Path) -> None:
    folder = tmp_path / "calls"
    folder.mkdir()
    make_call(folder / "a.wav", [Turn(0, "Hello there.")], channels=1)
    from callscribe.scheduler.ingest import discover
    from callscribe.storage.sources import open_source

    factory = open_database(cluster.settings)
    discover(
        cluster.settings, factory, open_source(str(folder), cluster.settings.storage), "ingest"
    )
    [(job_id, status, _, _)] = cluster.db.jobs()
    assert status == "queued"
    cluster.set(jobs={"reconcile_interval_s": 3600.0})  # no healing pass re-sends it as JSON
    worker = cluster.worker("w")
    cluster.app.send_task(
        TRANSCRIBE_TASK, args=[job_id], queue=cluster.settings.queue.name, serializer="pickle"
    )
    refusals = ("ContentDisallowed", "disallowed", "Refusing to deserialize")
    wait_for(
        lambda: any(word in worker.log() for word in refusals),
        60,
        "the worker to refuse the pickle message",
        cluster.logs,
    )
    time.sleep(1)
    assert cluster.db.jobs() == [(job_id, "queued", 0, None)], cluster.logs()
    cluster.enqueuer.send([job_id])  # the same job as JSON runs fine
    cluster.wait_settled(timeout=60)
    assert cluster.db.recordings() == {"a.wav": ("done", None)}


def test_scheduler_side_imports_no_model_code() -> None:
    import subprocess
    import sys

    code = (
        "import sys, callscribe.cli, callscribe.scheduler.ingest, "
        "callscribe.scheduler.reconcile, callscribe.scheduler.enqueue, "
        "callscribe.broker, callscribe.tasks, "
        "callscribe.workers.results.finalize\n"
        "bad = [m for m in ('ctranslate2', 'faster_whisper', 'onnxruntime', 'torch') "
        "if m in sys.modules]\nprint(bad)\nsys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_ingest_cli_prints_the_run_id_and_enqueues(cluster: Cluster, tmp_path: Path) -> None:
    import subprocess
    import sys

    import redis

    folder = tmp_path / "calls"
    folder.mkdir()
    for i in range(3):
        make_call(folder / f"c{i}.wav", [Turn(0, "Hello.")], channels=1)
    done = subprocess.run(
        [sys.executable, "-m", "callscribe", "ingest", str(folder)],
        env=cluster.env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"  # the run id, alone on stdout
    assert "3 jobs enqueued" in done.stderr
    broker = cluster.settings.broker_url
    assert broker is not None
    index = int(broker.get_secret_value().rsplit("/", 1)[1])
    assert redis.Redis(host="127.0.0.1", port=6379, db=index).llen("callscribe") == 3
    assert cluster.enqueuer.queued_job_ids(30.0) == {1, 2, 3}
