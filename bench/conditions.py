"""Accuracy and call metrics across the condition matrix (``callscribe.demo.conditions``):
per condition and seed, one stereo call; a (``WhisperModel.transcribe``), b
(``BatchedInferencePipeline``) and c (callscribe, embedded) on the same audio with the same
model; WER per condition and mode, the worst turn's recall, loops, and c's call-metric
errors against the truth. Run through ``bench/accuracy.py --conditions``:

    python bench/accuracy.py --conditions all --seeds 1,2,3
    python bench/accuracy.py --conditions echo,quiet_customer --seeds 1 --minutes 3
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from callscribe.demo.conditions import CONDITIONS, ConditionCall, make_condition_corpus
from callscribe.demo.matrix import metric_errors, stored_metrics
from callscribe.demo.scoring import (
    channel_pairs,
    corpus_wer,
    repetition_loops,
    turn_recall,
)
from callscribe.settings import Settings
from callscribe.workers.records import Segment

METRICS = ("agent_talk_s", "customer_talk_s", "hold_s", "overtalk_s", "ringing_s")


@dataclass(frozen=True)
class ConditionScore:
    condition: str
    mode: str
    wer: float
    worst_turn_recall: float
    loops: int
    wall_s: float


def conditions_from(arg: str) -> tuple[str, ...]:
    names = CONDITIONS if arg == "all" else tuple(n.strip() for n in arg.split(",") if n.strip())
    unknown = [n for n in names if n not in CONDITIONS]
    if unknown:
        raise SystemExit(f"--conditions: unknown {unknown}; known: all or {', '.join(CONDITIONS)}")
    return names


def run(args: Any, settings: Settings, runners: dict[str, Any]) -> dict[str, Any]:
    """Make the corpus, run the modes, score; returns the record to write."""
    names = conditions_from(args.conditions)
    seeds = [int(s) for s in args.seeds.split(",")]
    with tempfile.TemporaryDirectory(prefix="cs-conditions-") as tmp:
        work = Path(tmp)
        print("making condition corpus…", flush=True)
        calls = make_condition_corpus(work / "calls", names, seeds, minutes=args.minutes)
        for ref in (work / "calls").glob("*.ref.json"):
            ref.rename(work / ref.name)
        settings = settings.updated(
            database_url=f"sqlite:///{work / 'cs.db'}", storage={"output": str(work / "out")}
        )
        found: dict[str, dict[str, list[Segment]]] = {}
        walls: dict[str, float] = {}
        for mode in args.modes.split(","):
            if mode not in runners:
                continue
            began = time.perf_counter()
            found[mode] = runners[mode](settings, work / "calls", [c.call for c in calls])
            walls[mode] = round(time.perf_counter() - began, 2)
            print(f"  {mode}: {walls[mode]} s", flush=True)
        measured = stored_metrics(settings.database_url, calls) if "c" in found else {}
    scores = [score(name, mode, [c for c in calls if c.conditions.name == name], found[mode],
                    walls[mode]) for name in names for mode in found]  # fmt: skip
    errors = {
        c.call.name: metric_errors(c, measured[c.call.name])
        for c in calls
        if c.call.name in measured
    }
    audio_s = sum(c.call.duration for c in calls)
    return {
        "conditions": list(names),
        "seeds": seeds,
        "audio_s": round(audio_s, 1),
        "scores": [s.__dict__ for s in scores],
        "metric_errors": errors,
        "rtfx": {m: round(audio_s / w, 2) for m, w in walls.items()},
        "ratios": {m: round(walls[m] / walls["c"], 3) for m in walls if "c" in walls and m != "c"},
    }


def score(
    name: str,
    mode: str,
    calls: list[ConditionCall],
    found: dict[str, list[Segment]],
    wall: float,
) -> ConditionScore:
    pairs = [p for c in calls for p in channel_pairs(c.call, found.get(c.call.name, []))]
    recalls = [r for c in calls for _t, r in turn_recall(c.call, found.get(c.call.name, []))]
    return ConditionScore(
        name,
        mode,
        round(corpus_wer(pairs), 4),
        round(min(recalls), 3) if recalls else 0.0,
        sum(
            len(repetition_loops(found.get(c.call.name, []), said=c.call.reference()))
            for c in calls
        ),
        wall,
    )


def markdown(record: dict[str, Any]) -> str:
    modes = sorted({s["mode"] for s in record["scores"]})
    rows = [
        "| condition | "
        + " | ".join(f"{m} WER" for m in modes)
        + " | "
        + " | ".join(f"{m} worst turn" for m in modes)
        + " | loops ("
        + "/".join(modes)
        + ") |",
        "|---" * (2 * len(modes) + 2) + "|",
    ]
    for name in record["conditions"]:
        mine = {s["mode"]: s for s in record["scores"] if s["condition"] == name}
        rows.append(
            f"| {name} | "
            + " | ".join(f"{mine[m]['wer']:.1%}" for m in modes)
            + " | "
            + " | ".join(f"{mine[m]['worst_turn_recall']}" for m in modes)
            + " | "
            + "/".join(str(mine[m]["loops"]) for m in modes)
            + " |"
        )
    lines = [
        "\n".join(rows),
        "",
        "c's call-metric errors (measured − true, s):",
        "",
        "| call | " + " | ".join(METRICS) + " |",
        "|---" * (len(METRICS) + 1) + "|",
    ]
    for call, errs in sorted(record["metric_errors"].items()):
        lines.append(
            f"| {call} | "
            + " | ".join("-" if errs.get(k) is None else f"{errs[k]:+.1f}" for k in METRICS)
            + " |"
        )
    rtfx = ", ".join(f"{m} {v}" for m, v in record["rtfx"].items())
    ratios = ", ".join(f"c/{m} {v}" for m, v in record["ratios"].items())
    return "\n".join(lines) + f"\n\nRTFx: {rtfx}; {ratios}\n"
