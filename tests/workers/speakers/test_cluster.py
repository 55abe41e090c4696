"""Grouping embeddings by voice (``workers.speakers.cluster``) and matching a recording's
voices across its jobs (``workers.speakers.linking``), on synthetic embeddings."""

from __future__ import annotations

import numpy as np
import pytest

from callscribe.workers.speakers.cluster import cluster, count_voices, laplacian_spectrum
from callscribe.workers.speakers.linking import match_voices


def voices(k: int, per: int, spread: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``per`` unit embeddings around each of ``k`` random directions, interleaved as turns
    alternate, and the true voice of each."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((k, 192))
    truth = np.array([i % k for i in range(k * per)])
    points = centres[truth] / np.linalg.norm(centres[truth], axis=1, keepdims=True)
    points = points + rng.standard_normal(points.shape) * spread / np.sqrt(192)
    return points / np.linalg.norm(points, axis=1, keepdims=True), truth


def agreement(found: np.ndarray, truth: np.ndarray) -> float:
    """The share of items whose group is their voice's majority group (purity)."""
    total = 0
    for label in set(found.tolist()):
        total += np.bincount(truth[found == label]).max()
    return total / len(truth)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("k", "asked"), [(2, 2), (3, None), (4, None), (4, 8), (6, None)])
def test_voices_are_counted_and_grouped(k: int, asked: int | None, seed: int) -> None:
    points, truth = voices(k, 20, spread=0.8, seed=seed)
    found = cluster(points, asked, most=8)
    assert len(set(found.tolist())) == k
    assert agreement(found, truth) >= 0.95
    assert found[0] == 0 and list(dict.fromkeys(found.tolist())) == list(range(k))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_one_voice_is_one_voice_even_when_two_are_allowed(seed: int) -> None:
    points, _truth = voices(1, 40, spread=0.8, seed=seed)
    assert set(cluster(points, 2).tolist()) == {0}
    assert set(cluster(points, None).tolist()) == {0}


def test_the_count_comes_from_the_largest_gap() -> None:
    values = np.array([0.0, 0.02, 0.05, 3.0, 3.1, 3.3])
    assert count_voices(values, 1, 5) == 3
    assert count_voices(values, 1, 2) == 2  # bounded: the larger of the two first gaps
    assert count_voices(np.array([0.0, 2.0, 2.5]), 1, 2) == 1
    points, _ = voices(2, 10, 0.5, 0)
    spectrum, _vectors = laplacian_spectrum(points)
    assert spectrum[0] == pytest.approx(0.0, abs=1e-9) and np.all(np.diff(spectrum) >= -1e-9)


def test_too_few_windows_are_one_voice() -> None:
    points, _ = voices(2, 1, 0.5, 0)
    assert cluster(points, 2).tolist() == [0, 0]


def test_later_jobs_take_the_first_jobs_names_by_voice() -> None:
    first = {"agent": [1.0, 0.0, 0.0], "customer": [0.0, 1.0, 0.0]}
    swapped = {"agent": [0.1, 0.9, 0.0], "customer": [0.9, 0.1, 0.0]}
    assert match_voices(first, swapped) == {"agent": "customer", "customer": "agent"}
    assert match_voices(first, {"agent": [0.2, 0.8, 0.1]}) == {"agent": "customer"}
    more = {"speaker_1": [0.0, 0.9, 0.1], "speaker_2": [0.9, 0.1, 0.0], "speaker_3": [0, 0, 1.0]}
    named = match_voices(first, more)
    assert named["speaker_1"] == "customer" and named["speaker_2"] == "agent"
    assert named["speaker_3"] not in ("agent", "customer")
    assert match_voices({}, swapped) == {"agent": "agent", "customer": "customer"}
