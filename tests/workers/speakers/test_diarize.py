"""Where ``workers.speakers.diarize`` takes its embedding windows from a speech piece."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from callscribe.workers.speakers.diarize import MIN_WINDOW_S, _spans


@pytest.mark.parametrize("hop", [0.75, 1.5])
@pytest.mark.parametrize("length", [1.6, 2.2, 4.0, 7.3, 30.0])
def test_windows_of_the_size_cover_the_piece_to_its_end(length: float, hop: float) -> None:
    """Every window is ``size`` long, every ``hop``, and the last one ends with the piece
    (it overlaps the one before rather than leave the piece's end out)."""
    spans = _spans(length, 1.5, hop)
    assert spans[0][0] == 0.0 and spans[-1][1] == pytest.approx(length)
    assert all(b - a == pytest.approx(1.5) for a, b in spans)
    starts = [a for a, _ in spans]
    assert all(0 < b - a <= hop + 1e-9 for a, b in itertools.pairwise(starts))


def test_a_short_piece_is_one_window_and_a_shorter_one_none() -> None:
    assert _spans(1.2, 1.5, 1.5) == [(0.0, 1.2)]
    assert _spans(MIN_WINDOW_S - 0.01, 1.5, 1.5) == []


def test_a_window_s_filterbanks_are_those_of_its_own_audio() -> None:
    """The windows take their frames from their piece's filterbanks, computed once: each is
    what the window's own audio would give (to the nearest 10-ms frame), its mean off."""
    from callscribe.demo.voices import render_speech
    from callscribe.settings import DiarizationSection
    from callscribe.workers.records import PackedWindow
    from callscribe.workers.speakers.diarize import embedding_windows
    from callscribe.workers.speakers.model import SAMPLE_RATE, fbank

    clip = render_speech("rms", "Thank you for calling, how can I help you today?")
    length = len(clip) / SAMPLE_RATE
    window = PackedWindow(pieces=((10.0, 10.0 + length),))
    cuts = embedding_windows([(window, clip)], DiarizationSection(window_s=1.0, hop_s=0.75))
    assert len(cuts) >= 3 and cuts[0][0] == 10.0
    assert cuts[-1][1] == pytest.approx(10.0 + length, abs=0.011)
    for start, end, feats in cuts:
        first = round((start - 10.0) * SAMPLE_RATE)
        assert first % 160 == 0 and end - start == pytest.approx(1.0)
        own = fbank(clip[first : first + SAMPLE_RATE])
        assert feats.shape == own.shape and np.allclose(feats, own, atol=1e-4)
