"""What call metrics cost end to end: the real tiny.en model on CPU, real-voice stereo calls
with hold music and deliberate overtalk, one embedded run; inside it, the time spent in the
three places the metrics are made (measured around them): the loud-stretch scan of each
job's channels (``activity.loud_spans``, while the audio is decoded), the activity of each
channel from its words (``activity.activity_from_loud``), and the per-call figures at
finalize (``finalize.call_metrics``: reading the jobs' activity back and computing), as a
share of the run's wall time. The budget is 2 %.

    .venv/bin/python bench/call_metrics.py [--calls 6] [--minutes 2] [--out bench/results]
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
from callscribe.workers.results import finalize


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=6)
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args(argv)
    steps = {
        "loud_spans": timed(job, "loud_spans"),
        "activity_from_loud": timed(job, "activity_from_loud"),
        "call_metrics": timed(finalize, "call_metrics"),
    }
    with tempfile.TemporaryDirectory(prefix="callscribe-metrics-") as tmp:
        folder = Path(tmp) / "calls"
        folder.mkdir()
        for i in range(args.calls):
            make_real_call(
                folder / f"call_{i}.wav", seed=700 + i, minutes=args.minutes, overtalk=True
            )
        settings = Settings(
            database_url=f"sqlite:///{tmp}/cs.db",
            model={"name": str(real_model_dir("tiny.en")), "device": "cpu"},
            decode={"beam_size": 5, "language": "en"},
            storage={"output": f"{tmp}/out"},
        )
        began = time.perf_counter()
        summary = transcribe_source(settings, str(folder))
        wall = time.perf_counter() - began
    assert summary.done == args.calls, summary
    spent = {name: sum(times) for name, times in steps.items()}
    total = sum(spent.values())
    record = {
        "calls": args.calls,
        "audio_s": round(summary.audio_seconds, 1),
        "wall_s": round(wall, 2),
        **{f"{k}_s": round(v, 4) for k, v in spent.items()},
        "metrics_s": round(total, 4),
        "metrics_share_pct": round(100 * total / wall, 3),
    }
    table = "\n".join(
        [
            "| calls | audio | wall | loud scan | activity | per-call figures | metrics share |",
            "|---|---|---|---|---|---|---|",
            f"| {args.calls} | {record['audio_s']} s | {record['wall_s']} s | "
            f"{record['loud_spans_s']} s | {record['activity_from_loud_s']} s | "
            f"{record['call_metrics_s']} s | {record['metrics_share_pct']} % |",
        ]
    )
    write_results(args.out, "call_metrics", record, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
