"""Accuracy and speed on real speech: one process, one run, the same calls and model through
(a) ``WhisperModel.transcribe`` per channel, (b) ``BatchedInferencePipeline.transcribe`` per
channel, (c) callscribe end to end (embedded run, model loading and start-up on its clock).

The calls are made by ``callscribe.demo.calls`` (scripted dialogues spoken by flite and
espeak-ng voices, agent and customer on their own channels, hold music, line noise, 8 kHz
μ-law). Prints and writes (JSON and markdown, under ``--out``) per mode: WER (Whisper's
English normalizer, jiwer), dialogue WER (both channels in time order against the turns),
the share of segments inside one true turn of their speaker (±1 s), words emitted during
hold music or silence, the worst turn's word recall, repetition loops, and RTFx.

    python bench/accuracy.py --calls 8 --minutes 3.5            # tiny.en from its package
    python bench/accuracy.py --model base --calls 4             # the multilingual base model
    python bench/accuracy.py --model /models/whisper-small-ct2  # any CTranslate2 directory
    python bench/accuracy.py --modes a,b,c,bt  # bt: b rerun with callscribe's malloc settings
    python bench/accuracy.py --conditions all --seeds 1,2,3  # the condition matrix

On a CPU, callscribe's engine tunes glibc's malloc for the process
(``workers.transcription.allocator``).
a and b run before c, as a user's program would run them; ``bt`` runs b again afterwards,
in the tuned process, to show how much of c's lead is that setting.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import write_results

from callscribe.demo.calls import RealCall, make_real_corpus
from callscribe.demo.realmodels import real_model_dir
from callscribe.demo.scoring import (
    channel_pairs,
    corpus_wer,
    dialogue_wer,
    from_faster_whisper,
    repetition_loops,
    segments_in_turn,
    stored_segments,
    turn_recall,
    words_outside_speech,
)
from callscribe.run import transcribe_source
from callscribe.settings import Settings
from callscribe.workers.records import Segment
from callscribe.workers.transcription.allocator import tune_allocator
from callscribe.workers.transcription.engine import cpu_threads, unload_engines

Transcripts = dict[str, list[Segment]]


@dataclass(frozen=True)
class ModeScore:
    """One mode's figures over the whole corpus."""

    mode: str
    wer: float
    dialogue_wer: float
    in_turn: float
    words_outside: int
    worst_turn_recall: float
    loops: int
    wall_s: float
    rtfx: float


def _channels(call: RealCall) -> list[tuple[int, str, Any]]:
    from faster_whisper import decode_audio

    audio = decode_audio(str(call.path), split_stereo=call.channels == 2)
    parts = list(audio) if isinstance(audio, tuple) else [audio]
    speakers = ["agent", "customer"]
    return [(c, speakers[c], samples) for c, samples in enumerate(parts)]


def run_sequential(model: Any, calls: list[RealCall], beam: int) -> Transcripts:
    out: Transcripts = {}
    for call in calls:
        out[call.name] = []
        for channel, speaker, samples in _channels(call):
            segments, _ = model.transcribe(samples, beam_size=beam, language="en")
            out[call.name] += from_faster_whisper(segments, channel, speaker)
    return out


def run_batched(model: Any, calls: list[RealCall], beam: int, batch: int) -> Transcripts:
    from faster_whisper import BatchedInferencePipeline

    pipeline = BatchedInferencePipeline(model)
    out: Transcripts = {}
    for call in calls:
        out[call.name] = []
        for channel, speaker, samples in _channels(call):
            segments, _ = pipeline.transcribe(
                samples, beam_size=beam, language="en", batch_size=batch
            )
            out[call.name] += from_faster_whisper(segments, channel, speaker)
    return out


def run_callscribe(settings: Settings, folder: Path, calls: list[RealCall]) -> Transcripts:
    unload_engines()  # load and warm up on the clock
    summary = transcribe_source(settings, str(folder))
    if summary.failed:
        raise RuntimeError(f"callscribe failed: {summary.failed[0].reason}")
    return stored_segments(settings.database_url, calls)


def score(
    mode: str, calls: list[RealCall], found: Transcripts, wall: float, audio_s: float
) -> ModeScore:
    pairs = [p for call in calls for p in channel_pairs(call, found[call.name])]
    dialogue = [dialogue_wer(call, found[call.name]) for call in calls]
    weights = [len(call.reference().split()) for call in calls]
    segments = sum(len(found[c.name]) for c in calls)
    inside = sum(segments_in_turn(c, found[c.name]) * len(found[c.name]) for c in calls)
    recalls = [r for c in calls for _t, r in turn_recall(c, found[c.name])]
    return ModeScore(
        mode,
        round(corpus_wer(pairs), 4),
        round(sum(d * w for d, w in zip(dialogue, weights, strict=True)) / sum(weights), 4),
        round(inside / segments, 4) if segments else 0.0,
        sum(words_outside_speech(c, found[c.name]) for c in calls),
        round(min(recalls), 3) if recalls else 0.0,
        sum(len(repetition_loops(found[c.name], said=c.reference())) for c in calls),
        round(wall, 2),
        round(audio_s / wall, 2),
    )


def timed(body: Callable[[], Transcripts]) -> tuple[Transcripts, float]:
    began = time.perf_counter()
    found = body()
    return found, time.perf_counter() - began


def markdown(meta: dict[str, Any], scores: list[ModeScore], ratios: dict[str, float]) -> str:
    rows = [
        "| mode | WER | dialogue WER | segments in one turn | words in hold/silence | "
        "worst turn recall | loops | wall s | RTFx |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    names = {
        "a": "a `WhisperModel.transcribe`",
        "b": "b `BatchedInferencePipeline`",
        "c": "c callscribe",
        "bt": "bt: b with c's malloc settings",
    }
    rows += [
        f"| {names[s.mode]} | {s.wer:.1%} | {s.dialogue_wer:.1%} | {s.in_turn:.1%} | "
        f"{s.words_outside} | {s.worst_turn_recall:.2f} | {s.loops} | {s.wall_s} | "
        f"{s.rtfx} |"
        for s in scores
    ]
    head = (
        f"{meta['calls']} stereo calls, {meta['audio_s']:.0f} s of audio, model "
        f"{meta['model']} {meta['compute_type']} on {meta['cpu_threads']} CPU threads, "
        f"beam {meta['beam_size']}, b's batch {meta['batch_size']}"
    )
    ratio = ", ".join(f"{k} {v}" for k, v in ratios.items())
    return f"{head}\n\n" + "\n".join(rows) + f"\n\nspeed: {ratio}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=8)
    parser.add_argument(
        "--minutes",
        type=float,
        default=None,
        help="length of each call (3.5; with --conditions the matrix's own)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--model",
        default="tiny.en",
        help="tiny.en or base (from their PyPI packages) or a model directory",
    )
    parser.add_argument("--beam-size", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=8, help="b's and c's batch")
    parser.add_argument("--modes", default="a,b,c,bt")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    parser.add_argument(
        "--conditions",
        default=None,
        help="all, or a comma list of callscribe.demo.conditions.CONDITIONS: "
        "score a, b and c per condition (one call per seed)",
    )
    parser.add_argument("--seeds", default="1,2,3", help="with --conditions")
    args = parser.parse_args(argv)
    model_path = real_model_dir(args.model) if not Path(args.model).is_dir() else Path(args.model)
    if args.conditions:
        return run_conditions(args, model_path)
    args.minutes = 3.5 if args.minutes is None else args.minutes
    with tempfile.TemporaryDirectory(prefix="cs-accuracy-") as tmp:
        work = Path(tmp)
        print("making corpus…", flush=True)
        calls = make_real_corpus(work / "calls", args.calls, minutes=args.minutes, seed=args.seed)
        for ref in (work / "calls").glob("*.ref.json"):
            ref.rename(work / ref.name)  # keep the folder to recordings only
        audio_s = sum(c.duration for c in calls)
        settings = Settings(
            database_url=f"sqlite:///{work / 'cs.db'}",
            model={"name": str(model_path), "device": "cpu"},
            decode={"beam_size": args.beam_size, "language": "en"},
            execution={"batch_size": args.batch_size},
            redaction={"mode": "off"},
            storage={"output": str(work / "out")},
        )
        scores = run_modes(args, settings, calls, work, audio_s)
    by_mode = {s.mode: s for s in scores}
    ratios = {
        f"c/{m}": round(by_mode["c"].rtfx / by_mode[m].rtfx, 3)
        for m in ("a", "b", "bt")
        if "c" in by_mode and m in by_mode
    }
    meta = {
        "calls": args.calls,
        "minutes": args.minutes,
        "audio_s": round(audio_s, 1),
        "model": args.model,
        "compute_type": "int8",
        "cpu_threads": cpu_threads(settings.model),
        "beam_size": args.beam_size,
        "batch_size": args.batch_size,
        "seed": args.seed,
    }
    record = {**meta, "scores": [asdict(s) for s in scores], "ratios": ratios}
    write_results(
        args.out, f"accuracy-{Path(args.model).name}", record, markdown(meta, scores, ratios)
    )
    return 0


def base_settings(model_path: Path, args: argparse.Namespace, work: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{work / 'cs.db'}",
        model={"name": str(model_path), "device": "cpu"},
        decode={"beam_size": args.beam_size, "language": "en"},
        execution={"batch_size": args.batch_size},
        redaction={"mode": "off"},
        storage={"output": str(work / "out")},
    )


def run_conditions(args: argparse.Namespace, model_path: Path) -> int:
    """``--conditions``: bench/conditions.py over a, b and c (c last, as in the default)."""
    import conditions

    settings = base_settings(model_path, args, Path(tempfile.gettempdir()))
    model: list[Any] = []

    def whisper() -> Any:
        if not model:
            model.append(faster_whisper_model(settings))
        return model[0]

    runners = {
        "a": lambda _s, _f, calls: run_sequential(whisper(), calls, args.beam_size),
        "b": lambda _s, _f, calls: run_batched(whisper(), calls, args.beam_size, args.batch_size),
        "c": lambda s, folder, calls: run_callscribe(s, folder, calls),
    }
    record = conditions.run(args, settings, runners)
    write_results(
        args.out, f"conditions-{Path(args.model).name}", record, conditions.markdown(record)
    )
    return 0


def faster_whisper_model(settings: Settings) -> Any:
    """faster-whisper's own ``WhisperModel`` for a and b: the same model, int8, threads."""
    from faster_whisper import WhisperModel

    return WhisperModel(
        settings.model.name,
        device="cpu",
        compute_type="int8",
        cpu_threads=cpu_threads(settings.model),
    )


def run_modes(
    args: argparse.Namespace, settings: Settings, calls: list[RealCall], work: Path, audio_s: float
) -> list[ModeScore]:
    modes = args.modes.split(",")
    scores = []
    if {"a", "b"} & set(modes):
        model = faster_whisper_model(settings)
        if "a" in modes:
            found, wall = timed(lambda: run_sequential(model, calls, args.beam_size))
            scores.append(_report(score("a", calls, found, wall, audio_s)))
        if "b" in modes:
            found, wall = timed(lambda: run_batched(model, calls, args.beam_size, args.batch_size))
            scores.append(_report(score("b", calls, found, wall, audio_s)))
        del model
    if "c" in modes:
        found, wall = timed(lambda: run_callscribe(settings, work / "calls", calls))
        scores.append(_report(score("c", calls, found, wall, audio_s)))
    if "bt" in modes:  # b again, in this process whose malloc c's engine has tuned
        tune_allocator()
        model = faster_whisper_model(settings)
        found, wall = timed(lambda: run_batched(model, calls, args.beam_size, args.batch_size))
        scores.append(_report(score("bt", calls, found, wall, audio_s)))
    return scores


def _report(s: ModeScore) -> ModeScore:
    print(
        f"  {s.mode}: WER {s.wer:.1%}  dialogue {s.dialogue_wer:.1%}  in-turn "
        f"{s.in_turn:.1%}  outside {s.words_outside}  worst turn {s.worst_turn_recall}  "
        f"loops {s.loops}  {s.wall_s} s  RTFx {s.rtfx}",
        flush=True,
    )
    return s


if __name__ == "__main__":
    sys.exit(main())
