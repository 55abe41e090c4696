"""A small harness for distributed tests: real ``callscribe worker`` processes (Celery,
prefork) against the real Redis and PostgreSQL, each in its own process group."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from callscribe.broker import make_celery
from callscribe.models import Job, JobStatus, Recording, RecordingStatus, Segment
from callscribe.models.db import make_engine, open_database, session_factory
from callscribe.scheduler.enqueue import CeleryEnqueuer
from callscribe.scheduler.ingest import ingest
from callscribe.scheduler.reconcile import reconcile
from callscribe.settings import Settings, environment_for, merge_values
from callscribe.workers.results.finalize import finalize_unfinished
from tests.support.audio import Turn, make_call


class Worker:
    """One ``callscribe worker`` subprocess; its log goes to a file."""

    def __init__(
        self, name: str, env: dict[str, str], log_dir: Path, extra: list[str] | None = None
    ) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("wb")
        args = [sys.executable, "-m", "callscribe", "worker", "--loglevel", "INFO"]
        self.proc = subprocess.Popen(
            args + (extra or []),
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def pids(self) -> set[int]:
        """The main process and its children (the prefork pool)."""
        found = {self.proc.pid}
        out = subprocess.run(
            ["pgrep", "-g", str(self.proc.pid)], capture_output=True, text=True, check=False
        ).stdout
        return found | {int(p) for p in out.split()}

    def signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)

    def stop(self, timeout: float = 30) -> int | None:
        if self.proc.poll() is None:
            self.signal_group(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal_group(signal.SIGKILL)
                self.proc.wait(10)
        self.signal_group(signal.SIGKILL)  # anything its death left behind
        self._log.close()
        return self.proc.returncode

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")


def worker_env(settings_env: dict[str, str], path_prefix: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLSCRIBE_")}
    env.update(settings_env)
    if path_prefix:
        env["PATH"] = path_prefix + os.pathsep + env["PATH"]
    return env


class Db:
    """Read-only probes of the test database."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self.factory = session_factory(self.engine)

    def job_counts(self) -> dict[str, int]:
        with self.factory.begin() as s:
            return {
                str(getattr(k, "value", k)): int(n)
                for k, n in s.execute(select(Job.status, func.count()).group_by(Job.status))
            }

    def running_jobs(self) -> list[tuple[int, str | None]]:
        with self.factory.begin() as s:
            return [
                (j, w)
                for j, w in s.execute(
                    select(Job.id, Job.worker).where(Job.status == JobStatus.RUNNING)
                )
            ]

    def settled(self) -> bool:
        """Every job finished and every recording finalized (a worker finalizes a recording
        just after storing its last job, so the two are not one instant)."""
        counts = self.job_counts()
        if not counts or counts.get("queued") or counts.get("running"):
            return False
        with self.factory.begin() as s:
            open_recordings = s.scalar(
                select(func.count())
                .select_from(Recording)
                .where(Recording.status.in_([RecordingStatus.QUEUED, RecordingStatus.RUNNING]))
            )
        return not open_recordings

    def recordings(self) -> dict[str, tuple[str, str | None]]:
        with self.factory.begin() as s:
            return {
                k: (str(getattr(st, "value", st)), e)
                for k, st, e in s.execute(select(Recording.key, Recording.status, Recording.error))
            }

    def jobs(self) -> list[tuple[int, str, int, str | None]]:
        with self.factory.begin() as s:
            return [
                (i, str(getattr(st, "value", st)), a, e)
                for i, st, a, e in s.execute(
                    select(Job.id, Job.status, Job.attempts, Job.error).order_by(Job.id)
                )
            ]

    def transcript(self) -> dict[str, list[tuple[Any, ...]]]:
        """Per recording key: its segments as comparable tuples, in order."""
        with self.factory.begin() as s:
            rows = s.execute(
                select(
                    Recording.key,
                    Segment.channel,
                    Segment.speaker,
                    Segment.start_s,
                    Segment.end_s,
                    Segment.text,
                )
                .join(Recording, Recording.id == Segment.recording_id)
                .order_by(Recording.key, Segment.channel, Segment.start_s)
            )
            out: dict[str, list[tuple[Any, ...]]] = {}
            for key, *rest in rows:
                out.setdefault(key, []).append(tuple(rest))
            return out

    def close(self) -> None:
        self.engine.dispose()


def embedded_transcript(
    corpus: Path, model_dir: Path, base: Path
) -> dict[str, list[tuple[Any, ...]]]:
    """The embedded run's transcript of ``corpus`` (SQLite under ``base``, the cluster's model
    and options): what a distributed run must store."""
    from callscribe.run import transcribe_source

    url = f"sqlite:///{base / 'ref.db'}"
    transcribe_source(Settings(**common_settings(model_dir, base), database_url=url), str(corpus))
    db = Db(url)
    try:
        return db.transcript()
    finally:
        db.close()


def wait_for(
    condition: Callable[[], bool],
    timeout: float,
    what: str,
    logs: Callable[[], str] = lambda: "",
    interval: float = 0.2,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{logs()[-6000:]}")


def common_settings(model_dir: Path, out: Path) -> dict[str, Any]:
    return {
        "model": {"name": str(model_dir), "device": "cpu", "compute_type": "int8"},
        "decode": {"beam_size": 1},
        "storage": {"output": str(out / "out")},
    }


class Cluster:
    """Settings shared by the test process (ingest, reconcile) and its workers."""

    def __init__(self, pg_url: str, redis_url: str, model_dir: Path, tmp: Path) -> None:
        self.tmp = tmp
        self.values: dict[str, Any] = merge_values(
            common_settings(model_dir, tmp),
            {
                "database_url": pg_url,
                "broker_url": redis_url,
                "jobs": {
                    "lease_s": 3.0,
                    "heartbeat_s": 0.5,
                    "reconcile_interval_s": 1.0,
                    "requeue_grace_s": 1.0,
                    "retry_delay_s": 0.5,
                },
                "model": {"cpu_threads": 1},
            },
        )
        self.settings = Settings(**self.values)
        self.app = make_celery(self.settings)
        self.enqueuer = CeleryEnqueuer(self.app, self.settings.queue.name)
        self.db = Db(pg_url)
        self.workers: list[Worker] = []

    def env(self, path_prefix: str | None = None) -> dict[str, str]:
        return worker_env(environment_for(self.values), path_prefix)

    def set(self, **changes: Any) -> None:
        """Change ``values`` (sections as dicts of fields) for the next workers and ingest."""
        self.values = merge_values(self.values, changes)

    def worker(
        self,
        name: str,
        beat: bool = False,
        path_prefix: str | None = None,
        extra: list[str] | None = None,
    ) -> Worker:
        """Start a worker, the schema migrated first (a worker refuses an old schema)."""
        open_database(Settings(**self.values)).kw["bind"].dispose()
        args = (["--beat"] if beat else []) + (extra or [])
        w = Worker(name, self.env(path_prefix), self.tmp, args)
        self.workers.append(w)
        return w

    def ingest(self, source: Path | str) -> int:
        """Ingest a folder or a source URI with the current ``values``."""
        self.settings = Settings(**self.values)
        return ingest(self.settings, str(source), self.enqueuer).jobs_enqueued

    def reconcile(self) -> Any:
        factory = open_database(self.settings)
        return reconcile(
            self.settings,
            factory,
            self.enqueuer,
            finalize=lambda: finalize_unfinished(self.settings, factory),
        )

    def logs(self) -> str:
        return "\n".join(f"==== {w.name}\n{w.log()[-3000:]}" for w in self.workers)

    def wait_settled(self, timeout: float = 240) -> None:
        wait_for(self.db.settled, timeout, "all jobs to finish", self.logs)

    def close(self) -> None:
        for w in self.workers:
            w.stop()
        self.db.close()


def poison_corpus(tmp_path: Path, good: int) -> Path:
    """``good`` stereo calls ok0.wav… and one mono poison.wav, in tmp_path/calls."""
    folder = tmp_path / "calls"
    folder.mkdir()
    for i in range(good):
        make_call(folder / f"ok{i}.wav", [Turn(0, "Thanks for calling."), Turn(1, "Hello.")])
    make_call(folder / "poison.wav", [Turn(0, "This one crashes the decoder.")], channels=1)
    return folder


def poison_ffmpeg(tmp_path: Path, crash: str = "kill -9 $PPID") -> str:
    """A directory (tmp_path/bin) whose ``ffmpeg``, put first on PATH, runs ``crash`` when
    decoding poison.wav (by default it kills the worker process that called it, as a crash
    in a native decoder in that process would) and is the real one otherwise."""

    directory = tmp_path / "bin"
    directory.mkdir(exist_ok=True)
    real = shutil.which("ffmpeg")
    script = directory / "ffmpeg"
    script.write_text(f"""#!/bin/sh
case "$*" in */calls/poison.wav*) {crash}; exit 1;; esac
exec {real} "$@"
""")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(directory)
