"""Speech detection with faster-whisper's bundled Silero VAD, and cutting speech into
windows of at most 30 s at silences."""

from __future__ import annotations

import numpy as np

from callscribe.settings import VadSection

from ..records import PackedWindow
from .decode import SAMPLE_RATE

#: Frame RMS below which audio counts as silence whatever the line's noise (−70 dBFS).
SILENCE_RMS = 3e-4
#: A frame this far above the line's noise floor may be speech (12 dB).
ABOVE_FLOOR = 4.0
#: The noise floor is never taken above this RMS (−35 dBFS): a line that noisy is all
#: handed to the VAD model.
FLOOR_CAP = 0.018 / ABOVE_FLOOR
#: Quiet stretches at least this long are skipped without running the VAD model on them.
SKIP_SILENCE_S = 1.0
_PAD_S = 0.5


def sounding_regions(audio: np.ndarray) -> list[tuple[int, int]]:
    """Sample ranges that are not long stretches of the line's own quiet: digital silence,
    or the steady noise floor of a leg whose party is not talking (the 10th percentile of
    20-ms frame levels). In a stereo call each leg is quiet while the other party talks,
    so this roughly halves the audio the VAD model has to look at. Frames 12 dB above the
    floor and half a second around them are kept."""
    frame = SAMPLE_RATE // 50  # 20 ms
    usable = audio.size - audio.size % frame
    if usable == 0:
        return [(0, audio.size)] if audio.size else []
    frames = audio[:usable].reshape(-1, frame).astype(np.float32)
    rms = np.sqrt(np.mean(frames * frames, axis=1))
    floor = min(float(np.percentile(rms, 10)), FLOOR_CAP)
    loud = rms >= max(SILENCE_RMS, floor * ABOVE_FLOOR)
    pad, min_gap = int(_PAD_S * 50), int(SKIP_SILENCE_S * 50)
    regions: list[tuple[int, int]] = []
    for index in np.flatnonzero(loud).tolist():
        start, end = max(0, index - pad), min(int(loud.size), index + 1 + pad)
        if regions and start - regions[-1][1] < min_gap:
            regions[-1] = (regions[-1][0], end)
        else:
            regions.append((start, end))
    spans = [(a * frame, b * frame) for a, b in regions]
    if spans and loud[-1]:
        spans[-1] = (spans[-1][0], audio.size)
    return spans


def speech_spans(audio: np.ndarray, config: VadSection) -> list[tuple[float, float]]:
    """Silero's speech spans (padded) in seconds relative to ``audio``. Long digital
    silences are skipped; Silero splits speech longer than the window limit at its longest
    inner pause, so no span exceeds ``window_max_s``."""
    spans: list[tuple[float, float]] = []
    for first, last in sounding_regions(audio):
        offset = first / SAMPLE_RATE
        spans += [
            (float(offset + a), float(offset + b))
            for a, b in _silero_spans(audio[first:last], config)
        ]
    return spans


def _silero_spans(audio: np.ndarray, config: VadSection) -> list[tuple[float, float]]:
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    if audio.size < SAMPLE_RATE // 10:
        return []
    options = VadOptions(
        threshold=config.threshold,
        min_silence_duration_ms=config.min_silence_ms,
        speech_pad_ms=config.speech_pad_ms,
        max_speech_duration_s=config.window_max_s,
    )
    spans = []
    for chunk in get_speech_timestamps(audio, options, sampling_rate=SAMPLE_RATE):
        start = max(0, chunk["start"]) / SAMPLE_RATE
        end = min(audio.size, chunk["end"]) / SAMPLE_RATE
        if end > start:
            spans.append((start, min(end, start + config.window_max_s)))
    return spans


#: How much of Silero's padding before a span the talk mask keeps (s).
UNPADDED_LEAD_S = 0.15


def unpadded(spans: list[tuple[float, float]], config: VadSection) -> list[tuple[float, float]]:
    """Speech spans without the padding Silero adds at each end (``speech_pad_ms``): where
    the model heard speech, for measuring talk time. ``UNPADDED_LEAD_S`` of the padding is
    kept before each span (Silero triggers a frame or more after the onset; the loud run's
    own edge is exact). A span too short to lose its padding keeps its middle tenth of a
    second."""
    pad = config.speech_pad_ms / 1000
    lead = min(pad, UNPADDED_LEAD_S)
    out = []
    for start, end in spans:
        if end - start > 2 * pad + 0.1:
            out.append((start + pad - lead, end - pad))
        else:
            middle = (start + end) / 2
            out.append((middle - 0.05, middle + 0.05))
    return out


def make_windows(
    spans: list[tuple[float, float]], max_s: float, merge_gap_s: float
) -> list[tuple[float, float]]:
    """Merge neighbouring speech spans into windows no longer than ``max_s``. A window ends
    at a silence between spans; a span is never split here."""
    windows: list[tuple[float, float]] = []
    for start, end in spans:
        if windows:
            w_start, w_end = windows[-1]
            if start - w_end <= merge_gap_s and end - w_start <= max_s:
                windows[-1] = (w_start, end)
                continue
        windows.append((start, min(end, start + max_s)))
    return windows


def clip_audio(window: PackedWindow, samples: np.ndarray, offset: float = 0.0) -> np.ndarray:
    """What the model reads for ``window``: each of its pieces of ``samples`` (which start
    at ``offset`` s), concatenated."""
    parts = [
        samples[round((a - offset) * SAMPLE_RATE) : round((b - offset) * SAMPLE_RATE)]
        for a, b in window.pieces
    ]
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def pack_windows(spans: list[tuple[float, float]], config: VadSection) -> list[PackedWindow]:
    """Cut speech into windows of at most ``window_max_s`` of speech. Spans closer than
    ``merge_gap_s`` become one piece (the short pause stays in); with ``pack`` on, whole
    pieces are then packed in time order into windows until the next would not fit, the way
    faster-whisper's batched pipeline packs speech. Without it each piece is a window."""
    pieces = make_windows(spans, config.window_max_s, config.merge_gap_s)
    if not config.packing:
        return [PackedWindow((piece,)) for piece in pieces]
    windows: list[list[tuple[float, float]]] = []
    speech = 0.0
    for start, end in pieces:
        if windows and speech + (end - start) <= config.window_max_s + 1e-6:
            windows[-1].append((start, end))
            speech += end - start
        else:
            windows.append([(start, end)])
            speech = end - start
    return [PackedWindow(tuple(w)) for w in windows]
