"""The GPU benchmark in one command, for a lent machine that can fetch nothing (issue 26).

``bash bench/gpu.sh`` (this module, under the machine's own Python) runs, inside one
deadline (9 minutes by default):

1. ``preflight``: what the machine has: the GPU (``nvidia-smi``), CUDA 12's cuBLAS and
   cuDNN 9 (which CTranslate2's PyPI wheels load), ffmpeg/ffprobe, the Python packages, and a
   tiny random-weight model loaded and run on the device. Without a usable GPU or ffmpeg it
   stops here, the reason in ``preflight.json``;
2. ``synthetic``: ``bench/throughput.py`` modes a (``WhisperModel.transcribe`` per channel),
   b (``BatchedInferencePipeline`` per channel) and c (callscribe's worker engine end to end),
   float16, on 64 stereo calls of 3 minutes with a random-weight model at large-v3-turbo
   shapes;
3. ``sweep``: c alone at batch sizes 8-128, then at 4-16 jobs in flight, on the same corpus
   and model;
4. ``real``: a, b and c with the real multilingual base model on real-voice calls (made
   where flite is, and carried);

each mode with peak GPU memory and mean utilisation from ``nvidia-smi`` and its cost per
audio hour at ``--gpu-hour-usd``. Everything goes to ``$OUT`` (``gpu-bench.json``,
``gpu-bench.md`` and each step's own files). ``--dry-run`` runs the same steps on the CPU
with tiny shapes and 2 calls.

Getting there (``docs/benchmarks.md``, "GPU"): ``pack`` on a machine with PyPI and flite
writes ``.gpu/`` (wheels for Python 3.12, the calls, the base model in parts that each fit a
call's carry); ``stage`` on the GPU machine installs the wheels into ``.gpu/site`` and joins
the model once every part has arrived, checking its SHA-256.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
GPU = ROOT / ".gpu"
#: What one device call may send, working tree included (the device allows 64 MiB).
CARRY_LIMIT = 60 * 2**20
#: Packages the benchmark imports that the GPU machine's image lacks (``DEVICE_PACKAGES``);
#: celery and its own needs because settings check cron schedules with celery's parser.
WHEELS = (
    "ctranslate2",
    "faster-whisper",
    "SQLAlchemy",
    "alembic",
    "Mako",
    "pydantic",
    "pydantic_core",
    "pydantic-settings",
    "annotated-types",
    "typing-inspection",
    "python-dotenv",
    "psycopg2-binary",
    "pydub",
    "celery",
    "kombu",
    "vine",
    "amqp",
    "billiard",
    "tzlocal",
    "click-didyoumean",
    "click-repl",
    "click-plugins",
    "prompt_toolkit",
    "wcwidth",
)
#: What the GPU machine's image holds that the benchmark imports (the device tool's KINDS.md,
#: read 2026-11-17): not carried.
DEVICE_PACKAGES = (
    "numpy",
    "onnxruntime",
    "tokenizers",
    "huggingface-hub",
    "tqdm",
    "PyYAML",
    "click",
    "python-dateutil",
    "six",
    "typing_extensions",
    "MarkupSafe",
    "filelock",
    "fsspec",
    "packaging",
    "requests",
    "urllib3",
    "idna",
    "certifi",
    "charset-normalizer",
    "hf-xet",
    "httpx",
    "httpcore",
    "anyio",
    "h11",
    "Pygments",
    "setuptools",
    "flatbuffers",
    "protobuf",
    "sympy",
    "mpmath",
)

FULL = {
    "calls": 64,
    "minutes": "3",
    "shape": "large-v3-turbo",
    "device": "cuda",
    "compute": "float16",
    "sweep": "8,16,32,64,128",
    "in_flight": "4,8,16",
    "real_calls": 8,
    "real_minutes": 1.5,
}
DRY = {
    "calls": 2,
    "minutes": "0.5",
    "shape": "tiny",
    "device": "cpu",
    "compute": "int8",
    "sweep": "2,4",
    "in_flight": "1,2",
    "real_calls": 2,
    "real_minutes": 0.5,
}
#: Seconds each step may take at most (the deadline cuts them shorter).
STEP_LIMIT_S = {"synthetic": 260, "sweep": 170, "real": 100}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "action", nargs="?", default="run", choices=["run", "preflight", "pack", "stage"]
    )
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny shapes, 2 calls")
    parser.add_argument(
        "--out", type=Path, default=Path(os.environ.get("OUT") or ROOT / "bench/results/gpu")
    )
    parser.add_argument("--deadline-s", type=float, default=540.0)
    parser.add_argument("--gpu-hour-usd", type=float, default=3.50)
    parser.add_argument("--root", type=Path, default=GPU, help="pack/stage: the .gpu folder")
    parser.add_argument("--no-wheels", action="store_true", help="pack: calls and model only")
    args = parser.parse_args(argv)
    from gpu_setup import pack, stage

    if args.action == "pack":
        return pack(
            args.root,
            wheels=not args.no_wheels,
            wanted=WHEELS,
            calls=FULL["real_calls"],
            minutes=FULL["real_minutes"],
            carry_limit=CARRY_LIMIT,
        )
    if args.action == "stage":
        return stage(args.root)
    plan = DRY if args.dry_run else FULL
    args.out.mkdir(parents=True, exist_ok=True)
    found = preflight(plan, args.out)
    if args.action == "preflight" or not found["ready"]:
        print(f"preflight: {found['verdict']}")
        return 0 if found["ready"] else 3
    return run(args, plan, found)


def preflight(plan: dict[str, Any], out: Path) -> dict[str, Any]:
    """What the machine has, and whether the benchmark can run on it (``ready``)."""
    from gpu_setup import machine_facts

    facts = machine_facts(plan["device"], GPU / "work" / "preflight")
    (out / "preflight.json").write_text(json.dumps(facts, indent=2) + "\n")
    return facts


def run(args: argparse.Namespace, plan: dict[str, Any], found: dict[str, Any]) -> int:
    began = time.monotonic()
    deadline = began + args.deadline_s
    steps: dict[str, Any] = {}
    for name, command in step_commands(args, plan).items():
        steps[name] = run_step(name, command, args.out / name, deadline)
    report = summarise(plan, found, steps, args, time.monotonic() - began)
    (args.out / "gpu-bench.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "gpu-bench.md").write_text(markdown(report))
    print(markdown(report))
    return 0 if all(s["status"] == "done" for s in steps.values()) else 1


def step_commands(args: argparse.Namespace, plan: dict[str, Any]) -> dict[str, list[str]]:
    """The ``bench/throughput.py`` arguments of each step."""
    work = GPU / "work" / ("dry" if args.dry_run else "full")
    common = [
        "--device",
        plan["device"],
        "--compute-type",
        plan["compute"],
        "--gpu-hour-usd",
        str(args.gpu_hour_usd),
    ]
    synthetic = [
        *common,
        "--calls",
        str(plan["calls"]),
        "--minutes",
        plan["minutes"],
        "--shape",
        plan["shape"],
        "--work",
        str(work / "synthetic"),
    ]
    return {
        "synthetic": [*synthetic, "--modes", "a,b,c"],
        "sweep": [
            *synthetic,
            "--modes",
            "c",
            "--sweep",
            plan["sweep"],
            "--in-flight-sweep",
            plan["in_flight"],
        ],
        "real": [
            *common,
            "--model",
            str(real_model(args.dry_run)),
            "--beam-size",
            "5",
            "--calls-dir",
            str(real_calls(args.dry_run, plan, work)),
            "--work",
            str(work / "real"),
            "--modes",
            "a,b,c",
        ],
    }


def real_model(dry_run: bool) -> Path:
    """The multilingual base model: from its PyPI packages here, joined by ``stage``
    there."""
    if dry_run or not (GPU / "model" / "base" / "model.bin").is_file():
        from callscribe.demo.realmodels import real_model_dir

        return real_model_dir("base")
    return GPU / "model" / "base"


def real_calls(dry_run: bool, plan: dict[str, Any], work: Path) -> Path:
    """Real-voice calls: carried in ``.gpu/calls``, or (dry run) made here the same way."""
    if not dry_run and (GPU / "calls").is_dir():
        return GPU / "calls"
    from gpu_setup import make_calls

    folder = work / "calls"
    if not folder.is_dir():
        make_calls(folder, plan["real_calls"], plan["real_minutes"])
    return folder


def run_step(name: str, args: list[str], out: Path, deadline: float) -> dict[str, Any]:
    """One step as its own process (a crash or a hang loses only it), cut at its limit or
    the deadline; its figures from the JSON it wrote."""
    limit = min(STEP_LIMIT_S[name], deadline - time.monotonic())
    if limit < 20:
        return {"status": "skipped", "reason": "no time left before the deadline"}
    out.mkdir(parents=True, exist_ok=True)
    partial = out / "partial.jsonl"
    partial.unlink(missing_ok=True)
    command = [
        sys.executable,
        str(ROOT / "bench" / "throughput.py"),
        *args,
        "--out",
        str(out),
        "--partial",
        str(partial),
    ]
    print(f"== {name}: {' '.join(command[1:])}", flush=True)
    began = time.monotonic()
    try:
        done = subprocess.run(command, timeout=limit, cwd=ROOT)
    except subprocess.TimeoutExpired:
        finished = (
            [json.loads(line) for line in partial.read_text().splitlines()]
            if partial.is_file()
            else []
        )
        return {
            "status": "timed out",
            "reason": f"cut after {limit:.0f} s, {len(finished)} modes finished",
            "results": finished,
            "seconds": round(time.monotonic() - began, 1),
        }
    results = sorted(out.glob("throughput-*.json"))
    if done.returncode or not results:
        return {
            "status": "failed",
            "reason": f"exit {done.returncode}",
            "seconds": round(time.monotonic() - began, 1),
        }
    return {
        "status": "done",
        "seconds": round(time.monotonic() - began, 1),
        **json.loads(results[0].read_text()),
    }


def summarise(
    plan: dict[str, Any],
    found: dict[str, Any],
    steps: dict[str, Any],
    args: argparse.Namespace,
    seconds: float,
) -> dict[str, Any]:
    """Steps, machine and the issue's targets, met or not."""
    synthetic = steps["synthetic"]
    c_runs = [
        r for s in ("synthetic", "sweep") for r in steps[s].get("results", []) if r["mode"] == "c"
    ]
    best = max(c_runs, key=lambda r: r["rtfx"], default=None)
    first = {r["mode"]: r["rtfx"] for r in reversed(synthetic.get("results", []))}
    ratio = round(first["c"] / first["b"], 3) if first.get("b") and "c" in first else None
    targets = {
        "c/b >= 3": ratio is not None and ratio >= 3,
        "RTFx >= 1000": best is not None and best["rtfx"] >= 1000,
        "GPU busy >= 80 % during c": best is not None and (best["gpu_util_mean"] or 0) >= 80,
    }
    return {
        "dry_run": args.dry_run,
        "plan": plan,
        "seconds": round(seconds, 1),
        "machine": {k: found.get(k) for k in ("gpu", "python", "ctranslate2", "ffmpeg")},
        "steps": steps,
        "best_c": best,
        "c/b": ratio,
        "targets": targets,
        "gpu_hour_usd": args.gpu_hour_usd,
    }


def markdown(report: dict[str, Any]) -> str:
    plan = report["plan"]
    lines = [
        f"# GPU benchmark{' (dry run: CPU, tiny shapes)' if report['dry_run'] else ''}",
        "",
        f"{report['machine']['gpu'] or 'no GPU'} · Python {report['machine']['python']}"
        f" · CTranslate2 {report['machine']['ctranslate2']} · {report['seconds']} s in all"
        f" · {plan['calls']} calls of {plan['minutes']} min at {plan['shape']} shapes",
        "",
    ]
    for name, step in report["steps"].items():
        lines.append(
            f"## {name}: {step['status']}"
            + (f" ({step['reason']})" if step.get("reason") else "")
            + (f", {step['seconds']} s" if step.get("seconds") else "")
        )
        if step.get("results"):
            lines += ["", _table(step, report["gpu_hour_usd"])]
        lines.append("")
    lines += ["## Targets", ""]
    lines += [f"- {name}: {'met' if ok else 'not met'}" for name, ok in report["targets"].items()]
    best = report["best_c"]
    if best:
        cost = report["gpu_hour_usd"] / best["rtfx"] if best["rtfx"] else float("nan")
        lines.append(
            f"- best c: RTFx {best['rtfx']} at batch {best['batch_size']}, "
            f"{best['in_flight']} in flight: ${cost:.5f} per audio hour at "
            f"${report['gpu_hour_usd']}/GPU-hour"
        )
    return "\n".join(lines) + "\n"


def _table(step: dict[str, Any], usd_per_hour: float) -> str:
    rows = [
        "| mode | batch | in flight | RTFx | peak GPU MB | GPU busy % | $ per audio hour |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    costs = step.get("cost_per_audio_hour", {})
    for r in step["results"]:
        cost = costs.get(f"{r['mode']}-{r['batch_size']}-{r['in_flight']}") or (
            round(usd_per_hour / r["rtfx"], 5) if r["rtfx"] else None
        )
        rows.append(
            f"| {r['mode']} | {r['batch_size']} | {r['in_flight'] or ''} | {r['rtfx']} |"
            f" {'' if r['peak_gpu_mb'] is None else round(r['peak_gpu_mb'])} |"
            f" {'' if r['gpu_util_mean'] is None else r['gpu_util_mean']} |"
            f" {'' if cost is None else cost} |"
        )
    ratios = step.get("ratios", {})
    return "\n".join(rows) + (
        "\n\n" + " · ".join(f"{k} = {v}" for k, v in ratios.items()) if ratios else ""
    )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
