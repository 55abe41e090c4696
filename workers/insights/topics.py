"""Topics across the archive, from the calls' topic vectors (``call.CallInsights.embedding``)
and their text: spherical k-means (k-means++ start, seeded) with the number of topics
chosen by the silhouette over a sample, keywords per topic by class-based TF-IDF (as
BERTopic labels its topics), and the topic's most central question. numpy only; 100,000
calls take seconds."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Calls the silhouette is measured on (and k-means for each k is fitted on).
SAMPLE = 4000
#: Lloyd steps on the sample for each k, and on all calls for the chosen k.
STEPS = 30
#: Silhouettes within this of the best count as ties, and the smallest such k wins: a
#: near-tie between k and k+1 means the data do not ask for the extra topic.
TIE = 0.01
KEYWORDS = 6
#: Words that say nothing about a topic (function words, call-centre filler).
STOPWORDS = frozenset(
    """a about above after again against all also am an and any are aren't as at be because
    been before being below between both but by can can't cannot could couldn't did didn't do
    does doesn't doing don't down during each few for from further get got had hadn't has
    hasn't have haven't having he her here hers herself him himself his how i i'd i'll i'm
    i've if in into is isn't it it's its itself just know let like me more most my myself no
    nor not now of off on once only or other ought our ours ourselves out over own please
    really same she should shouldn't so some still such than that that's the their theirs them
    themselves then there there's these they they're this those through to too under until up
    us very want was wasn't we we're were weren't what what's when where which while who whom
    why will with won't would wouldn't yeah yes you you're your yours yourself yourselves hi
    hello okay ok um uh thanks thank sorry need like just one two three four five six seven
    eight nine ten going go said say tell told call calling called help able also well right
    see think make sure since way time day days week weeks month months ago back still
    """.split()
)


@dataclass(frozen=True, kw_only=True)
class Clustering:
    """Which topic each call is in (``labels``), the topics' unit centres, and the
    silhouette the number of topics was chosen by."""

    labels: np.ndarray
    centroids: np.ndarray
    silhouette: float


def _normalise(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-9)


def _plus_plus(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    centres = [int(rng.integers(len(x)))]
    distance = 1.0 - x @ x[centres[0]]
    for _ in range(1, k):
        weights = np.maximum(distance, 0.0) ** 2
        total = float(weights.sum())
        pick = (
            int(rng.choice(len(x), p=weights / total)) if total > 0 else int(rng.integers(len(x)))
        )
        centres.append(pick)
        distance = np.minimum(distance, 1.0 - x @ x[pick])
    return x[centres].copy()


def _assign(x: np.ndarray, centroids: np.ndarray, chunk: int = 20_000) -> np.ndarray:
    out = np.empty(len(x), np.int64)
    for first in range(0, len(x), chunk):
        out[first : first + chunk] = np.argmax(x[first : first + chunk] @ centroids.T, axis=1)
    return out


def kmeans(
    x: np.ndarray, k: int, seed: int = 0, steps: int = STEPS, start: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Spherical k-means of unit rows: ``(labels, unit centroids)``."""
    rng = np.random.default_rng(seed)
    centroids = _plus_plus(x, k, rng) if start is None else start.copy()
    labels = _assign(x, centroids)
    for _ in range(steps):
        sums = np.zeros_like(centroids)
        np.add.at(sums, labels, x)
        empty = ~sums.any(axis=1)
        sums[empty] = x[rng.integers(len(x), size=int(empty.sum()))]
        centroids = _normalise(sums)
        new = _assign(x, centroids)
        if np.array_equal(new, labels):
            break
        labels = new
    return labels, centroids


def silhouette(x: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette with cosine distance (0 for one cluster)."""
    distances = 1.0 - x @ x.T
    clusters = np.unique(labels)
    if len(clusters) < 2:
        return 0.0
    members = [labels == c for c in clusters]
    mean_to = np.stack([distances[:, m].sum(axis=1) for m in members], axis=1)
    sizes = np.array([m.sum() for m in members], np.float64)
    own = np.searchsorted(clusters, labels)
    rows = np.arange(len(x))
    a = mean_to[rows, own] / np.maximum(sizes[own] - 1, 1)
    others = mean_to / sizes
    others[rows, own] = np.inf
    b = others.min(axis=1)
    score = (b - a) / np.maximum(np.maximum(a, b), 1e-12)
    score[sizes[own] == 1] = 0.0
    return float(score.mean())


def cluster(x: np.ndarray, max_topics: int, seed: int = 0) -> Clustering:
    """Topics of the unit rows ``x``: k from 2 to ``max_topics`` (and below the number of
    calls), the one with the best silhouette on a sample (the smallest of near-ties), then
    k-means on every call from the sample's centres."""
    x = _normalise(np.asarray(x, np.float32))
    if len(x) < 3:
        return Clustering(labels=np.zeros(len(x), np.int64), centroids=_normalise(
            x.sum(axis=0, keepdims=True)), silhouette=0.0)  # fmt: skip
    rng = np.random.default_rng(seed)
    sample = x if len(x) <= SAMPLE else x[rng.choice(len(x), SAMPLE, replace=False)]
    tried: list[tuple[float, int, np.ndarray]] = []
    for k in range(2, min(max_topics, len(sample) - 1) + 1):
        labels, centroids = kmeans(sample, k, seed)
        tried.append((silhouette(sample, labels), k, centroids))
    best = max(score for score, _, _ in tried)
    score, k, centroids = min((t for t in tried if t[0] >= best - TIE), key=lambda t: t[1])
    labels, centroids = kmeans(x, k, seed, steps=10, start=centroids)
    return Clustering(labels=labels, centroids=centroids, silhouette=score)


def nearest(vector: np.ndarray, centroids: np.ndarray) -> tuple[int, float]:
    """The closest centre to a unit vector, and its cosine similarity."""
    sims = centroids @ vector
    best = int(np.argmax(sims))
    return best, float(sims[best])


_WORD = re.compile(r"[a-z][a-z']+")


def tokens(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS and len(w) > 2]


def keywords(texts_by_topic: Sequence[Sequence[str]], top: int = KEYWORDS) -> list[list[str]]:
    """Each topic's words by class-based TF-IDF: a topic's texts are one document; a word
    scores its frequency there times ``log(1 + A / f)``, A the mean words per topic and f
    the word's frequency over all topics."""
    counts = [Counter(t for text in texts for t in tokens(text)) for texts in texts_by_topic]
    total: Counter[str] = Counter()
    for c in counts:
        total.update(c)
    average = sum(total.values()) / max(len(counts), 1)
    out = []
    for c in counts:
        size = max(sum(c.values()), 1)
        scored = sorted(((n / size) * np.log1p(average / total[w]), w) for w, n in c.items())
        out.append([w for _, w in reversed(scored[-top:])])
    return out


def label(words: Sequence[str]) -> str:
    """A topic's name: its three best keywords."""
    return " / ".join(words[:3]) if words else "(no words)"
