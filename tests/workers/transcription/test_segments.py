"""Cutting a window's words into segments with true times (structure only; the real model's
words are in ``test_real_speech``), and dual-mono detection on lossy copies."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from callscribe.settings import SegmentSection
from callscribe.workers.audio.decode import decode, is_dual_mono
from callscribe.workers.records import PackedWindow, Word, segment_text
from callscribe.workers.transcription.decoding import Decoded, compression_ratio
from callscribe.workers.transcription.segments import place_words, split_segments

RULE = SegmentSection(pause_s=0.6, max_s=12.0)


def decoded(words: list[tuple[float, float, str]]) -> Decoded:
    items = tuple(Word(a, b, text, 0.9) for a, b, text in words)
    text = "".join(w.word for w in items).strip()
    return Decoded(
        text=text,
        words=items,
        avg_logprob=-0.2,
        no_speech_prob=0.01,
        compression_ratio=compression_ratio(text),
        temperature=0.0,
    )


def test_a_segment_never_spans_left_out_silence() -> None:
    # two pieces: 10–13 s and 40–43 s of the recording, read as one 6-s clip
    window = PackedWindow(((10.0, 13.0), (40.0, 43.0)))
    words = decoded(
        [
            (0.2, 0.6, " Hello"),
            (0.6, 1.0, " there."),
            (1.1, 1.5, " How"),
            (1.5, 2.9, " are"),
            (3.2, 3.6, " Fine,"),
            (3.6, 4.0, " thanks."),
        ]
    )
    segments = split_segments(window, words, RULE)
    assert [segment_text(s) for s in segments] == ["Hello there. How are", "Fine, thanks."]
    first, second = segments
    assert first[0].start == pytest.approx(10.2) and first[-1].end <= 13.0
    assert second[0].start == pytest.approx(43.2 - 3.0) and second[-1].end == pytest.approx(41.0)


def test_a_word_on_a_seam_goes_to_the_piece_holding_its_middle() -> None:
    window = PackedWindow(((5.0, 7.0), (20.0, 22.0)))
    placed = place_words(window, decoded([(1.5, 2.1, " seam"), (1.9, 2.7, " next")]).words)
    assert [p.piece for p in placed] == [0, 1]
    assert placed[0].word.end == pytest.approx(7.0)  # clamped to its piece
    assert placed[1].word.start == pytest.approx(20.0)


def test_pauses_and_long_segments_end_segments() -> None:
    window = PackedWindow(((0.0, 30.0),))
    words = [(0.0, 0.4, " One."), (1.2, 1.5, " Two")]  # 0.8-s pause
    t = 2.0
    for i in range(30):  # 15 s of continuous speech with a clause end every 5 words
        words.append((t, t + 0.45, f" w{i}{',' if i % 5 == 4 else ''}"))
        t += 0.5
    segments = split_segments(window, decoded(words), RULE)
    assert segment_text(segments[0]) == "One."
    assert all(s[-1].end - s[0].start <= RULE.max_s + 3 for s in segments)
    assert len(segments) >= 3
    assert [w.word for s in segments for w in s] == [w[2] for w in words]


def test_a_word_stretched_over_a_pause_is_trimmed() -> None:
    window = PackedWindow(((0.0, 20.0),))
    words = decoded([(0.0, 0.3, " a"), (0.3, 0.6, " b."), (0.6, 4.0, " c"), (4.0, 4.3, " d")]).words
    placed = place_words(window, words)
    assert placed[2].word.end == 4.0 and placed[2].word.end - placed[2].word.start <= 0.61


def test_empty_window_has_no_segments() -> None:
    assert split_segments(PackedWindow(((0.0, 5.0),)), decoded([]), RULE) == []


def _mono_speech(tmp: Path) -> Path:
    wav = tmp / "s.wav"
    subprocess.run(
        [
            "espeak-ng",
            "-w",
            str(wav),
            "Thank you for calling, how can I help you today? I was charged twice this month.",
        ],
        check=True,
    )
    return wav


def test_dual_mono_survives_a_lossy_codec(tmp_path: Path) -> None:
    """A mono call stored as joint-stereo mp3 with independent line noise per leg (what a
    recorder's two inputs add) is one signal; two different parties are not."""
    wav = _mono_speech(tmp_path)
    mp3 = tmp_path / "dual.mp3"
    noise = "anoisesrc=a=0.003:c=white:d=8"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(wav),
            "-f",
            "lavfi",
            "-i",
            noise,
            "-f",
            "lavfi",
            "-i",
            noise.replace("white", "pink"),
            "-filter_complex",
            "[0][1]amix=inputs=2:normalize=0[l];[0][2]amix=inputs=2:normalize=0[r];"
            "[l][r]join=inputs=2:channel_layout=stereo",
            "-c:a",
            "libmp3lame",
            "-b:a",
            "64k",
            str(mp3),
        ],
        check=True,
    )
    left, right = decode(mp3, 2).channels
    assert not np.array_equal(left, right)
    assert is_dual_mono(left, right)
    # the same voice, shifted by a word, is two signals; and so is speech against silence
    shift = 16000 // 2
    assert not is_dual_mono(left[shift:], left[:-shift])
    assert not is_dual_mono(left, np.zeros_like(left))
    assert is_dual_mono(np.zeros(1600, np.float32), np.zeros(1600, np.float32))
    # one party with a quiet echo of it on the other leg (−20 dB) is a stereo call
    assert not is_dual_mono(left, 0.1 * left + right * 0.01)
