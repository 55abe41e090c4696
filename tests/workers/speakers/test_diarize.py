"""Where ``workers.speakers.diarize`` takes its embedding windows from a speech piece."""

from __future__ import annotations

import itertools

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
