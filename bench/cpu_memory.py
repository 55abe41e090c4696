"""Where the model's CPU time goes besides arithmetic: page faults. The engine's model work
(``decode_batch``: encoder, beam search, temperature fallback, word alignment) on the
windows of real-voice calls, in batches of 8, in a fresh process per variant (malloc's
settings are per process):

- ``before``: one encoder call per batch, glibc's malloc as it comes (the engine until
  2026-12-02);
- ``per-window``: the encoder called once per window, malloc as it comes;
- ``callscribe``: per-window encoding and ``tune_allocator`` (the engine now, on CPU).

Prints wall, user and system seconds, minor page faults, and whether the text is the same
in all three (it must be).

    python bench/cpu_memory.py --calls 4 --minutes 3.5
"""

from __future__ import annotations

import argparse
import json
import pickle
import resource
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import write_results

VARIANTS = ("before", "per-window", "callscribe")


def windows_of(calls: int, minutes: float, seed: int) -> list[Any]:
    """Log-mel features of every window the pipeline cuts from the calls."""
    from faster_whisper.feature_extractor import FeatureExtractor

    from callscribe.demo.calls import make_real_corpus
    from callscribe.settings import Settings
    from callscribe.workers.audio.decode import decode
    from callscribe.workers.audio.vad import clip_audio, pack_windows, speech_spans

    vad = Settings().vad
    extract = FeatureExtractor()
    features = []
    with tempfile.TemporaryDirectory(prefix="cs-cpu-memory-") as tmp:
        for call in make_real_corpus(Path(tmp), calls, minutes=minutes, seed=seed):
            for samples in decode(call.path, call.channels).channels:
                for window in pack_windows(speech_spans(samples, vad), vad):
                    features.append(extract(clip_audio(window, samples))[..., :-1])
    return features


def run_variant(variant: str, features_file: Path, model_dir: Path, beam: int) -> dict[str, Any]:
    """In this (fresh) process: decode every window as the variant says."""
    import numpy as np
    from faster_whisper.tokenizer import Tokenizer
    from faster_whisper.transcribe import pad_or_trim

    from callscribe.settings import DecodeSection, ModelSection
    from callscribe.workers.transcription import decoding
    from callscribe.workers.transcription.engine import load_whisper

    features = pickle.loads(features_file.read_bytes())
    model = load_whisper(
        ModelSection(
            name=str(model_dir), device="cpu", cpu_threads=2, tune_allocator=variant == "callscribe"
        )
    )
    if variant == "before":
        decoding.encode_windows = lambda m, f: m.encode(np.stack(f))  # type: ignore[assignment]
    tokenizer = Tokenizer(model.hf_tokenizer, False, task="transcribe", language="en")
    options = DecodeSection(beam_size=beam, language="en")
    before = resource.getrusage(resource.RUSAGE_SELF)
    began = time.perf_counter()
    texts: list[str] = []
    for first in range(0, len(features), 8):
        batch = features[first : first + 8]
        texts += [
            d.text
            for d in decoding.decode_batch(
                model,
                tokenizer,
                [pad_or_trim(f) for f in batch],
                [f.shape[-1] for f in batch],
                options,
            )
        ]
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "variant": variant,
        "windows": len(features),
        "wall_s": round(wall, 2),
        "user_s": round(after.ru_utime - before.ru_utime, 1),
        "system_s": round(after.ru_stime - before.ru_stime, 1),
        "minor_faults": after.ru_minflt - before.ru_minflt,
        "text_crc": zlib.crc32("\n".join(texts).encode()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=4)
    parser.add_argument("--minutes", type=float, default=3.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--beam-size", type=int, default=5)
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--features", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args(argv)
    if args.variant:  # a child
        from callscribe.demo.realmodels import real_model_dir

        print(
            json.dumps(
                run_variant(args.variant, args.features, real_model_dir("tiny.en"), args.beam_size)
            )
        )
        return 0
    with tempfile.TemporaryDirectory(prefix="cs-cpu-memory-") as tmp:
        features_file = Path(tmp) / "features.pkl"
        features_file.write_bytes(pickle.dumps(windows_of(args.calls, args.minutes, args.seed)))
        rows = []
        for variant in VARIANTS:
            child = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--variant",
                    variant,
                    "--features",
                    str(features_file),
                    "--beam-size",
                    str(args.beam_size),
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            rows.append(json.loads(child.stdout.strip().splitlines()[-1]))
            print(rows[-1], flush=True)
    same = len({r["text_crc"] for r in rows}) == 1
    table = [
        "| variant | windows | wall s | user s | system s | minor faults |",
        "|---|---|---|---|---|---|",
    ]
    table += [
        f"| {r['variant']} | {r['windows']} | {r['wall_s']} | {r['user_s']} | "
        f"{r['system_s']} | {r['minor_faults']:,} |"
        for r in rows
    ]
    text = "\n".join(table) + f"\n\nsame text in every variant: {same}\n"
    write_results(
        args.out,
        "cpu-memory",
        {
            "calls": args.calls,
            "minutes": args.minutes,
            "beam_size": args.beam_size,
            "rows": rows,
            "same_text": same,
        },
        text,
    )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
