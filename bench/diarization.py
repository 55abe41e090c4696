"""Who spoke, measured: the embedded run with the real tiny.en and the real speaker model
(CAM++ as ONNX) on one-channel recordings of several kinds, each scored against its exact
turns; the baseline is what callscribe did before diarization (every segment labelled with
the first label, ``diarization.enabled = false``), in the same run.

    .venv/bin/python bench/diarization.py [--calls 6] [--meetings 2] [--hard 2] [--seed 0]

Printed per kind: segment time on the right speaker (an instant both speak counts for
either), DER with a 0.25-s collar of the stored segments and of the speaker turns they
make (``scoring.speaker_turns``: a speaker's segments joined across pauses under 0.8 s,
as the reference turns run across them), calls whose agent was named right, voices
found; and the time spent telling speakers apart (measured around the step) as a share
of the run's wall time, on CPU.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import timed, write_results

from callscribe.demo.calls import make_real_call
from callscribe.demo.meeting import make_meeting, make_two_voice_call
from callscribe.demo.realmodels import real_model_dir
from callscribe.demo.scoring import (
    best_naming,
    diarization_error_rate,
    renamed,
    speaker_time,
    speaker_turns,
)
from callscribe.models import Recording
from callscribe.models.db import make_engine, session_factory
from callscribe.run import transcribe_source
from callscribe.settings import Settings
from callscribe.workers import job
from callscribe.workers.results.recordings import load_transcript
from callscribe.workers.speakers.model import speaker_model_file


def settings(work: Path, name: str, **diarization: Any) -> Settings:
    return Settings(
        database_url=f"sqlite:///{work / name}.db",
        model={"name": str(real_model_dir("tiny.en")), "device": "cpu"},
        decode={"beam_size": 5, "language": "en"},
        redaction={"mode": "off"},
        storage={"output": str(work / f"{name}-out")},
        diarization=diarization,
    )


def transcripts(config: Settings) -> dict[str, Any]:
    factory = session_factory(make_engine(config.database_url))
    with factory.begin() as session:
        keys = dict(session.query(Recording.key, Recording.id).all())
    return {key: load_transcript(factory, rid)[1] for key, rid in keys.items()}


def make_corpus(folder: Path, args: argparse.Namespace) -> dict[str, tuple[str, Any]]:
    """file name → (kind, reference turns)."""
    corpus: dict[str, tuple[str, Any]] = {}
    for i in range(args.calls):
        seed = args.seed + 100 + i
        call = make_real_call(
            folder / "calls" / f"mono_{i}.wav", seed=seed, layout="mono", minutes=args.minutes,
            overtalk=i % 2 == 1,
        )  # fmt: skip
        corpus[call.path.name] = ("mono call", call.turns)
    dual = make_real_call(
        folder / "calls" / "dual.mp3", seed=args.seed + 90, layout="dual_mono", fmt="mp3",
        minutes=args.minutes,
    )  # fmt: skip
    corpus[dual.path.name] = ("mono call", dual.turns)
    for i in range(args.hard):
        hard = make_two_voice_call(folder / "calls" / f"hard_{i}.wav", seed=args.seed + 200 + i)
        corpus[hard.path.name] = ("two male voices", hard.turns)
    for i in range(args.meetings):
        meeting = make_meeting(folder / "meetings" / f"meeting_{i}.wav", seed=args.seed + 300 + i)
        corpus[meeting.path.name] = ("4-voice meeting", meeting.turns)
    return corpus


def score(found: dict[str, Any], corpus: dict[str, tuple[str, Any]]) -> dict[str, dict[str, Any]]:
    kinds: dict[str, dict[str, Any]] = {}
    for key, (kind, turns) in corpus.items():
        segments = found.get(key, [])
        named = segments if kind != "4-voice meeting" else renamed(
            segments, best_naming(segments, turns)
        )  # fmt: skip
        row = kinds.setdefault(
            kind,
            {
                "files": 0,
                "right": [],
                "der": [],
                "turn_der": [],
                "confusion": [],
                "agent": 0,
                "voices": [],
            },
        )
        row["files"] += 1
        row["right"].append(speaker_time(named, turns))
        errors = diarization_error_rate(segments, turns)
        row["der"].append(errors["der"])
        row["confusion"].append(errors["confusion"])
        row["turn_der"].append(diarization_error_rate(speaker_turns(segments), turns)["der"])
        first = min(segments, key=lambda s: s.start) if segments else None
        row["agent"] += int(first is not None and first.speaker == "agent")
        row["voices"].append(len({s.speaker for s in segments}))
    return {
        kind: {
            "files": r["files"],
            "right_time": round(sum(r["right"]) / r["files"], 4),
            "worst_right_time": round(min(r["right"]), 4),
            "der": round(sum(r["der"]) / r["files"], 4),
            "confusion": round(sum(r["confusion"]) / r["files"], 4),
            "turn_der": round(sum(r["turn_der"]) / r["files"], 4),
            "agent_named": r["agent"],
            "voices_found": r["voices"],
        }
        for kind, r in kinds.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=6)
    parser.add_argument("--minutes", type=float, default=1.5)
    parser.add_argument("--hard", type=int, default=2)
    parser.add_argument("--meetings", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--window-s", type=float, default=None, help="diarization.window_s")
    parser.add_argument("--hop-s", type=float, default=None, help="diarization.hop_s")
    parser.add_argument("--model-dir", default=None, help="diarization.model_dir")
    parser.add_argument(
        "--precision", choices=("float", "int8"), default=None, help="diarization.precision"
    )
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args(argv)
    folder = Path(args.model_dir) if args.model_dir else None
    speaker_model_file(folder, args.precision or "float")  # built before timing
    with tempfile.TemporaryDirectory(prefix="callscribe-diarization-") as tmp:
        work = Path(tmp)
        (work / "calls").mkdir()
        (work / "meetings").mkdir()
        corpus = make_corpus(work, args)
        results: dict[str, Any] = {}
        real = job.tell_speakers
        tuned = {
            k: v
            for k, v in (
                ("window_s", args.window_s),
                ("hop_s", args.hop_s),
                ("model_dir", args.model_dir),
                ("precision", args.precision),
            )
            if v is not None
        }
        for mode, options in (("before", {"enabled": False}), ("after", tuned)):
            cpu: list[float] = []
            spent = timed(job, "tell_speakers", cpu)
            began = time.perf_counter()
            calls = settings(work, f"calls-{mode}", **options)
            transcribe_source(calls, str(work / "calls"))
            meetings = settings(work, f"meetings-{mode}", **{"speakers": "auto", **options})
            transcribe_source(meetings, str(work / "meetings"))
            wall = time.perf_counter() - began
            found = {**transcripts(calls), **transcripts(meetings)}
            results[mode] = {
                "kinds": score(found, corpus),
                "wall_s": round(wall, 1),
                "diarization_s": round(sum(spent), 2),
                "diarization_share": round(sum(spent) / wall, 4),
                "diarization_cpu_s": round(sum(cpu), 2),
            }
            job.tell_speakers = real  # type: ignore[assignment]
    table = markdown(results, args)
    write_results(args.out, "diarization", {"args": vars(args) | {"out": None}, **results}, table)
    return 0


def markdown(results: dict[str, Any], args: argparse.Namespace) -> str:
    lines = [
        f"{args.calls} mono calls ({args.minutes} min, half with overtalk) and a dual-mono MP3, "
        f"{args.hard} hard two-male-voice calls, {args.meetings} four-voice meetings; "
        "tiny.en int8, beam 5, CPU",
        "",
        "| kind | mode | segment time right | worst file | DER of segments | of it confusion "
        "| DER of speaker turns | agent named | voices found |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for kind in results["after"]["kinds"]:
        for mode in ("before", "after"):
            k = results[mode]["kinds"][kind]
            agent = "—" if kind == "4-voice meeting" else f"{k['agent_named']}/{k['files']}"
            lines.append(
                f"| {kind} | {mode} | {100 * k['right_time']:.1f} % | "
                f"{100 * k['worst_right_time']:.1f} % | {100 * k['der']:.1f} % | "
                f"{100 * k['confusion']:.1f} % | {100 * k['turn_der']:.1f} % | "
                f"{agent} | {k['voices_found']} |"
            )
    after = results["after"]
    lines += [
        "",
        f"telling speakers apart: {after['diarization_s']} s ({after['diarization_cpu_s']} "
        f"CPU-s) of {after['wall_s']} s wall ({100 * after['diarization_share']:.1f} %); "
        f"without it the run took {results['before']['wall_s']} s, so the CPU seconds are "
        f"{100 * after['diarization_cpu_s'] / results['before']['wall_s']:.1f} % of it",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
