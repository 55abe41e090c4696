"""Topic math: spherical k-means, the silhouette, the number of topics it chooses, and
class-based TF-IDF keywords."""

from __future__ import annotations

import numpy as np

from callscribe.workers.insights.topics import cluster, keywords, kmeans, nearest, silhouette


def _blobs(
    k: int, per: int, spread: float, seed: int, dim: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((k, dim))
    points = np.concatenate([c + spread * rng.standard_normal((per, dim)) for c in centres])
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    return points.astype(np.float32), np.repeat(np.arange(k), per)


def _purity(found: np.ndarray, truth: np.ndarray) -> float:
    return sum(np.bincount(truth[found == c]).max() for c in np.unique(found)) / len(truth)


def test_the_number_of_topics_comes_from_the_data() -> None:
    for seed, k in ((0, 3), (1, 5), (2, 8)):
        x, truth = _blobs(k, 40, 0.35, seed)
        found = cluster(x, max_topics=20, seed=seed)
        assert len(np.unique(found.labels)) == k, (seed, k)
        assert _purity(found.labels, truth) > 0.97
        assert _purity(truth, found.labels) > 0.97


def test_silhouette_is_high_for_separate_groups_and_low_for_noise() -> None:
    x, truth = _blobs(4, 30, 0.2, 3)
    assert silhouette(x, truth) > 0.6
    noise = np.random.default_rng(4).standard_normal((120, 64)).astype(np.float32)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    assert silhouette(noise, np.arange(120) % 4) < 0.05


def test_kmeans_is_repeatable_and_nearest_finds_the_centre() -> None:
    x, _ = _blobs(4, 25, 0.3, 5)
    a, ca = kmeans(x, 4, seed=7)
    b, cb = kmeans(x, 4, seed=7)
    assert np.array_equal(a, b) and np.allclose(ca, cb)
    index, similarity = nearest(ca[2], ca)
    assert index == 2 and similarity > 0.999


def test_keywords_are_what_sets_a_topic_apart() -> None:
    texts = [
        ["my invoice shows a double charge", "why was my card charged twice on the invoice"],
        ["the router light is red and the wifi is down", "my wifi router keeps dropping"],
    ]
    words = keywords(texts, top=3)
    assert set(words[0]) <= {"invoice", "charge", "charged", "card", "double", "twice", "shows"}
    assert "invoice" in words[0]
    assert {"wifi", "router"} <= set(words[1])


def test_a_tiny_archive_is_one_topic() -> None:
    x, _ = _blobs(2, 1, 0.1, 6)
    found = cluster(x, max_topics=10)
    assert found.labels.tolist() == [0, 0]
