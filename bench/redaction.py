"""What redaction costs end to end: the real tiny.en model on CPU, real-voice calls (half of
them reading a card number, a phone number and an e-mail address), the embedded run twice
on the same calls, ``redaction = off`` then ``mask``; and, inside the ``mask`` run, the time
spent in the redaction step itself (measured around it), as a share of the run's wall time.

    .venv/bin/python bench/redaction.py [--calls 6] [--out bench/results]

The step's own share is the figure to compare with the 5 % budget: two runs of the same
work on this VM differ by more than 5 % from noise alone, so the wall-time difference is
printed for reference, not as the result.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import timed, write_results

from callscribe.demo.calls import make_real_call
from callscribe.demo.realmodels import real_model_dir
from callscribe.run import transcribe_source
from callscribe.settings import Settings
from callscribe.workers import job


def run(folder: Path, work: Path, mode: str) -> tuple[float, float]:
    """(wall seconds, audio seconds) of one embedded run."""
    settings = Settings(
        database_url=f"sqlite:///{work}.db",
        model={"name": str(real_model_dir("tiny.en")), "device": "cpu"},
        decode={"beam_size": 5, "language": "en"},
        redaction={"mode": mode},
        storage={"output": str(work)},
    )
    began = time.perf_counter()
    summary = transcribe_source(settings, str(folder))
    return time.perf_counter() - began, summary.audio_seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=6)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="callscribe-redaction-") as tmp:
        folder = Path(tmp) / "calls"
        folder.mkdir()
        for i in range(args.calls):
            make_real_call(
                folder / f"call_{i}.wav",
                seed=500 + i,
                card_number=i % 2 == 0,
                email=i % 2 == 0,
                minutes=1.5,
            )
        off_s, audio_s = run(folder, Path(tmp) / "off", "off")
        spent = timed(job, "redact_windows")
        mask_s, _ = run(folder, Path(tmp) / "mask", "mask")
    step_s = sum(spent)
    record = {
        "calls": args.calls,
        "audio_s": round(audio_s, 1),
        "wall_off_s": round(off_s, 2),
        "wall_mask_s": round(mask_s, 2),
        "redaction_step_s": round(step_s, 4),
        "redaction_step_share_pct": round(100 * step_s / mask_s, 3),
        "wall_difference_pct": round(100 * (mask_s - off_s) / off_s, 1),
    }
    table = "\n".join(
        [
            "| calls | audio | wall, off | wall, mask | redaction step | step share | wall Δ |",
            "|---|---|---|---|---|---|---|",
            f"| {args.calls} | {record['audio_s']} s | {record['wall_off_s']} s | "
            f"{record['wall_mask_s']} s | {record['redaction_step_s']} s | "
            f"{record['redaction_step_share_pct']} % | {record['wall_difference_pct']} % |",
        ]
    )
    write_results(args.out, "redaction", record, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
