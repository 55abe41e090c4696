"""A worker's liveness comes from the worker (``callscribe.liveness``): a real ``callscribe
worker`` writes its time every ``ALIVE_EVERY_S`` while it runs, stops when the process is
frozen, and removes the file at a warm shutdown; ``callscribe worker --alive`` reads only
that file (no settings, database or broker), so an outage does not make a probe restart
the worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from callscribe.liveness import ALIVE_EVERY_S, ALIVE_MAX_AGE_S, alive_age, alive_line, write_alive
from tests.support.cluster import Cluster


def probe(path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CALLSCRIBE_")}
    return subprocess.run(
        [sys.executable, "-m", "callscribe", "worker", "--alive", "--alive-file", str(path)],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _written(path: Path) -> float | None:
    try:
        return float(path.read_text())
    except (OSError, ValueError):
        return None


def test_the_line_says_fresh_stale_or_missing(tmp_path: Path) -> None:
    path = tmp_path / "alive"
    assert alive_line(path) == (
        False,
        f"not alive: no worker has written {path} (not started yet, or gone)",
    )
    write_alive(path, now=time.time() - ALIVE_MAX_AGE_S - 30)
    ok, line = alive_line(path)
    assert not ok and "s ago (> 120 s)" in line
    write_alive(path)
    assert alive_line(path)[0] and (alive_age(path) or 0) < 5
    path.write_text("half")
    assert alive_age(path) is None


@pytest.mark.postgres
def test_a_real_worker_is_alive_until_frozen_or_stopped(cluster: Cluster, tmp_path: Path) -> None:
    path = tmp_path / "worker.alive"
    cluster.set(queue={"worker_pool": "threads"})
    worker = cluster.worker("alive", extra=["--alive-file", str(path)])
    deadline = time.monotonic() + 120
    while _written(path) is None and time.monotonic() < deadline:
        assert worker.proc.poll() is None, worker.log()
        time.sleep(0.5)
    first = _written(path)
    assert first is not None, worker.log()
    # the probe needs nothing but the file: not even a broker or database that answers
    done = probe(
        path,
        CALLSCRIBE_BROKER_URL="redis://127.0.0.1:1/0",
        CALLSCRIBE_DATABASE_URL="postgresql://nobody@127.0.0.1:1/x",
    )
    assert done.returncode == 0 and done.stdout.startswith("alive:"), done
    while _written(path) == first and time.monotonic() < deadline:
        time.sleep(1)
    second = _written(path)
    assert second is not None and second - first == pytest.approx(ALIVE_EVERY_S, abs=5)
    worker.signal_group(signal.SIGSTOP)  # stuck as a whole: nothing is written
    try:
        time.sleep(ALIVE_EVERY_S + 5)
        assert _written(path) == second
    finally:
        worker.signal_group(signal.SIGCONT)
    os.kill(worker.proc.pid, signal.SIGTERM)
    assert worker.proc.wait(60) == 0, worker.log()
    assert not path.exists()
    gone = probe(path)
    assert gone.returncode == 2 and "no worker has written" in gone.stderr, gone
