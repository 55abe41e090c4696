"""One recording, several jobs: each job names the voices it heard on its own, so a later
job's names are matched to the first job's by voice (the mean embeddings each job keeps),
one to one, with the most similar pairing overall."""

from __future__ import annotations

from itertools import permutations

import numpy as np

Centroids = dict[str, list[float]]


def match_voices(reference: Centroids, other: Centroids) -> dict[str, str]:
    """Each name of ``other`` → the name of the same voice in ``reference``; a voice the
    reference does not have (more voices than it) keeps a name of its own."""
    if not reference or not other:
        return {name: name for name in other}
    ref_names, names = list(reference), list(other)
    similarity = np.array([[_cosine(other[n], reference[r]) for r in ref_names] for n in names])
    pairs = _best_pairs(similarity)
    out = {names[r]: ref_names[c] for r, c in pairs}
    taken = set(reference) | set(out.values())
    extra = iter(f"speaker_{i}" for i in range(len(taken) + 1, len(taken) + len(names) + 1))
    for name in names:
        if name not in out:
            out[name] = name if name not in taken else next(extra)
    return out


def _best_pairs(similarity: np.ndarray) -> list[tuple[int, int]]:
    """(row, column) pairs, one to one, with the largest total similarity (exhaustive: a
    call has two voices, a meeting a handful)."""
    rows, cols = similarity.shape
    if rows > cols:
        return [(r, c) for c, r in _best_pairs(similarity.T)]
    best: tuple[float, tuple[int, ...]] | None = None
    for chosen in permutations(range(cols), rows):
        score = float(sum(similarity[r, c] for r, c in enumerate(chosen)))
        if best is None or score > best[0]:
            best = (score, chosen)
    assert best is not None
    return list(enumerate(best[1]))


def _cosine(a: list[float], b: list[float]) -> float:
    x, y = np.asarray(a), np.asarray(b)
    return float(x @ y / max(float(np.linalg.norm(x) * np.linalg.norm(y)), 1e-9))
