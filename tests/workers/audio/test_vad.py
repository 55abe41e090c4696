"""Decoding, the silence-seeking job cut, VAD and ≤ 30-s windows, on generated audio."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from callscribe.errors import BadAudioError
from callscribe.media.probe import probe
from callscribe.settings import VadSection
from callscribe.workers.audio.decode import (
    CUT_SEARCH_S,
    SAMPLE_RATE,
    cut_point,
    decode,
    is_dual_mono,
)
from callscribe.workers.audio.vad import make_windows, speech_spans
from tests.support.audio import Turn, encode, make_call, place, speak

LINES = [
    "Thank you for calling, how can I help you today?",
    "I was charged twice this month and I would like a refund please.",
    "Let me pull up your account, one moment while I check the details.",
]


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    base = tmp_path_factory.mktemp("clips")
    return [speak(text, base / f"clip{i}.wav") for i, text in enumerate(LINES)]


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) if x.size else 0.0


def test_decode_telephony_stereo_to_16k_per_channel(tmp_path: Path) -> None:
    call = make_call(
        tmp_path / "call.wav",
        [Turn(0, LINES[0]), Turn(1, LINES[1])],
        channels=2,
        sample_rate=8000,
        fmt="wav_mulaw",
    )
    info = probe(str(call.path))
    assert (info.codec, info.channels, info.sample_rate) == ("pcm_mulaw", 2, 8000)
    audio = decode(call.path, 2, codec=info.codec)
    assert len(audio.channels) == 2
    assert audio.channels[0].dtype == np.float32
    assert abs(audio.duration_s - call.duration) < 0.01
    for span in call.speech:
        own = audio.slice(span.channel, span.start, span.end)
        other = audio.slice(1 - span.channel, span.start, span.end)
        assert _rms(own) > 0.02
        assert _rms(other) < 0.002


@pytest.mark.parametrize("fmt", ["mp3", "flac", "ogg_opus", "m4a", "wav_alaw"])
def test_decode_compressed_formats(tmp_path: Path, clips: list[Path], fmt: str) -> None:
    out = encode(clips[0], tmp_path / f"x.{fmt}", fmt)
    info = probe(str(out))
    audio = decode(out, info.channels, codec=info.codec)
    assert abs(audio.duration_s - info.duration_s) < 0.1
    assert _rms(audio.channels[0]) > 0.01


def test_decode_span_is_sample_exact_for_mp3(tmp_path: Path, clips: list[Path]) -> None:
    track = place(tmp_path / "t.wav", 20.0, [(1.0, clips[0]), (9.0, clips[1])])
    mp3 = encode(track, tmp_path / "t.mp3", "mp3")
    a = decode(mp3, 1, 2.0, 10.0, codec="mp3")
    b = decode(mp3, 1, 6.0, 10.0, codec="mp3")
    np.testing.assert_allclose(a.slice(0, 6.0, 12.0), b.slice(0, 6.0, 12.0), atol=1e-4)


def test_decode_garbage_is_a_bad_audio_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_text("this is not audio\n")
    with pytest.raises(BadAudioError):
        decode(bad, 1)


def test_dual_mono_detection() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(0, 0.1, 16000).astype(np.float32)
    assert is_dual_mono(x, x.copy())
    assert not is_dual_mono(x, rng.normal(0, 0.1, 16000).astype(np.float32))


def test_cut_point_lands_in_the_pause_nearest_the_boundary(
    tmp_path: Path, clips: list[Path]
) -> None:
    # speech 20.0–~23.5, pause, speech 25.0–~29; nominal boundary 24.8 falls in the pause
    track = place(tmp_path / "t.wav", 40.0, [(20.0, clips[0]), (25.0, clips[1])])
    audio = decode(track, 1, codec="pcm_s16le")
    end_first = 20.0 + len(decode(clips[0], 1).channels[0]) / SAMPLE_RATE
    boundary = 24.8
    lo = boundary - CUT_SEARCH_S
    cut = cut_point(audio.slice(0, lo, boundary + CUT_SEARCH_S), lo, boundary)
    assert end_first - 0.05 < cut < 25.0


def test_cut_point_moves_out_of_speech(tmp_path: Path, clips: list[Path]) -> None:
    # boundary in the middle of a sentence: the cut moves into silence outside it
    track = place(tmp_path / "t.wav", 60.0, [(28.0, clips[1])])
    audio = decode(track, 1, codec="pcm_s16le")
    clip_len = len(decode(clips[1], 1).channels[0]) / SAMPLE_RATE
    boundary = 28.0 + clip_len / 2
    lo = boundary - CUT_SEARCH_S
    cut = cut_point(audio.slice(0, lo, boundary + CUT_SEARCH_S), lo, boundary)
    assert cut <= 28.0 + 0.05 or cut >= 28.0 + clip_len - 0.05


def test_both_neighbours_compute_the_same_cut(tmp_path: Path, clips: list[Path]) -> None:
    track = place(tmp_path / "t.wav", 60.0, [(26.0, clips[2]), (31.0, clips[0])])
    mp3 = encode(track, tmp_path / "t.mp3", "mp3")
    boundary = 30.0
    left = decode(mp3, 1, 0.0, boundary + CUT_SEARCH_S, codec="mp3")  # job k
    right = decode(mp3, 1, boundary - CUT_SEARCH_S, 30.0, codec="mp3")  # job k+1
    lo, hi = boundary - CUT_SEARCH_S, boundary + CUT_SEARCH_S
    assert cut_point(left.slice(0, lo, hi), lo, boundary) == cut_point(
        right.slice(0, lo, hi), lo, boundary
    )


def test_windows_never_exceed_30s_and_never_split_a_sentence(
    tmp_path: Path, clips: list[Path]
) -> None:
    offsets = [1.0, 6.0, 12.5, 19.0, 25.0, 29.0, 34.0, 41.0, 47.0, 55.0]
    items = [(o, clips[i % 3]) for i, o in enumerate(offsets)]
    track = place(tmp_path / "t.wav", 64.0, items)
    audio = decode(track, 1, codec="pcm_s16le").channels[0]
    config = VadSection()
    windows = make_windows(speech_spans(audio, config), config.window_max_s, config.merge_gap_s)
    assert windows, "speech was found"
    assert all(0 < end - start <= 30.0 for start, end in windows)
    assert all(a[1] <= b[0] for a, b in pairwise(windows))
    lengths = [len(decode(c, 1).channels[0]) / SAMPLE_RATE for c in clips]
    for i, offset in enumerate(offsets):
        start, end = offset + 0.15, offset + lengths[i % 3] - 0.15
        inside = [w for w in windows if w[0] <= start and end <= w[1]]
        assert len(inside) == 1, f"sentence at {offset}s is in exactly one window"


def test_speech_across_30s_lands_in_one_window(tmp_path: Path, clips: list[Path]) -> None:
    track = place(tmp_path / "t.wav", 50.0, [(2.0, clips[0]), (27.5, clips[1])])
    audio = decode(track, 1, codec="pcm_s16le").channels[0]
    config = VadSection()
    windows = make_windows(speech_spans(audio, config), config.window_max_s, config.merge_gap_s)
    length = len(decode(clips[1], 1).channels[0]) / SAMPLE_RATE
    covering = [w for w in windows if w[0] <= 27.6 and 27.5 + length - 0.1 <= w[1]]
    assert len(covering) == 1


def test_silence_and_tone_only_give_no_windows(tmp_path: Path) -> None:
    call = make_call(
        tmp_path / "hold.wav", [Turn(0, seconds=10.0, kind="tone")], channels=1, sample_rate=16000
    )
    audio = decode(call.path, 1, codec="pcm_s16le").channels[0]
    assert speech_spans(np.zeros(16000 * 5, np.float32), VadSection()) == []
    assert sum(e - s for s, e in speech_spans(audio, VadSection())) < 2.0


def test_make_windows_merges_close_spans() -> None:
    spans = [(0.0, 5.0), (6.0, 10.0), (20.0, 28.0), (29.0, 40.0), (45.0, 46.0)]
    assert make_windows(spans, 30.0, 3.0) == [(0.0, 10.0), (20.0, 40.0), (45.0, 46.0)]
    assert make_windows(spans, 30.0, 20.0) == [(0.0, 28.0), (29.0, 46.0)]


def test_long_digital_silence_is_skipped_short_gaps_are_not() -> None:
    from callscribe.workers.audio.vad import sounding_regions

    rate = SAMPLE_RATE
    audio = np.zeros(rate * 20, np.float32)
    audio[rate * 2 : rate * 4] = 0.2  # sound, 1.5 s silence, sound, 2.5 s silence, sound
    audio[int(rate * 5.5) : rate * 6] = 0.2
    audio[int(rate * 8.5) : rate * 10] = 0.2
    regions = [(a / rate, b / rate) for a, b in sounding_regions(audio)]
    # the 1.5-s gap is kept (0.5 s after padding); the 2.5-s gap is skipped (1.5 s padded)
    assert regions == [(1.5, 6.5), (8.0, 10.5)]
    assert sounding_regions(np.zeros(rate * 5, np.float32)) == []


def test_pack_windows_packs_speech_not_silence() -> None:
    import random

    from callscribe.workers.audio.vad import make_windows, pack_windows

    rng = random.Random(5)
    spans, t = [], 0.0
    for _ in range(200):
        t += rng.uniform(0.2, 12.0)
        length = rng.uniform(0.3, 9.0)
        spans.append((round(t, 3), round(t + length, 3)))
        t += length
    config = VadSection(merge_gap_s=1.0)
    packed = pack_windows(spans, config)
    pieces = [p for w in packed for p in w.pieces]
    assert pieces == make_windows(spans, 30.0, 1.0)  # packing reorders and drops nothing
    assert all(0 < w.speech_s <= 30.0 + 1e-6 for w in packed)
    assert all(w.end - w.start >= w.speech_s - 1e-9 for w in packed)
    assert any(w.end - w.start > 30.0 for w in packed)  # silences are left out
    for first, second in pairwise(packed):  # full: the next did not fit
        assert first.speech_s + (second.pieces[0][1] - second.pieces[0][0]) > 30.0
    unpacked = pack_windows(spans, VadSection(merge_gap_s=1.0, packing=False))
    assert [w.pieces for w in unpacked] == [(p,) for p in pieces]
    assert len(packed) < len(unpacked) / 2


def test_packed_window_spans_its_pieces_and_cuts_its_clip() -> None:
    from callscribe.workers.audio.vad import clip_audio
    from callscribe.workers.records import PackedWindow

    w = PackedWindow(((10.0, 12.0), (20.0, 25.0), (40.0, 41.0)))
    assert (w.start, w.end, w.speech_s) == (10.0, 41.0, 8.0)
    samples = np.arange(50 * 16000, dtype=np.float32)
    clip = clip_audio(w, samples)
    assert clip.size == 8 * 16000
    assert clip[0] == 10 * 16000 and clip[2 * 16000] == 20 * 16000
    assert clip[7 * 16000] == 40 * 16000
    shifted = w.shifted(100.0)
    assert shifted.pieces[0] == (110.0, 112.0) and shifted.speech_s == 8.0
    assert np.array_equal(clip_audio(shifted, samples[: 50 * 16000], offset=100.0), clip)
