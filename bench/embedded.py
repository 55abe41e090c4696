"""Embedded-mode throughput: the whole pipeline against the bare engine on the same windows.

Generates a corpus of synthetic stereo 8 kHz calls, builds a random-weight model at a real
shape (decoding a fixed number of tokens per window), then, in one process and one run:

* ``engine``: decode + VAD every call first (untimed), then time only ``Engine.transcribe``
  over all the windows — what the model alone costs;
* ``embedded``: ``callscribe.run.transcribe_source`` on a fresh SQLite database — listing,
  probing, planning, decoding, VAD, the model, database writes and exports.

Prints audio seconds per wall second for both and the ratio embedded / engine, and writes a
JSON record. Usage::

    .venv/bin/python bench/embedded.py --calls 12 --minutes 3 --shape tiny
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from common import engine_only, make_corpus

from callscribe.run import transcribe_source
from callscribe.settings import Settings
from tests.support.model import build_whisper_model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=12)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--shape", default="tiny")
    parser.add_argument("--tokens", type=int, default=100, help="tokens per 30-s window")
    parser.add_argument("--compute-type", default="int8")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--beam-size", type=int, default=1)
    parser.add_argument("--json", type=Path, default=Path("bench/results/embedded.json"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cs-bench-") as tmp:
        work = Path(tmp)
        audio_s = make_corpus(work / "calls", args.calls, args.minutes)
        model = build_whisper_model(work / "model", shape=args.shape, tokens_per_window=args.tokens)
        settings = Settings(
            database_url=f"sqlite:///{work / 'bench.db'}",
            model={"name": str(model), "device": args.device, "compute_type": args.compute_type},
            execution={"batch_size": args.batch_size},
            decode={"beam_size": args.beam_size, "language": "en"},
            storage={"output": str(work / "out")},
        )
        engine_s, n_windows = engine_only(settings, work / "calls")
        began = time.perf_counter()
        summary = transcribe_source(settings, str(work / "calls"))
        embedded_s = time.perf_counter() - began
    result = {
        "calls": args.calls,
        "minutes": args.minutes,
        "audio_s": round(audio_s, 1),
        "shape": args.shape,
        "tokens_per_window": args.tokens,
        "device": args.device,
        "compute_type": args.compute_type,
        "batch_size": args.batch_size,
        "beam_size": args.beam_size,
        "windows": n_windows,
        "engine_s": round(engine_s, 2),
        "embedded_s": round(embedded_s, 2),
        "engine_rtfx": round(audio_s / engine_s, 1),
        "embedded_rtfx": round(audio_s / embedded_s, 1),
        "ratio_embedded_over_engine": round(engine_s / embedded_s, 3),
        "failed": len(summary.failed),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    for key, value in result.items():
        print(f"{key:28s} {value}")
    return 0 if not summary.failed else 1


if __name__ == "__main__":
    sys.exit(main())
