"""The GPU benchmark's machinery, here on the CPU (issue 26 part 1).

No GPU is lent to CI, so what can be checked without one is checked: ``bash bench/gpu.sh
--dry-run`` runs every step as the lent machine would (preflight, the synthetic a/b/c
comparison, the batch and in-flight sweep, the real-model step) on tiny shapes, and the
carrying machinery (the base model in parts, joined and checked by SHA-256, each device call
within its carry limit) is run on the real base model's bytes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import gpu  # noqa: E402
import gpu_setup  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Path, str]:
    out = tmp_path_factory.mktemp("gpu-out")
    done = subprocess.run(
        ["bash", "bench/gpu.sh", "--dry-run"],
        cwd=ROOT,
        env={**os.environ, "OUT": str(out)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    return done.returncode, out, done.stdout + done.stderr


def test_dry_run_runs_every_step(dry_run: tuple[int, Path, str]) -> None:
    rc, out, log = dry_run
    assert rc == 0, log[-3000:]
    report = json.loads((out / "gpu-bench.json").read_text())
    assert {name: step["status"] for name, step in report["steps"].items()} == {
        "synthetic": "done",
        "sweep": "done",
        "real": "done",
    }
    synthetic = report["steps"]["synthetic"]
    assert [r["mode"] for r in synthetic["results"]] == ["a", "b", "c"]
    assert all(r["rtfx"] > 0 for r in synthetic["results"])
    assert synthetic["ratios"]["c/b"] > 0
    real = report["steps"]["real"]
    assert [r["mode"] for r in real["results"]] == ["a", "b", "c"]
    assert real["audio_s"] > 0


def test_sweep_times_each_setting_once_on_fresh_state(dry_run: tuple[int, Path, str]) -> None:
    """Batch sizes 2 and 4 and 1 and 2 jobs in flight each measured once; none found its
    recordings already done by an earlier run (which would make it absurdly fast)."""
    rc, out, log = dry_run
    assert rc == 0, log[-3000:]
    report = json.loads((out / "gpu-bench.json").read_text())
    rows = report["steps"]["sweep"]["results"]
    keys = [(r["batch_size"], r["in_flight"]) for r in rows]
    assert len(keys) == len(set(keys)), keys
    assert {2, 4} <= {size for size, _ in keys}
    assert {1, 2} <= {flight for _, flight in keys}
    default_c = report["steps"]["synthetic"]["results"][2]["rtfx"]
    for row in rows:  # same corpus, same model: within a few times of each other
        assert default_c / 5 < row["rtfx"] < default_c * 5, (row, default_c)
    assert report["best_c"]["rtfx"] == max(
        r["rtfx"]
        for s in ("synthetic", "sweep")
        for r in report["steps"][s]["results"]
        if r["mode"] == "c"
    )
    assert set(report["targets"]) == {"c/b >= 3", "RTFx >= 1000", "GPU busy >= 80 % during c"}


def test_dry_run_writes_preflight_facts_and_markdown(dry_run: tuple[int, Path, str]) -> None:
    rc, out, log = dry_run
    assert rc == 0, log[-3000:]
    facts = json.loads((out / "preflight.json").read_text())
    assert facts["ready"] and facts["verdict"] == "ready"
    assert facts["ffmpeg"] and facts["ffmpeg"].startswith("ffmpeg version")
    assert facts["ctranslate2"] == __import__("ctranslate2").__version__
    assert facts["smoke"]["ok"], facts["smoke"]
    assert set(facts["libraries"]) == set(gpu_setup.LIBRARIES)
    text = (out / "gpu-bench.md").read_text()
    assert "dry run" in text and "## sweep: done" in text and "## Targets" in text
    assert "$ per audio hour" in text


def test_preflight_names_what_a_cuda_machine_lacks() -> None:
    """On a machine without a GPU, the CUDA plan's preflight is not ready, and says why."""
    facts = {
        "gpu": None,
        "libraries": {name: [] for name in gpu_setup.LIBRARIES},
        "ffmpeg": None,
        "ffprobe": "ffprobe version 5",
        "smoke": {"ok": True},
        "packages": {"ctranslate2": "4.0", "faster_whisper": None, "av": None},
    }
    problems = gpu_setup._problems("cuda", facts)
    assert any("no GPU" in p for p in problems)
    assert any("libcublas.so.12" in p for p in problems)
    assert "ffmpeg is not on PATH" in problems
    assert any("faster-whisper is missing" in p for p in problems)
    assert not any("PyAV" in p or "av is missing" in p for p in problems)  # optional


def test_model_parts_join_and_are_checked(tmp_path: Path) -> None:
    """The base model split into carryable parts joins back to the pinned SHA-256 only once
    every part is here; a damaged part is refused and leaves no model behind."""
    part = 50 * 2**20
    parts = gpu_setup.split_model(tmp_path / "carry", part)
    assert len(parts) >= 3
    assert all(
        p.stat().st_size <= part
        for f in parts
        for p in f.iterdir()
        if p.name.startswith("model.bin.")
    )
    held = parts[-1] / next(parts[-1].glob("model.bin.*")).name
    aside = tmp_path / "aside"
    held.rename(aside)
    assert gpu_setup.join_model(tmp_path) == 0
    assert not (tmp_path / "model" / "base").exists()  # waits for the missing part
    aside.rename(held)
    assert gpu_setup.join_model(tmp_path) == 0
    from callscribe.demo.realmodels import BASE, real_model_dir, sha256

    joined = tmp_path / "model" / "base"
    assert {name: sha256(joined / name) for name in BASE} == BASE
    assert {p.name for p in joined.iterdir()} == {p.name for p in real_model_dir("base").iterdir()}

    import shutil

    shutil.rmtree(joined)
    with open(held, "r+b") as damaged:
        damaged.seek(1000)
        byte = damaged.read(1)
        damaged.seek(1000)
        damaged.write(bytes([byte[0] ^ 0xFF]))
    assert gpu_setup.join_model(tmp_path) == 1
    assert not joined.exists()


def test_carry_plan_keeps_each_call_within_the_limit(tmp_path: Path) -> None:
    parts = gpu_setup.split_model(tmp_path / "carry", gpu.CARRY_LIMIT - 2**20 * 8)
    (tmp_path / "calls").mkdir()
    (tmp_path / "calls" / "call.wav").write_bytes(b"\0" * 2**20 * 5)
    plan = gpu_setup.carry_plan(tmp_path, parts, gpu.CARRY_LIMIT)
    carried = [item for call in plan for item in call["carry"]]
    assert sorted(carried) == sorted(map(str, [tmp_path / "calls", *parts]))
    assert all(call["mib"] <= gpu.CARRY_LIMIT / 2**20 for call in plan)
    assert all(len(call["carry"]) <= 8 for call in plan)  # run's carry takes 8 paths
    assert all(call["command"].startswith("bash bench/gpu.sh stage") for call in plan)
    assert plan[-1]["command"].endswith("&& bash bench/gpu.sh")
    if len(plan) > 1:
        assert plan[0]["command"].endswith("preflight")
    with pytest.raises(SystemExit, match="cannot be carried"):
        gpu_setup.carry_plan(tmp_path, parts, 2**20 * 10)


def test_each_mode_is_kept_the_moment_it_is_measured(dry_run: tuple[int, Path, str]) -> None:
    """``--partial``: a step cut at its time limit still reports the modes it finished."""
    rc, out, log = dry_run
    assert rc == 0, log[-3000:]
    lines = (out / "synthetic" / "partial.jsonl").read_text().splitlines()
    report = json.loads((out / "gpu-bench.json").read_text())
    kept = [json.loads(line) for line in lines]
    assert [(k["mode"], k["rtfx"]) for k in kept] == [
        (r["mode"], r["rtfx"]) for r in report["steps"]["synthetic"]["results"]
    ]


def test_a_step_cut_short_still_reports_what_it_finished() -> None:
    import argparse

    row = {"batch_size": 8, "in_flight": None, "peak_gpu_mb": 900.0, "gpu_util_mean": 71.0}
    steps = {
        "synthetic": {
            "status": "timed out",
            "reason": "cut after 260 s, 2 modes finished",
            "results": [
                {**row, "mode": "a", "rtfx": 50.0, "batch_size": 1},
                {**row, "mode": "b", "rtfx": 200.0},
            ],
        },
        "sweep": {"status": "skipped", "reason": "no time left before the deadline"},
        "real": {"status": "failed", "reason": "exit 1"},
    }
    report = gpu.summarise(
        gpu.FULL, {"gpu": "H200"}, steps, argparse.Namespace(dry_run=False, gpu_hour_usd=3.5), 540.0
    )
    assert report["c/b"] is None and report["best_c"] is None
    assert not any(report["targets"].values())
    text = gpu.markdown(report)
    assert "## synthetic: timed out (cut after 260 s, 2 modes finished)" in text
    assert "| b | 8 |  | 200.0 | 900 | 71.0 | 0.0175 |" in text
    assert "## sweep: skipped" in text and "## real: failed (exit 1)" in text


_CLOSURE = """
import importlib.metadata, sys, tempfile
sys.path[:0] = [{bench!r}]
import throughput  # every module the benchmark's steps import
from callscribe.run import transcribe_source
from callscribe.settings import Settings
work = {work!r}
out = tempfile.mkdtemp()
settings = Settings(model={{"name": work + "/model", "device": "cpu", "compute_type": "int8"}},
                    database_url=f"sqlite:///{{out}}/x.db", storage={{"output": out + "/o"}},
                    insights={{"enabled": False}})  # as bench/throughput.py runs it
assert not transcribe_source(settings, work + "/calls").failed
owners = importlib.metadata.packages_distributions()
print(sorted({{d for m in {{n.split(".")[0] for n in sys.modules}}
               if m not in sys.stdlib_module_names for d in owners.get(m, [])}}))
"""


def _norm(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def test_everything_the_benchmark_imports_is_carried_or_on_the_device(
    dry_run: tuple[int, Path, str],
) -> None:
    """The GPU machine can fetch nothing: each package a run imports (a c run end to end
    included) must be in the carried wheels or the machine's image. Optional imports a
    package guards (billiard's cffi) are allowed to be absent there."""
    rc, _out, log = dry_run
    assert rc == 0, log[-3000:]
    code = _CLOSURE.format(
        bench=str(ROOT / "bench"), work=str(gpu.GPU / "work" / "dry" / "synthetic")
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    imported = {_norm(d) for d in eval(done.stdout.strip().splitlines()[-1])}
    there = {_norm(d) for d in (*gpu.WHEELS, *gpu.DEVICE_PACKAGES)}
    # this tree; PyAV shimmed; guarded by billiard; guarded by SQLAlchemy (asyncio only)
    optional = {"callscribe", "av", "cffi", "greenlet"}
    assert imported - there - optional == set()
    assert {"celery", "ctranslate2", "faster-whisper"} <= imported
