"""Shared pieces of the benchmarks: a synthetic corpus and the bare-engine baseline."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# the test helpers (synthetic calls, the random-weight model) live with the tests, in the
# package tests.support
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg2

from callscribe.media.probe import probe
from callscribe.settings import Settings, environment_for, merge_values
from callscribe.workers.audio.decode import decode
from callscribe.workers.audio.vad import clip_audio, pack_windows, speech_spans
from callscribe.workers.transcription.engine import WindowInput, get_engine
from tests.support.audio import AGENT_LINES, CUSTOMER_LINES, Turn, make_call


def make_corpus(
    folder: Path, calls: int, minutes: float | tuple[float, float], seed: int = 0
) -> float:
    """Stereo 8 kHz μ-law calls of ``minutes`` each (or drawn from a (low, high) range):
    speech turns alternating between agent and customer, now and then a pause or a hold
    tone. Returns the total audio seconds."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    total = 0.0
    for i in range(calls):
        length_s = 60 * (rng.uniform(*minutes) if isinstance(minutes, tuple) else minutes)
        turns: list[Turn] = []
        length = 0.0
        while length < length_s - 20:
            channel = sum(t.resolved_kind == "speech" for t in turns) % 2
            lines = AGENT_LINES if channel == 0 else CUSTOMER_LINES
            turns.append(Turn(channel, rng.choice(lines)))
            length += 3.5
            if rng.random() < 0.05:
                turns.append(Turn(0, seconds=8.0, kind="tone"))
                length += 8.0
            elif rng.random() < 0.05:
                turns.append(Turn(0, seconds=4.0))  # both sides quiet
                length += 4.0
        info = make_call(
            folder / f"call_{i:04d}.wav",
            turns,
            channels=2,
            sample_rate=8000,
            fmt="wav_mulaw",
            duration=length_s,
        )
        total += info.duration
    return total


def write_results(out: Path, stem: str, record: dict[str, Any], table: str) -> None:
    """A benchmark's figures as ``<stem>.json`` and ``<stem>.md`` under ``out``, and the
    table on stdout."""
    import json

    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(record, indent=2) + "\n")
    (out / f"{stem}.md").write_text(table)
    print()
    print(table)


def corpus_windows(
    settings: Settings,
    folder: Path,
    files: list[Path] | None = None,
    vad_seconds: list[float] | None = None,
) -> list[WindowInput]:
    """Every window of the corpus, cut exactly as the workers cut them. The seconds spent
    in VAD (not in decoding) are appended to ``vad_seconds`` when given."""
    vad = settings.vad
    windows: list[WindowInput] = []
    for path in files if files is not None else sorted(folder.iterdir()):
        info = probe(str(path))
        audio = decode(path, info.channels, codec=info.codec)
        for channel, samples in enumerate(audio.channels):
            began = time.perf_counter()
            packed = pack_windows(speech_spans(samples, vad), vad)
            if vad_seconds is not None:
                vad_seconds.append(time.perf_counter() - began)
            windows += [
                WindowInput(
                    (path.name, channel, w.start),
                    clip_audio(w, samples),
                    group=(path.name, channel),
                )
                for w in packed
            ]
    return windows


def time_engine(settings: Settings, windows: list[WindowInput]) -> float:
    """Seconds ``Engine.transcribe`` takes for ``windows`` (after one warm-up batch)."""
    engine = get_engine(settings)
    engine.transcribe(windows[: settings.execution.batch_size])
    began = time.perf_counter()
    engine.transcribe(windows)
    return time.perf_counter() - began


def engine_only(settings: Settings, folder: Path) -> tuple[float, int]:
    """Seconds the bare engine needs for every window of the corpus, and the window count."""
    windows = corpus_windows(settings, folder)
    return time_engine(settings, windows), len(windows)


#: The Redis database the distributed benchmarks use (flushed by ``cluster_values``).
BENCH_BROKER = "redis://127.0.0.1:6379/15"


def cluster_values(model_dir: Path, work: Path, database_url: str, **extra: Any) -> dict[str, Any]:
    """Settings (as keyword values, sections as dicts) for a benchmark cluster on CPU: the
    test model greedy in int8, English, the scratch database, and Redis database 15, which
    is flushed here. ``extra`` is merged over them."""
    import redis

    redis.Redis.from_url(BENCH_BROKER).flushdb()
    return merge_values(
        {
            "model": {"name": str(model_dir), "device": "cpu", "compute_type": "int8"},
            "decode": {"beam_size": 1, "language": "en"},
            "storage": {"output": str(work / "out")},
            "database_url": database_url,
            "broker_url": BENCH_BROKER,
        },
        extra,
    )


@contextmanager
def scratch_database(admin_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database on the server of ``admin_url``, dropped afterwards."""
    name = f"cs_bench_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(admin_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def spawn_worker(values: dict[str, Any], log_path: Path) -> subprocess.Popen[bytes]:
    """A ``callscribe worker`` subprocess configured by ``values`` (as CALLSCRIBE_* env),
    its output to ``log_path``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLSCRIBE_")}
    env.update(environment_for(values))
    return subprocess.Popen(
        [sys.executable, "-m", "callscribe", "worker", "--loglevel", "INFO"],
        env=env,
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
    )


def timed(module: Any, name: str, cpu: list[float] | None = None) -> list[float]:
    """Wrap ``module.name``; the list collects each call's seconds (and ``cpu``, when
    given, the CPU seconds of the calling thread in each call)."""
    spent: list[float] = []
    real: Callable[..., Any] = getattr(module, name)

    def measured(*args: Any, **kwargs: Any) -> Any:
        began, began_cpu = time.perf_counter(), time.thread_time()
        try:
            return real(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - began)
            if cpu is not None:
                cpu.append(time.thread_time() - began_cpu)

    setattr(module, name, measured)
    return spent
