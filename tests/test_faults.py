"""The fault suite: two real ``callscribe worker`` processes on the real PostgreSQL and Redis,
a fault injected mid-run, and nobody running ``callscribe reconcile``. Pass: every good
recording done and every bad one failed within a bounded time, the transcript the embedded
run gives (so no duplicate segments), hours metered once, every export present and
complete, and no traceback in the workers' logs for an expected outage.

PostgreSQL "stops" by a proxy in front of it being cut (connections reset, new ones
refused); Redis "restarts without persistence" by its database being flushed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from callscribe.models import CostHourly, Job, JobStatus, Recording, RecordingStatus, Run
from callscribe.settings import environment_for
from tests.support.audio import Turn, make_call, make_demo_corpus
from tests.support.cluster import Cluster, Db, embedded_transcript, wait_for, worker_env
from tests.support.proxy import CuttableProxy

#: How long PostgreSQL stays away (``FAULTS_OUTAGE_S=60`` for the issue's minute).
OUTAGE_S = float(os.environ.get("FAULTS_OUTAGE_S", "8"))
#: Seconds a fault may take to heal once the service is back (a few healing intervals of
#: the cluster's 1 s, plus the work left).
HEAL_S = 120


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 calls of which 2 are bad files."""
    folder = tmp_path_factory.mktemp("faults")
    make_demo_corpus(folder, n=12, corrupt=2, seed=5)
    return folder


@pytest.fixture(scope="module")
def reference(
    corpus: Path, model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, list[tuple[Any, ...]]]:
    """The embedded run's transcript of the corpus (SQLite, same model and options)."""
    return embedded_transcript(corpus, model_dir, tmp_path_factory.mktemp("faults-reference"))


def assert_healed(
    cluster: Cluster,
    reference: dict[str, list[tuple[Any, ...]]],
    bad: int = 2,
    s3: Any = None,
    tracebacks: bool = False,
) -> None:
    """Every good recording done with the embedded transcript and its exports, every bad
    one failed with a reason, hours metered once, nothing traced back in the logs."""
    recordings = cluster.db.recordings()
    done = {k for k, (status, _e) in recordings.items() if status == "done"}
    failed = {k: e for k, (status, e) in recordings.items() if status == "failed"}
    assert len(recordings) == len(done) + len(failed), recordings
    assert len(failed) == bad and all(failed.values()), failed
    assert cluster.db.transcript() == {k: v for k, v in reference.items() if k in done}
    assert {k for k in reference if reference[k]} <= done
    with cluster.db.factory.begin() as s:
        metered_h = s.scalar(select(func.sum(CostHourly.audio_hours))) or 0.0
        jobs_s = (
            s.scalar(select(func.sum(Job.audio_seconds)).where(Job.status == JobStatus.DONE)) or 0.0
        )
        exports = [
            rec.meta.get("exports", [])
            for rec in s.scalars(select(Recording).where(Recording.status == RecordingStatus.DONE))
        ]
    assert metered_h * 3600 == pytest.approx(jobs_s, rel=1e-6, abs=1e-3)
    for written in exports:
        assert written, "a done recording lists its exports"
        for path in written:
            body = _read_export(path, s3)
            assert body, path
            if path.endswith(".json"):
                json.loads(body)  # complete, not cut off
    for worker in cluster.workers:
        assert tracebacks or "Traceback" not in worker.log(), worker.log()[-4000:]


def _read_export(path: str, s3: Any) -> bytes:
    if path.startswith("s3://"):
        bucket, key = path[5:].split("/", 1)
        return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    return Path(path).read_bytes()


def _settled_or_failed(db: Db) -> bool:
    counts = db.job_counts()
    if not counts or counts.get("queued") or counts.get("running"):
        return False
    with db.factory.begin() as s:
        open_ones = s.scalar(
            select(func.count())
            .select_from(Recording)
            .where(Recording.status.notin_([RecordingStatus.DONE, RecordingStatus.FAILED]))
        )
    return not open_ones


def _wait_healed(cluster: Cluster, since: float, what: str) -> float:
    """Wait until everything is finished; seconds from ``since`` (the service's return)."""
    wait_for(lambda: _settled_or_failed(cluster.db), HEAL_S, what, cluster.logs)
    took = time.monotonic() - since
    print(f"\n{what}: healed {took:.1f} s after the service returned")
    return took


def test_postgres_stopped_mid_run_heals_without_reconcile(
    cluster: Cluster, corpus: Path, reference: dict[str, Any]
) -> None:
    """The database goes away (8 s) while two workers run: workers that cannot claim do
    not drain the queue (they hand messages back and back off), running jobs are handed
    back with one warning, and everything finishes once it returns."""
    proxy = CuttableProxy("127.0.0.1", 5432)
    cluster.set(database_url=proxy.url(cluster.settings.database_url))
    cluster.ingest(corpus)
    for name in ("a", "b"):
        cluster.worker(name)
    wait_for(
        lambda: cluster.db.job_counts().get("done", 0) >= 2, 120, "some progress", cluster.logs
    )
    proxy.cut()
    time.sleep(OUTAGE_S)
    queued_in_db = cluster.db.job_counts().get("queued", 0)
    proxy.restore()
    assert queued_in_db > 0, "the outage came too late to test anything"
    _wait_healed(cluster, time.monotonic(), f"PostgreSQL stopped {OUTAGE_S:.0f} s")
    assert_healed(cluster, reference)
    logs = cluster.logs()
    assert "unreachable" in logs  # the outage was seen, and said so in one line
    proxy.close()


def test_redis_flushed_heals_without_reconcile(
    cluster: Cluster, corpus: Path, reference: dict[str, Any], redis_url: str
) -> None:
    """Every queued message is lost (a Redis restart without persistence) before any worker
    runs: the workers' healing pass sends the jobs again within an interval."""
    import redis

    cluster.ingest(corpus)
    index = int(redis_url.rsplit("/", 1)[1])
    redis.Redis(host="127.0.0.1", port=6379, db=index).flushdb()
    assert not cluster.enqueuer.queued_job_ids(1.0)
    back = time.monotonic()
    for name in ("a", "b"):
        cluster.worker(name)
    _wait_healed(cluster, back, "Redis flushed")
    assert_healed(cluster, reference)


def test_exports_blocked_are_export_failed_then_heal(
    cluster: Cluster, corpus: Path, reference: dict[str, Any]
) -> None:
    """The output directory cannot be written while jobs finish: their recordings are
    ``export_failed`` with the reason (``status`` counts them, ``reconcile`` exits 1); once
    it can be written the healing pass writes every export."""
    out = Path(cluster.settings.storage.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("a file where the output directory should be")
    cluster.set(exports={"retry_delay_s": 0.5, "max_attempts": 1000})
    cluster.ingest(corpus)
    for name in ("a", "b"):
        cluster.worker(name)
    wait_for(
        lambda: {s for s, _e in cluster.db.recordings().values()} <= {"export_failed", "failed"},
        HEAL_S,
        "every job to run",
        cluster.logs,
    )
    recordings = cluster.db.recordings()
    stuck = {k: e for k, (s, e) in recordings.items() if s == "export_failed"}
    assert stuck and all(e and e.startswith("exports failed: ") for e in stuck.values())
    env = cluster.env()
    status = _cli(["status"], env)
    assert status.returncode == 0 and "export_failed" in status.stdout
    reconcile = _cli(["reconcile"], env)
    assert reconcile.returncode == 1, reconcile.stdout + reconcile.stderr
    assert "could not be finished" in reconcile.stderr
    out.unlink()
    _wait_healed(cluster, time.monotonic(), "output directory blocked")
    assert_healed(cluster, reference)


def test_s3_down_while_exporting_is_export_failed_then_heals(
    cluster: Cluster, corpus: Path, reference: dict[str, Any], s3: Any, s3_endpoint: str
) -> None:
    """The object store that takes the exports is away while every job finishes (a proxy
    to moto's S3 server, cut): each recording is ``export_failed``; once S3 is back the
    healing pass uploads every export."""
    host, port = s3_endpoint.rsplit("/", 1)[1].split(":")
    proxy = CuttableProxy(host, int(port))
    cluster.set(
        storage={
            "output": f"s3://{s3.bucket_name}/out",
            "s3_endpoint_url": proxy.url(s3_endpoint),
            "s3_region": "us-east-1",
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        },
        exports={"retry_delay_s": 0.5, "max_attempts": 1000},
    )
    cluster.ingest(corpus)
    proxy.cut()
    for name in ("a", "b"):
        cluster.worker(name)
    wait_for(
        lambda: {s for s, _e in cluster.db.recordings().values()} <= {"export_failed", "failed"},
        HEAL_S,
        "every job to run",
        cluster.logs,
    )
    stuck = [e for s, e in cluster.db.recordings().values() if s == "export_failed"]
    assert stuck and all(e and "exports failed" in e for e in stuck)
    proxy.restore()
    _wait_healed(cluster, time.monotonic(), "S3 down while exporting")
    assert_healed(cluster, reference, s3=s3)
    proxy.close()


def test_redis_connection_cut_mid_run_heals(
    cluster: Cluster, corpus: Path, reference: dict[str, Any], redis_url: str
) -> None:
    """Redis goes away for 5 s mid-run and comes back with its data (a restart with
    persistence): Celery reconnects, and what the cut interrupted is re-queued by lease
    expiry and the healing pass."""
    proxy = CuttableProxy("127.0.0.1", 6379)
    cluster.set(broker_url=proxy.url(redis_url))
    cluster.ingest(corpus)
    for name in ("a", "b"):
        cluster.worker(name)
    wait_for(
        lambda: cluster.db.job_counts().get("done", 0) >= 2, 120, "some progress", cluster.logs
    )
    proxy.cut()
    time.sleep(5)
    proxy.restore()
    _wait_healed(cluster, time.monotonic(), "Redis away 5 s")
    assert_healed(cluster, reference, tracebacks=True)  # Celery's own reconnect logs
    proxy.close()


def test_ingest_with_the_broker_away_leaves_nothing_to_repair(
    cluster: Cluster, corpus: Path, reference: dict[str, Any]
) -> None:
    """The broker goes away while ``ingest`` sends its first jobs (the command checks it
    first, so it was there at the start): the run is finished with the reason, what it
    planned stays queued, and the next ingest sends all of it with its own jobs."""
    from callscribe.broker import make_celery
    from callscribe.errors import outage
    from callscribe.scheduler.enqueue import CeleryEnqueuer
    from callscribe.scheduler.ingest import ingest

    away = cluster.settings.updated(broker_url="redis://127.0.0.1:9/0")
    with pytest.raises(Exception) as stopped:
        ingest(away, str(corpus), CeleryEnqueuer(make_celery(away), away.queue.name))
    assert outage(stopped.value, only="broker"), stopped.value
    with cluster.db.factory.begin() as s:
        runs = list(s.execute(select(Run.finished_at, Run.error)))
        queued = s.scalar(
            select(func.count()).select_from(Job).where(Job.status == JobStatus.QUEUED)
        )
    assert len(runs) == 1 and runs[0][0] is not None
    assert runs[0][1] and runs[0][1].startswith("stopped: the broker is unreachable")
    assert queued  # planned, never sent
    time.sleep(1.2)  # past the grace a message has to reach the broker
    sent = cluster.ingest(corpus)
    with cluster.db.factory.begin() as s:
        planned = s.scalar(select(func.count()).select_from(Job))
    assert sent == planned  # this run's jobs and the ones the failed run left
    for name in ("a", "b"):
        cluster.worker(name)
    _wait_healed(cluster, time.monotonic(), "ingest with the broker away")
    assert_healed(cluster, reference)


def test_a_worker_with_a_wrong_database_url_exits_2_and_takes_nothing(
    cluster: Cluster, corpus: Path, pg_admin: Any
) -> None:
    """A worker that cannot reach its database, or finds an old schema, says so in one line
    and exits 2 before it takes a message; ``worker --check`` is the readiness probe."""
    cluster.ingest(corpus)
    waiting = len(cluster.enqueuer.queued_job_ids(60.0) or ())
    assert waiting
    env = cluster.env()
    wrong = dict(env, CALLSCRIBE_DATABASE_URL="postgresql://postgres@127.0.0.1:9/test")
    result = _cli(["worker"], wrong)
    assert result.returncode == 2
    assert _one_line(result.stderr).startswith("error: the database is unreachable")
    with pg_admin.cursor() as cur:
        cur.execute("CREATE DATABASE callscribe_empty_check")
    try:
        empty = dict(
            env,
            CALLSCRIBE_DATABASE_URL="postgresql://postgres@127.0.0.1:5432/callscribe_empty_check",
        )
        result = _cli(["worker", "--check"], empty)
        assert result.returncode == 2
        assert "callscribe db upgrade" in _one_line(result.stderr)
    finally:
        with pg_admin.cursor() as cur:
            cur.execute("DROP DATABASE callscribe_empty_check")
    assert len(cluster.enqueuer.queued_job_ids(60.0) or ()) == waiting  # nothing drained
    ready = _cli(["worker", "--check"], env)
    assert ready.returncode == 0 and ready.stdout.startswith("ready: database schema at ")


#: Each command that needs the database (d) or the broker (b), with the services it needs.
COMMANDS = [
    (["ingest", "{folder}"], "db"),
    (["reconcile"], "db"),
    (["worker", "--check"], "db"),
    (["retry", "--failed"], "db"),
    (["report"], "d"),
    (["status"], "d"),
    (["search", "hello"], "d"),
    (["transcribe", "{folder}"], "d"),
]


@pytest.mark.parametrize(
    ("command", "fault"),
    [
        (command, fault)
        for command, needs in COMMANDS
        for fault in ("database", "broker")
        if fault[0] in needs
    ],
    ids=lambda v: v if isinstance(v, str) else "-".join(v),
)
def test_every_command_says_one_line_and_exits_2_when_a_service_is_away(
    command: list[str], fault: str, pg_url: str, redis_url: str, tmp_path: Path
) -> None:
    """A bad database or broker URL (nothing listening there) is one line naming it and exit
    code 2, for every command that needs it; ``callscribe -v`` adds the traceback."""
    from callscribe.models.db import upgrade

    folder = tmp_path / "calls"
    folder.mkdir()
    make_call(folder / "a.wav", [Turn(0, "Hello.")], channels=1)
    upgrade(pg_url)  # the schema is current: only the service at fault is wrong
    urls = {"database_url": pg_url, "broker_url": redis_url}
    urls[f"{fault}_url"] = (
        "postgresql://postgres@127.0.0.1:9/test" if fault == "database" else "redis://127.0.0.1:9/0"
    )
    env = worker_env(environment_for({**urls, "storage": {"output": str(tmp_path / "out")}}))
    args = [a.format(folder=folder) for a in command]
    result = _cli(args, env)
    assert result.returncode == 2, (result.stdout, result.stderr)
    line = _one_line(result.stderr)
    assert line.startswith(f"error: the {fault} "), line
    assert "Traceback" not in result.stderr
    verbose = _cli(["-v", *args], env)
    assert verbose.returncode == 2 and "Traceback" in verbose.stderr


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "callscribe", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]
